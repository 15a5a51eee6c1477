import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../src/sync/index.js';
import { until, world, type World } from './setup.js';

let w: World;
beforeEach(async () => {
  w = await world();
});
afterEach(async () => {
  await w.close();
});

/** A CRM customer synced to the ESP: returns both ids. */
async function linked(fields: { email: string; name?: string }): Promise<{ l: string; r: string }> {
  const c = w.crm.put({ name: 'Ada', ...fields });
  expect(await w.sync.process({ side: 'left', id: c.id })).toBe('created');
  const link = await w.store.sync.getLink('contacts', 'left', c.id);
  return { l: c.id, r: link?.rightId as string };
}

/** Nothing of the sync's topic is left in the queue (at least `done` messages handled). */
async function drained(done: number): Promise<boolean> {
  const s = (await w.store.queue.stats(Date.now())).find((t) => t.topic === w.sync.topic);
  return s !== undefined && s.ready + s.scheduled + s.waiting + s.active + s.blocked === 0 && s.done >= done;
}

/** The ESP PATCHes of one contact that touched its subscription. */
const subscriptionWrites = (id: string): unknown[] => w.esp.writes.filter((x) => x.method === 'PATCH' && x.id === id && x.fields.includes('subscription'));

describe('identity links and creation (R1, R9, R12, R15)', () => {
  it('R1: an active opted-in customer gets exactly one subscribed contact (lower-cased email, name, external_id); its echo and a replay are not propagated', async () => {
    const c = w.crm.put({ email: 'Ada@X.io', name: 'Ada' });
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('created');
    const link = await w.store.sync.getLink('contacts', 'left', c.id);
    expect(link).toMatchObject({ state: 'linked', leftVersion: 1, rightVersion: 1 });
    const e = w.esp.records.get(link?.rightId as string);
    expect(e).toMatchObject({ email: 'ada@x.io', name: 'Ada', external_id: c.id, subscription: 'subscribed', unsubscribe_origin: null });
    expect(await w.sync.process({ side: 'right', id: e!.id, record: e })).toBe('stale');
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('stale');
    expect(w.esp.creates).toBe(1);
    expect(w.esp.records.size).toBe(1);
  });

  it('R15: a create whose response is lost: looks up by external id before re-creating, no duplicate', async () => {
    const c = w.crm.put({ email: 'lost@x.io', name: 'L' });
    w.esp.loseCreateResponses = 2; // the first attempt and its retry (same Idempotency-Key) both lose the answer
    await expect(w.sync.process({ side: 'left', id: c.id })).rejects.toMatchObject({ code: expect.any(String) });
    expect((await w.store.sync.getLink('contacts', 'left', c.id))?.state).toBe('pending_create');
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('adopted');
    expect(w.esp.creates).toBe(1);
    expect([...w.esp.records.values()].filter((r) => r.email === 'lost@x.io')).toHaveLength(1);
    expect((await w.store.sync.getLink('contacts', 'left', c.id))?.state).toBe('linked');
  });

  it('R9: a new customer whose email an unlinked contact holds adopts it (409 "exists", R15) and applies the fields; a contact linked elsewhere escalates identity_collision', async () => {
    const existing = w.esp.put({ email: 'bob@x.io', name: 'Old name' });
    const c = w.crm.put({ email: 'Bob@x.io', name: 'Bob' });
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('adopted');
    expect(w.esp.records.get(existing.id)).toMatchObject({ external_id: c.id, name: 'Bob' });
    const twin = w.crm.put({ email: 'bob@x.io', name: 'Twin' });
    expect(await w.sync.process({ side: 'left', id: twin.id })).toBe('escalated');
    const [esc] = await w.sync.escalations.list({ state: 'open' });
    expect(esc).toMatchObject({ kind: 'identity_collision', leftId: twin.id, field: null });
    expect(w.esp.creates).toBe(0);
  });

  it('R9: adopting a contact its user unsubscribed applies R7: reconsent_required, nobody resubscribed', async () => {
    const existing = w.esp.put({ email: 'back@x.io', name: 'Old' });
    w.esp.unsubscribe(existing.id, 'user');
    const c = w.crm.put({ email: 'back@x.io', name: 'Back' });
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('adopted');
    expect(w.esp.records.get(existing.id)).toMatchObject({ external_id: c.id, name: 'Back', subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(w.crm.records.get(c.id)).toMatchObject({ marketing_opt_in: true, version: 1 });
    expect(await w.sync.escalations.list({ state: 'open' })).toMatchObject([
      { kind: 'reconsent_required', field: 'consent', leftValue: 'subscribed', rightValue: 'unsubscribed:user', policy: 'unsubscribe_wins' },
    ]);
    expect(subscriptionWrites(existing.id)).toEqual([]);
    expect(w.esp.creates).toBe(0);
  });

  it('R12: contacts never linked to a customer are never modified or deleted (webhooks, polling, reconciliation)', async () => {
    const e = w.esp.put({ email: 'solo@x.io', name: 'Solo' });
    const gone = w.esp.put({ email: 'opted-out@x.io', name: 'Out' });
    w.esp.unsubscribe(gone.id, 'api');
    expect(await w.sync.process({ side: 'right', id: e.id })).toBe('ignored');
    const c = w.crm.put({ email: 'no@x.io', marketing_opt_in: false });
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('ignored');
    w.esp.edit(e.id, { name: 'Solo 2' });
    await w.sync.start();
    await w.sync.intake.fromWebhook('right', e.id, 'delivery-solo');
    await w.sync.intake.poll('right');
    await until(() => drained(2));
    await reconcile(w.sync, { mode: 'apply' });
    expect(w.esp.records.get(e.id)).toMatchObject({ version: 2, name: 'Solo 2', external_id: null });
    expect(w.esp.records.get(gone.id)).toMatchObject({ version: 2, external_id: null });
    expect(w.esp.writes).toEqual([]);
    expect(w.esp.records.size).toBe(2);
    expect(await w.store.sync.listLinks('contacts', { state: 'linked' })).toEqual([]);
  });
});

describe('CRM-driven changes (R2, R3)', () => {
  it('R2: a CRM email change updates the same ESP contact, addressed by its id; never creates another', async () => {
    const { l, r } = await linked({ email: 'old@x.io' });
    w.crm.edit(l, { email: 'New@X.io' });
    expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
    expect(w.esp.records.get(r)).toMatchObject({ email: 'new@x.io', external_id: l, version: 2 });
    expect(w.esp.writes.at(-1)).toEqual({ method: 'PATCH', id: r, fields: ['email'] });
    expect(w.esp.creates).toBe(1);
    expect(w.esp.records.size).toBe(1);
    expect((await w.store.sync.getLink('contacts', 'left', l))?.rightId).toBe(r);
  });

  it('R3: a lost customer or an opt-out unsubscribes the ESP contact, which is kept; a lost one stays unsubscribed', async () => {
    const lost = await linked({ email: 'lost@x.io' });
    const out = await linked({ email: 'out@x.io' });
    w.crm.edit(lost.l, { status: 'lost' });
    w.crm.edit(out.l, { marketing_opt_in: false });
    expect(await w.sync.process({ side: 'left', id: lost.l })).toBe('synced');
    expect(await w.sync.process({ side: 'left', id: out.l })).toBe('synced');
    for (const { r } of [lost, out]) expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'api' });
    expect(w.esp.records.size).toBe(2);
    expect(w.crm.records.get(lost.l)).toMatchObject({ status: 'lost', marketing_opt_in: true }); // Weir does not write the CRM's consent
    // The ESP person resubscribes a lost customer's contact: the CRM still says unsubscribed.
    w.esp.edit(lost.r, { subscription: 'subscribed' });
    expect(await w.sync.process({ side: 'right', id: lost.r })).toBe('synced');
    expect(w.esp.records.get(lost.r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'api' });
    expect((await w.sync.conflicts())[0]).toMatchObject({ field: 'consent', leftValue: 'unsubscribed', rightValue: 'subscribed', policy: 'crm_lost_unsubscribes', finalValue: 'unsubscribed' });
  });
});

describe('consent (R4, R7, R8)', () => {
  it('R4: an ESP unsubscribe made by the user sets the CRM marketing_opt_in to false', async () => {
    const { l, r } = await linked({ email: 'u4@x.io' });
    w.esp.unsubscribe(r, 'user');
    expect(await w.sync.process({ side: 'right', id: r })).toBe('synced');
    expect(w.crm.records.get(l)).toMatchObject({ marketing_opt_in: false, updated_by: 'api' });
    expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(await w.sync.conflicts()).toEqual([]);
    expect(await w.sync.process({ side: 'left', id: l })).toBe('stale');
  });

  it('R7: after an ESP user unsubscribe, a CRM opt-in raises reconsent_required and changes neither side; resolving it for the CRM does not resubscribe', async () => {
    const { l, r } = await linked({ email: 'u@x.io' });
    w.esp.unsubscribe(r, 'user');
    expect(await w.sync.process({ side: 'right', id: r })).toBe('synced');
    expect(w.crm.records.get(l)?.marketing_opt_in).toBe(false);
    w.crm.edit(l, { marketing_opt_in: true });
    expect(await w.sync.process({ side: 'left', id: l })).toBe('escalated');
    expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(w.crm.records.get(l)?.marketing_opt_in).toBe(true);
    const [esc] = await w.sync.escalations.list({ state: 'open' });
    expect(esc).toMatchObject({ kind: 'reconsent_required', field: 'consent', leftValue: 'subscribed', rightValue: 'unsubscribed:user', policy: 'unsubscribe_wins', suggestion: 'unsubscribed:user' });
    await w.sync.escalations.resolve(esc!.id, { choose: 'left' });
    expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' }); // never resubscribed
    w.crm.edit(l, { name: 'Later edit' });
    expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
    expect(w.esp.records.get(r)).toMatchObject({ name: 'Later edit', subscription: 'unsubscribed' });
    // Opting out on the CRM again is no re-consent question: both sides say unsubscribed.
    w.crm.edit(l, { marketing_opt_in: false });
    expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
    expect(await w.sync.escalations.list({ state: 'open' })).toEqual([]);
    expect(subscriptionWrites(r)).toEqual([]);
  });

  it.each(['crm', 'esp'] as const)(
    'R8: a CRM opt-in and an ESP user unsubscribe both since the last sync: unsubscribe wins by unsubscribe_wins, recorded; a later opt-in alone raises reconsent_required (%s notified first)',
    async (first) => {
      // Baseline: an active customer who opted out, the contact unsubscribed by Weir (origin api).
      const { l, r } = await linked({ email: 'r8@x.io' });
      w.crm.edit(l, { marketing_opt_in: false });
      expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
      expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'api' });
      expect((await w.store.sync.getLink('contacts', 'left', l))?.baseline).toMatchObject({ left: { consent: 'unsubscribed' }, right: { consent: 'unsubscribed' } });
      // Before Weir syncs: the CRM user opts in; the ESP person unsubscribes themselves.
      const optIn = w.crm.edit(l, { marketing_opt_in: true });
      w.esp.unsubscribe(r, 'user');
      expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user', version: 3 });
      // Both notifications go through the queue (fat CRM event, thin ESP event).
      await w.sync.start();
      const notify = { crm: () => w.sync.intake.fromWebhook('left', optIn), esp: () => w.sync.intake.fromWebhook('right', r, `delivery-r8-${first}`) };
      await notify[first]();
      await notify[first === 'crm' ? 'esp' : 'crm']();
      await until(() => drained(2));
      expect(await w.sync.conflicts()).toMatchObject([
        { field: 'consent', leftId: l, rightId: r, baseline: 'unsubscribed', leftValue: 'subscribed', rightValue: 'unsubscribed:user', resolution: 'resolved_by_policy', policy: 'unsubscribe_wins', finalValue: 'unsubscribed:user' },
      ]);
      expect(w.crm.records.get(l)).toMatchObject({ marketing_opt_in: false, updated_by: 'api' });
      expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user', version: 3 });
      expect(subscriptionWrites(r)).toEqual([{ method: 'PATCH', id: r, fields: ['subscription'] }]); // only the baseline's opt-out
      expect(await w.sync.escalations.list({ state: 'open' })).toEqual([]);
      // Each side's baseline is what it stores: the CRM cannot hold who unsubscribed.
      expect((await w.store.sync.getLink('contacts', 'left', l))?.baseline).toMatchObject({ left: { consent: 'unsubscribed' }, right: { consent: 'unsubscribed:user' } });
      // Later, a CRM opt-in alone: R7.
      const again = w.crm.edit(l, { marketing_opt_in: true });
      await w.sync.intake.fromWebhook('left', again);
      await until(async () => (await w.sync.escalations.list({ state: 'open' })).length > 0);
      expect(await w.sync.escalations.list({ state: 'open' })).toMatchObject([
        { kind: 'reconsent_required', field: 'consent', leftId: l, rightId: r, leftValue: 'subscribed', rightValue: 'unsubscribed:user', policy: 'unsubscribe_wins' },
      ]);
      expect(w.crm.records.get(l)?.marketing_opt_in).toBe(true);
      expect(w.esp.records.get(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user', version: 3 });
      expect(await w.sync.conflicts()).toHaveLength(2); // the escalated field is recorded too
    },
  );

  it('R8: the CRM toggling out and back in while the ESP user unsubscribes: the unsubscribe flows', async () => {
    const { l, r } = await linked({ email: 'race@x.io' });
    w.crm.edit(l, { marketing_opt_in: false }, 'api');
    w.esp.unsubscribe(r, 'user');
    w.crm.edit(l, { marketing_opt_in: true }, 'user');
    // Baseline subscribed on both; the CRM ends subscribed (no net change), the ESP user unsubscribed: it flows.
    expect(await w.sync.process({ side: 'left', id: l })).toBe('no_change');
    expect(await w.sync.process({ side: 'right', id: r })).toBe('synced');
    expect(w.crm.records.get(l)?.marketing_opt_in).toBe(false);
    expect(subscriptionWrites(r)).toEqual([]);
  });
});

describe('field policies and conflicts (R5, R6, R10, R13)', () => {
  it('R13: concurrent edits to different fields on the two sides are merged field by field, without a conflict', async () => {
    const { l, r } = await linked({ email: 'm@x.io' });
    w.crm.edit(l, { name: 'Ada L.' });
    w.esp.unsubscribe(r, 'user');
    expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
    expect(w.esp.records.get(r)).toMatchObject({ name: 'Ada L.', subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(w.crm.records.get(l)).toMatchObject({ name: 'Ada L.', marketing_opt_in: false });
    expect(await w.sync.conflicts()).toEqual([]);
    expect(await w.sync.process({ side: 'right', id: r })).toBe('stale');
  });

  it('R6: an ESP-side email edit is reverted to the CRM value and logged as a conflict resolved by crm_authoritative', async () => {
    const { l, r } = await linked({ email: 'a@x.io' });
    w.esp.edit(r, { email: 'hijack@x.io' });
    expect(await w.sync.process({ side: 'right', id: r })).toBe('synced');
    expect(w.esp.records.get(r)?.email).toBe('a@x.io');
    const [c] = await w.sync.conflicts();
    expect(c).toMatchObject({ field: 'email', baseline: 'a@x.io', leftValue: 'a@x.io', rightValue: 'hijack@x.io', resolution: 'resolved_by_policy', policy: 'crm_authoritative', finalValue: 'a@x.io', leftId: l, rightId: r });
  });

  it('R10: a CRM email change onto an email another contact holds escalates email_collision; no new contact; the field stays frozen', async () => {
    const { l, r } = await linked({ email: 'one@x.io' });
    w.esp.put({ email: 'two@x.io' });
    w.crm.edit(l, { email: 'two@x.io', name: 'Renamed' });
    expect(await w.sync.process({ side: 'left', id: l })).toBe('escalated');
    expect(w.esp.records.get(r)).toMatchObject({ email: 'one@x.io', name: 'Renamed' });
    const [esc] = await w.sync.escalations.list({ state: 'open' });
    expect(esc).toMatchObject({ kind: 'email_collision', field: 'email' });
    w.crm.edit(l, { name: 'Again' });
    expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
    expect(w.esp.records.get(r)).toMatchObject({ email: 'one@x.io', name: 'Again' });
    expect((await w.sync.metrics()).escalationsOpen).toBe(1);
    expect(w.esp.creates).toBe(1);
  });

  it('R5: name is two-way, last writer wins by real edit time; the loser is recorded', async () => {
    const { l, r } = await linked({ email: 'lww@x.io' });
    const t = Date.now();
    w.crm.edit(l, { name: 'From CRM' }, 'user', t - 10_000);
    w.esp.edit(r, { name: 'From ESP' }, 'user', t);
    expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
    expect(w.crm.records.get(l)?.name).toBe('From ESP');
    const [c] = await w.sync.conflicts();
    expect(c).toMatchObject({ field: 'name', baseline: 'Ada', leftValue: 'From CRM', rightValue: 'From ESP', policy: 'last_writer_wins', finalValue: 'From ESP' });
  });

  it('R5: corrects for skewed clocks from Date headers, and escalates inside the margin instead of guessing', async () => {
    w.esp.skewMs = 60_000; // the ESP clock runs a minute fast
    const { l, r } = await linked({ email: 'skew@x.io' });
    const now = Date.now();
    w.crm.edit(l, { name: 'CRM later' }, 'user', now - 5_000 + 0); // real time now-5s (CRM clock is right)
    w.esp.edit(r, { name: 'ESP earlier' }, 'user', now - 20_000 + 60_000); // real now-20s, stamped +60s
    expect(await w.sync.process({ side: 'left', id: l })).toBe('synced');
    expect(w.esp.records.get(r)?.name).toBe('CRM later');
    expect((await w.sync.metrics()).skew.right.offsetMs).toBeGreaterThan(58_000);
    // Inside the margin: no guess.
    const t = Date.now();
    w.crm.edit(l, { name: 'A' }, 'user', t);
    w.esp.edit(r, { name: 'B' }, 'user', t + 60_000 + 300);
    expect(await w.sync.process({ side: 'right', id: r })).toBe('escalated');
    const [esc] = await w.sync.escalations.list({ state: 'open' });
    expect(esc).toMatchObject({ kind: 'other', field: 'name', leftValue: 'A', rightValue: 'B' });
    expect(w.crm.records.get(l)?.name).toBe('A');
    expect(w.esp.records.get(r)?.name).toBe('B');
    const [c] = await w.sync.conflicts();
    expect(c).toMatchObject({ field: 'name', resolution: 'escalated', leftValue: 'A', rightValue: 'B' });
    // A person decides: written conditionally, baseline advanced, unfrozen.
    const done = await w.sync.escalations.resolve(esc!.id, { choose: 'right' });
    expect(done.state).toBe('resolved');
    expect(w.crm.records.get(l)?.name).toBe('B');
    expect((await w.sync.metrics()).escalationsOpen).toBe(0);
  });
});

describe('ordering and intake', () => {
  it('R14: a stale notification never overwrites a newer value, whatever the order', async () => {
    const { l, r } = await linked({ email: 'o@x.io' });
    const v2 = w.crm.edit(l, { name: 'v2' });
    const v3 = w.crm.edit(l, { name: 'v3' });
    expect(await w.sync.process({ side: 'left', id: l, record: v3 })).toBe('synced');
    expect(await w.sync.process({ side: 'left', id: l, record: v2 })).toBe('stale');
    expect(w.esp.records.get(r)?.name).toBe('v3');
  });

  it('R14: webhooks duplicated, dropped and reordered, plus polling, converge through the queue', async () => {
    await w.sync.start({ concurrency: 4 });
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(w.crm.put({ email: `q${i}@x.io`, name: `n${i}` }).id);
    // Webhooks: duplicated (same record twice), reordered (v2 before v1), one dropped (q4).
    for (const id of ids.slice(0, 4)) await w.sync.intake.fromWebhook('left', w.crm.records.get(id));
    await w.sync.intake.fromWebhook('left', w.crm.records.get(ids[0]!));
    await until(async () => (await w.store.sync.listLinks('contacts', { state: 'linked' })).length === 4);
    const v1 = w.crm.records.get(ids[1]!)!;
    const v2 = w.crm.edit(ids[1]!, { name: 'newer' });
    await w.sync.intake.fromWebhook('left', v2);
    await w.sync.intake.fromWebhook('left', v1);
    // Polling is the safety net for the dropped one.
    const report = await w.sync.intake.poll('left');
    expect(report.seen).toBe(5);
    await until(async () => (await w.store.sync.listLinks('contacts', { state: 'linked' })).length === 5);
    const link1 = await w.store.sync.getLink('contacts', 'left', ids[1]!);
    await until(() => w.esp.records.get(link1!.rightId!)?.name === 'newer');
    expect(w.esp.creates).toBe(5);
    // A second poll finds only what it has seen (inclusive lower bound, deduplicated).
    const again = await w.sync.intake.poll('left');
    expect(again.enqueued).toBe(0);
  });

  it('polls 60 records sharing one updated_at across page boundaries, checkpointing every page', async () => {
    const at = Date.now() - 1000;
    for (let i = 0; i < 60; i++) w.crm.put({ email: `same${i}@x.io` }, 'user', at);
    const first = await w.sync.intake.poll('left', { maxPages: 1 });
    expect(first).toMatchObject({ pages: 1, seen: 25, enqueued: 25 });
    const cp = await w.store.kv.get<{ cursor: string | null }>('weir.sync', 'contacts:poll:left', Date.now());
    expect(cp?.value.cursor).not.toBeNull();
    const rest = await w.sync.intake.poll('left');
    expect(rest).toMatchObject({ seen: 35, enqueued: 35 });
    const stats = await w.store.queue.stats(Date.now());
    const total = stats.filter((s) => s.topic === w.sync.topic).reduce((n, s) => n + ((s as { ready?: number }).ready ?? 0) + ((s as { waiting?: number }).waiting ?? 0), 0);
    expect(total).toBe(60);
    // The next round starts at the same updated_at, inclusive: all 60 are seen again, and dedup by message id.
    const again = await w.sync.intake.poll('left');
    expect(again).toMatchObject({ seen: 60 });
    const after = await w.store.queue.stats(Date.now());
    expect(after).toEqual(stats);
  });

  it('R11: a linked contact deleted out of band escalates remote_deleted and is never recreated', async () => {
    const { l, r } = await linked({ email: 'gone@x.io' });
    w.esp.records.delete(r);
    w.crm.edit(l, { name: 'x' });
    expect(await w.sync.process({ side: 'left', id: l })).toBe('escalated');
    expect(await w.sync.process({ side: 'left', id: l })).toBe('frozen');
    expect((await w.sync.escalations.list({ state: 'open' }))[0]).toMatchObject({ kind: 'remote_deleted', field: null });
    expect(w.esp.creates).toBe(1);
  });
});
