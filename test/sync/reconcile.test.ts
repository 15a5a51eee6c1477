import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconcile, reconcileReport } from '../../src/sync/index.js';
import { world, type World } from './setup.js';

let w: World;
beforeEach(async () => {
  w = await world();
});
afterEach(async () => {
  await w.close();
});

describe('reconciliation', () => {
  it('dry run writes nothing; apply repairs through the policies; a second apply finds nothing to repair', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(w.crm.put({ email: `r${i}@x.io`, name: `n${i}` }).id);
    for (const id of ids.slice(0, 20)) await w.sync.process({ side: 'left', id });
    // Drift: an ESP email edited out of band (email is CRM-authoritative), an ESP name changed without any notification.
    const l0 = await w.store.sync.getLink('contacts', 'left', ids[0]!);
    w.esp.edit(l0!.rightId!, { email: 'oops@x.io' });
    const l1 = await w.store.sync.getLink('contacts', 'left', ids[1]!);
    w.esp.records.get(l1!.rightId!)!.name = 'lost write';
    // A deletion, an unlinked ESP contact, a duplicate, and an ESP contact that exists for an unlinked CRM customer.
    const l2 = await w.store.sync.getLink('contacts', 'left', ids[2]!);
    w.esp.records.delete(l2!.rightId!);
    w.esp.put({ email: 'stranger@x.io' });
    w.esp.put({ email: 'R3@x.io' });
    w.esp.put({ email: `r25@x.io` });
    const before = JSON.stringify([...w.esp.records.values()]);

    const dry = await reconcile(w.sync, { mode: 'dry_run' });
    expect(dry.state).toBe('done');
    expect(JSON.stringify([...w.esp.records.values()])).toBe(before);
    expect(dry.diffsByClass).toEqual({ missing_remote: 10, unlinked_remote: 3, missing_link: 1, field_drift: 2, duplicate: 1 });
    expect(dry.repairs.attempted).toBe(0);
    expect(dry.apiCalls.left).toBeGreaterThan(0);
    expect(await w.sync.escalations.list()).toEqual([]);

    const applied = await reconcile(w.sync, { mode: 'apply' });
    expect(applied.repairs).toMatchObject({ attempted: 12, succeeded: 12, failed: 0 });
    expect(applied.escalationsRaised).toBe(2); // remote_deleted, duplicate
    expect(w.esp.records.get(l0!.rightId!)?.email).toBe('r0@x.io');
    expect(w.crm.records.get(ids[1]!)?.name).toBe('lost write'); // a one-sided change flows (last writer wins)
    expect((await w.sync.conflicts()).some((c) => c.field === 'email' && c.policy === 'crm_authoritative')).toBe(true);
    expect(w.esp.records.has(l2!.rightId!)).toBe(false);

    const second = await reconcile(w.sync, { mode: 'apply' });
    expect(second.repairs.attempted).toBe(0);
    expect(second.diffsByClass).toMatchObject({ missing_remote: 0, missing_link: 0, field_drift: 0 });
    expect(await reconcileReport(w.sync, second.id)).toMatchObject({ state: 'done', id: second.id });
  });

  it('resumes from its last page checkpoint after a crash', async () => {
    for (let i = 0; i < 60; i++) await w.sync.process({ side: 'left', id: w.crm.put({ email: `c${i}@x.io` }).id });
    const conn = w.sync.rt.adapters.right;
    const realGet = conn.get.bind(conn);
    let calls = 0;
    (conn as { get: typeof conn.get }).get = async (id, ctx) => {
      if (++calls === 30) throw new Error('crash');
      return realGet(id, ctx);
    };
    const runId = 'run-1';
    await expect(reconcile(w.sync, { mode: 'apply', runId })).rejects.toThrow('crash');
    const failed = await reconcileReport(w.sync, runId);
    expect(failed).toMatchObject({ state: 'failed', compared: 25 }); // one page checkpointed
    const done = await reconcile(w.sync, { mode: 'apply', runId });
    expect(done).toMatchObject({ state: 'done', compared: 60, inSync: 60 });
  });
});
