import { describe, expect, it } from 'vitest';
import type { NewSyncEscalation } from '../store/sync.js';
import { type ContractContext, message, T0 } from './store-contract-helpers.js';

const escalation = (id: string, extra: Partial<NewSyncEscalation> = {}): NewSyncEscalation => ({
  id,
  sync: 'contacts',
  dedupKey: 'reconsent_required:l1:subscribed',
  linkId: 'k1',
  kind: 'reconsent_required',
  leftId: 'l1',
  rightId: 'r1',
  field: 'subscribed',
  leftValue: true,
  rightValue: false,
  suggestion: false,
  policy: 'sticky',
  createdAt: T0,
  detail: null,
  ...extra,
});

/** Sync links (unique per side, compare-and-set), conflicts, escalations (one open per dedup key). @internal */
export function syncContract(ctx: ContractContext): void {
  describe('sync', () => {
    it('creates a link once per left id and per right id, and finds it from either side', async () => {
      const s = ctx.store.sync;
      const link = await s.createLink({ id: 'k1', sync: 'contacts', leftId: 'l1', rightId: null, state: 'pending_create', now: T0 });
      expect(link).toMatchObject({ id: 'k1', leftId: 'l1', rightId: null, state: 'pending_create', revision: 1, createAttempts: 0, baseline: null });
      expect(await s.createLink({ id: 'k2', sync: 'contacts', leftId: 'l1', rightId: null, state: 'pending_create', now: T0 })).toBeNull();
      expect(await s.createLink({ id: 'k3', sync: 'other', leftId: 'l1', rightId: null, state: 'pending_create', now: T0 })).not.toBeNull();
      const up = await s.updateLink({ id: 'k1', revision: 1, now: T0 + 1, rightId: 'r1', state: 'linked', rightVersion: 3, baseline: { left: { a: 1 }, right: { a: 1 } }, baselineHash: 'h' });
      expect(up).toMatchObject({ rightId: 'r1', state: 'linked', rightVersion: 3, leftVersion: null, revision: 2, baselineHash: 'h', updatedAt: T0 + 1 });
      expect(up?.baseline).toEqual({ left: { a: 1 }, right: { a: 1 } });
      expect((await s.getLink('contacts', 'right', 'r1'))?.id).toBe('k1');
      expect((await s.getLink('contacts', 'left', 'l1'))?.id).toBe('k1');
      expect(await s.getLink('contacts', 'right', 'nope')).toBeNull();
      expect(await s.createLink({ id: 'k4', sync: 'contacts', leftId: 'l9', rightId: 'r1', state: 'linked', now: T0 })).toBeNull();
    });

    it('updates a link only at the expected revision, keeping omitted fields', async () => {
      const s = ctx.store.sync;
      await s.createLink({ id: 'k1', sync: 'contacts', leftId: 'l1', rightId: 'r1', state: 'linked', now: T0 });
      expect(await s.updateLink({ id: 'k1', revision: 1, now: T0, leftVersion: 5, detail: { x: 1 } })).toMatchObject({ leftVersion: 5, rightId: 'r1', revision: 2 });
      expect(await s.updateLink({ id: 'k1', revision: 1, now: T0, leftVersion: 6 })).toBeNull();
      expect(await s.updateLink({ id: 'k1', revision: 2, now: T0, rightId: null, detail: null })).toMatchObject({ leftVersion: 5, rightId: null, detail: null, revision: 3 });
      const page = await s.listLinks('contacts', { limit: 10 });
      expect(page.map((l) => l.id)).toEqual(['k1']);
      expect(await s.listLinks('contacts', { afterId: 'k1' })).toEqual([]);
      expect(await s.listLinks('contacts', { state: 'escalated' })).toEqual([]);
    });

    it('records conflicts once, with both values, the baseline and the final value', async () => {
      const s = ctx.store.sync;
      const c = { id: 'c1', sync: 'contacts', linkId: 'k1', leftId: 'l1', rightId: 'r1', field: 'name', baseline: 'A', leftValue: 'B', rightValue: 'C', detectedAt: T0, resolution: 'resolved_by_policy' as const, policy: 'lww', finalValue: 'C', detail: null };
      await s.addConflict(c);
      await s.addConflict(c);
      await s.addConflict({ ...c, id: 'c2', resolution: 'escalated', finalValue: undefined, detail: { why: 'margin' } });
      const list = await s.listConflicts('contacts');
      expect(list.map((x) => x.id)).toEqual(['c2', 'c1']);
      expect(list[1]).toMatchObject({ baseline: 'A', leftValue: 'B', rightValue: 'C', finalValue: 'C', policy: 'lww' });
      expect(list[0]).toMatchObject({ resolution: 'escalated', detail: { why: 'margin' } });
      expect(await s.listConflicts('contacts', { linkId: 'other' })).toEqual([]);
    });

    it('keeps one open escalation per dedup key; resolving closes it and counts', async () => {
      const s = ctx.store.sync;
      const first = await s.openEscalation(escalation('e1'));
      expect(first.created).toBe(true);
      expect(first.escalation).toMatchObject({ state: 'open', kind: 'reconsent_required', leftValue: true, rightValue: false, suggestion: false });
      const again = await s.openEscalation(escalation('e2'));
      expect(again).toMatchObject({ created: false, escalation: { id: 'e1' } });
      await s.openEscalation(escalation('e3', { dedupKey: 'other', createdAt: T0 + 5 }));
      expect(await s.escalationStats('contacts')).toEqual({ open: 2, oldestCreatedAt: T0 });
      expect(await s.resolveEscalation('e1', { choose: 'left' }, T0 + 9)).toBe(true);
      expect(await s.resolveEscalation('e1', { choose: 'left' }, T0 + 9)).toBe(false);
      expect(await s.getEscalation('e1')).toMatchObject({ state: 'resolved', resolvedAt: T0 + 9, resolution: { choose: 'left' } });
      expect((await s.listEscalations('contacts', { state: 'open' })).map((e) => e.id)).toEqual(['e3']);
      expect((await s.openEscalation(escalation('e4'))).created).toBe(true);
      expect(await s.escalationStats('contacts')).toEqual({ open: 2, oldestCreatedAt: T0 });
    });

    it('names the keys with unfinished queue messages', async () => {
      const s = ctx.store;
      await s.queue.enqueue(undefined, [message('sync.x', 'm1', { key: 'a' }), message('sync.x', 'm2', { key: 'b' }), message('other', 'm3', { key: 'c' })], T0);
      expect((await s.sync.busyKeys('sync.x', ['a', 'b', 'c', 'd'])).toSorted()).toEqual(['a', 'b']);
      expect(await s.sync.busyKeys('sync.x', [])).toEqual([]);
    });
  });
}
