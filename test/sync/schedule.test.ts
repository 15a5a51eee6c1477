import { afterEach, describe, expect, it } from 'vitest';
import { reconcileReport, scheduleReconciliation, type ReconciliationSchedule, type SyncAlert } from '../../src/sync/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { world, type World } from './setup.js';

const MIN = 60_000;
let w: World;
let clock: FakeClock;
let s: ReconciliationSchedule | undefined;
afterEach(async () => {
  s?.close();
  s = undefined;
  const stopping = w.queue.stop({ graceMs: 0 });
  await clock.advance(0);
  await stopping;
  await w.close();
});

async function setup(): Promise<string[]> {
  clock = new FakeClock(Date.UTC(2026, 0, 1));
  // A slow backstop poll and maintenance every 10 s of fake time keep the fake-time walk cheap.
  w = await world(undefined, { clock, queue: { pollMs: 600_000, maintenanceMs: 10_000 } });
  const ids = Array.from({ length: 3 }, (_, i) => w.crm.put({ email: `s${i}@x.io`, name: `n${i}` }).id);
  for (const id of ids) await w.sync.process({ side: 'left', id });
  return ids;
}

/** Moves the fake clock to `at` in 10 s steps (queue maintenance fires cron schedules), letting real I/O run in between. */
async function advanceTo(at: number): Promise<void> {
  while (clock.now() < at) {
    await clock.advance(Math.min(10_000, at - clock.now()));
    await new Promise((r) => setImmediate(r));
  }
}

/** Polls in real time, letting the fake clock's due timers fire. */
async function waitFor(check: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await clock.advance(0);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('scheduled reconciliation', () => {
  it('runs at each cron fire time through the queue and records the run and its report', async () => {
    const ids = await setup();
    const start = clock.now();
    const link = await w.store.sync.getLink('contacts', 'left', ids[0]!);
    w.esp.edit(link!.rightId!, { email: 'oops@x.io' });
    s = await scheduleReconciliation(w.sync, { cron: '*/10 * * * *', mode: 'apply', overdueAfterMs: 5 * MIN });
    const alerts: SyncAlert[] = [];
    s.onAlert((a) => alerts.push(a));
    expect(await s.lastRun()).toBeNull();
    expect((await w.queue.schedules()).map((x) => x.name)).toEqual(['weir.sync.contacts.reconcile']);

    await advanceTo(start + 10 * MIN);
    await waitFor(async () => (await s!.lastRun())?.state === 'done');
    const last = await s.lastRun();
    expect(last).toMatchObject({ runId: `scheduled-${start + 10 * MIN}`, dueAt: start + 10 * MIN, state: 'done', startedAt: start + 10 * MIN });
    expect(last!.report).toMatchObject({ state: 'done', mode: 'apply', repairs: { attempted: 1, succeeded: 1, failed: 0 } });
    expect(await reconcileReport(w.sync, last!.runId)).toMatchObject({ state: 'done' });
    expect(w.esp.records.get(link!.rightId!)!.email).toBe('s0@x.io');

    await advanceTo(start + 20 * MIN);
    await waitFor(async () => (await s!.lastRun())?.dueAt === start + 20 * MIN && (await s!.lastRun())?.state === 'done');
    expect((await s.runs()).map((r) => r.runId)).toEqual([`scheduled-${start + 20 * MIN}`, `scheduled-${start + 10 * MIN}`]);
    expect((await s.lastRun())!.report!.repairs.attempted).toBe(0);
    await advanceTo(start + 28 * MIN);
    expect(await s.check()).toEqual([]);
    expect(alerts).toEqual([]);
  });

  it('alerts failed and overdue once each, and resolves both when a later run succeeds', async () => {
    await setup();
    const start = clock.now();
    const ra = w.sync.rt.adapters.right;
    const realGet = ra.get.bind(ra);
    let broken = true;
    let failures = 0;
    (ra as { get: typeof ra.get }).get = async (id, ctx) => {
      if (broken) {
        failures++;
        throw new Error('esp down');
      }
      return realGet(id, ctx);
    };
    s = await scheduleReconciliation(w.sync, { cron: '*/10 * * * *', mode: 'apply', overdueAfterMs: 2 * MIN, checkEveryMs: 30_000 });
    const alerts: SyncAlert[] = [];
    s.onAlert((a) => alerts.push(a));

    await advanceTo(start + 10 * MIN);
    await waitFor(() => alerts.length === 1);
    expect(alerts[0]).toMatchObject({
      name: 'reconciliation_failed', state: 'firing', system: 'contacts', at: start + 10 * MIN,
      detail: { sync: 'contacts', runId: `scheduled-${start + 10 * MIN}`, error: 'esp down', lastSuccess: null },
    });
    // The queue redelivers the failed run at once (same run id), so it may be running again by now.
    expect(await s.lastRun()).toMatchObject({ runId: `scheduled-${start + 10 * MIN}`, state: expect.stringMatching(/^(failed|running)$/) });

    // The queue retries the run (same run id) and it keeps failing: no second alert. At due + 2 min the timer notices overdue.
    await advanceTo(start + 12 * MIN);
    await waitFor(() => alerts.length === 2);
    expect(failures).toBeGreaterThan(1);
    expect(alerts[1]).toMatchObject({ name: 'reconciliation_overdue', state: 'firing', at: start + 12 * MIN, detail: { dueAt: start + 10 * MIN, overdueAfterMs: 2 * MIN } });
    expect(await s.check()).toEqual([]);

    broken = false;
    await advanceTo(start + 21 * MIN);
    await waitFor(async () => (await s!.lastRun())?.state === 'done' && alerts.length === 4);
    expect(alerts.slice(2).map((a) => [a.name, a.state])).toEqual([
      ['reconciliation_failed', 'resolved'],
      ['reconciliation_overdue', 'resolved'],
    ]);
    await advanceTo(start + 25 * MIN);
    expect(alerts).toHaveLength(4);
  });

  it('validates its options eagerly', async () => {
    await setup();
    await expect(scheduleReconciliation(w.sync, { cron: 'every day', mode: 'apply' })).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'cron' });
    await expect(scheduleReconciliation(w.sync, { cron: '@daily', mode: 'fix' as 'apply' })).rejects.toMatchObject({ option: 'mode' });
    await expect(scheduleReconciliation(w.sync, { cron: '@daily', mode: 'apply', overdueAfterMs: -1 })).rejects.toMatchObject({ option: 'overdueAfterMs' });
  });
});
