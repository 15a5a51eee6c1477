import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '../store/audit.js';
import type { ErrorRecord, ScheduleRecord } from '../store/queue.js';
import type { Store } from '../store/types.js';
import { type ContractContext, message, T0 } from './store-contract-helpers.js';

const error = (code: string): ErrorRecord => ({ name: 'Error', code, message: `failed: ${code}`, classification: 'permanent', stack: 'at x' });

/** Enqueues and dead-letters messages; returns nothing. */
async function deadLetter(s: Store, topic: string, id: string, opts: { key?: string; code?: string; at?: number; block?: boolean } = {}) {
  await s.queue.enqueue(undefined, [message(topic, id, { key: opts.key ?? null })], T0);
  const claimed = await s.queue.claim({ topic, limit: 100, workerId: 'w', leaseMs: 1000, now: T0 });
  const m = claimed.find((c) => c.id === id);
  if (m === undefined) throw new Error(`could not claim ${id}`);
  const at = opts.at ?? T0;
  const history = [{ delivery: 1, attempt: 1, at, durationMs: 1, workerId: 'w', outcome: 'dead' as const, error: error(opts.code ?? 'E1') }];
  const outcome = await s.queue.settle(
    [{ kind: 'dead', lease: { id, token: m.token }, blockKey: opts.block ?? false, error: error(opts.code ?? 'E1'), signature: opts.code ?? 'E1', history }],
    at,
  );
  if (outcome.ok[0] !== true) throw new Error(`could not dead-letter ${id}`);
}

const audit = (n: number, extra: Partial<AuditEntry> = {}): AuditEntry => ({
  ts: T0 + n,
  direction: 'outbound',
  system: 'crm',
  requestId: `req-${n}`,
  method: 'POST',
  path: '/contacts',
  status: 201,
  outcome: 'success',
  attempt: 1,
  durationMs: 12.5,
  correlationId: null,
  idempotencyKey: null,
  detail: { n },
  ...extra,
});

const fiveSecondsLater = (_: ScheduleRecord, after: number): number => after + 5000;

/** @internal */
export function recordsContract(ctx: ContractContext): void {
  describe('dead letters', () => {
    it('lists, counts, filters and groups dead letters by topic and signature', async () => {
      const { store: s } = ctx;
      await deadLetter(s, 't', 'd1', { code: 'E1', at: T0 + 1 });
      await deadLetter(s, 't', 'd2', { code: 'E2', at: T0 + 2 });
      await deadLetter(s, 't', 'd3', { code: 'E1', at: T0 + 3, key: 'k', block: true });
      await deadLetter(s, 'u', 'd4', { code: 'E1', at: T0 + 4 });
      expect((await s.deadLetters.list()).map((d) => d.id)).toEqual(['d4', 'd3', 'd2', 'd1']);
      expect((await s.deadLetters.list({ topic: 't', signature: 'E1' })).map((d) => d.id)).toEqual(['d3', 'd1']);
      expect((await s.deadLetters.list({ since: T0 + 2, until: T0 + 4 })).map((d) => d.id)).toEqual(['d3', 'd2']);
      const page1 = await s.deadLetters.list({ limit: 2 });
      expect((await s.deadLetters.list({ limit: 2, beforeSeq: page1[1]!.seq })).map((d) => d.id)).toEqual(['d2', 'd1']);
      expect(await s.deadLetters.count({ topic: 't' })).toBe(3);
      expect(await s.deadLetters.groups({ topic: 't' })).toEqual([
        { topic: 't', signature: 'E1', count: 2, firstAt: T0 + 1, lastAt: T0 + 3, code: 'E1', message: 'failed: E1' },
        { topic: 't', signature: 'E2', count: 1, firstAt: T0 + 2, lastAt: T0 + 2, code: 'E2', message: 'failed: E2' },
      ]);
      const d3 = await s.deadLetters.get('d3');
      expect(d3).toMatchObject({ id: 'd3', state: 'blocked', key: 'k', signature: 'E1', deadAt: T0 + 3, error: error('E1'), previous: [] });
      expect(d3!.history).toHaveLength(1);
      expect(await s.deadLetters.get('missing')).toBeNull();
    });

    it('replays under the same id with a new history, spaced in time; a keyed one waits for its key', async () => {
      const { store: s } = ctx;
      await deadLetter(s, 't', 'd1');
      await deadLetter(s, 't', 'd2', { key: 'k' });
      await s.queue.enqueue(undefined, [message('t', 'k-next', { key: 'k' })], T0);
      const [busy] = await s.queue.claim({ topic: 't', limit: 1, workerId: 'w', leaseMs: 1000, now: T0 });
      expect(busy!.id).toBe('k-next');
      expect(await s.deadLetters.replay(['d1', 'd2', 'nope'], { now: T0 + 10, spacingMs: 100 })).toEqual(['d1', 'd2']);
      const d1 = await s.queue.get('d1');
      expect(d1).toMatchObject({ state: 'ready', attempts: 0, history: [], runAt: T0 + 10, replays: 1, finishedAt: null });
      expect(await s.queue.get('d2')).toMatchObject({ state: 'waiting', runAt: T0 + 110 });
      await s.queue.settle([{ kind: 'done', lease: { id: busy!.id, token: busy!.token } }], T0 + 20);
      expect((await s.queue.get('d2'))!.state).toBe('ready');
      expect(await s.deadLetters.count()).toBe(0);
      await deadLetter(s, 't', 'again');
      const [claimed] = await s.queue.claim({ topic: 't', limit: 10, workerId: 'w', leaseMs: 1000, now: T0 + 10 });
      expect(claimed!.id).toBe('d1');
      const history = [{ delivery: 1, attempt: 1, at: T0, durationMs: 1, workerId: 'w', outcome: 'dead' as const, error: error('E9') }];
      await s.queue.settle([{ kind: 'dead', lease: { id: 'd1', token: claimed!.token }, blockKey: false, error: error('E9'), signature: 'E9', history }], T0 + 30);
      const twice = await s.deadLetters.get('d1');
      expect(twice!.previous).toEqual([{ deadAt: T0, error: error('E1'), history: [expect.objectContaining({ outcome: 'dead' })] }]);
      expect(twice!.replays).toBe(1);
    });

    it('replays a blocked message as the head of its key, and discarding it moves the key on', async () => {
      const { store: s } = ctx;
      await deadLetter(s, 't', 'b1', { key: 'k', block: true });
      await s.queue.enqueue(undefined, [message('t', 'b2', { key: 'k' }), message('t', 'b3', { key: 'k' })], T0);
      expect((await s.queue.get('b2'))!.state).toBe('waiting');
      expect(await s.deadLetters.replay(['b1'], { now: T0, spacingMs: 0 })).toEqual(['b1']);
      expect((await s.queue.get('b1'))!.state).toBe('ready');
      expect((await s.queue.get('b2'))!.state).toBe('waiting');
      const [again] = await s.queue.claim({ topic: 't', limit: 10, workerId: 'w', leaseMs: 1000, now: T0 });
      expect(again!.id).toBe('b1');
      await s.queue.settle([{ kind: 'dead', lease: { id: 'b1', token: again!.token }, blockKey: true, error: error('E1'), signature: 'E1', history: [] }], T0);
      expect(await s.deadLetters.discard(['b1', 'nope'])).toEqual(['b1']);
      expect(await s.queue.get('b1')).toBeNull();
      expect((await s.queue.get('b2'))!.state).toBe('ready');
      expect((await s.queue.get('b3'))!.state).toBe('waiting');
    });

    it('purges dead letters older than the cut-off but keeps blocked ones', async () => {
      const { store: s } = ctx;
      await deadLetter(s, 't', 'old', { at: T0 });
      await deadLetter(s, 't', 'blocked', { at: T0, key: 'k', block: true });
      await deadLetter(s, 't', 'new', { at: T0 + 100 });
      expect(await s.deadLetters.purge(T0 + 50)).toBe(1);
      expect((await s.deadLetters.list()).map((d) => d.id).toSorted()).toEqual(['blocked', 'new']);
    });
  });

  describe('schedules', () => {
    const schedule: ScheduleRecord = {
      name: 'nightly',
      cron: '0 3 * * *',
      timezone: 'UTC',
      topic: 'reports',
      key: null,
      payload: { kind: 'nightly' },
      headers: {},
      nextRunAt: T0 + 1000,
      lastRunAt: null,
    };

    it('stores, lists, replaces and removes schedules', async () => {
      const { store: s } = ctx;
      await s.schedules.put(schedule);
      await s.schedules.put({ ...schedule, cron: '0 4 * * *' });
      expect(await s.schedules.list()).toEqual([{ ...schedule, cron: '0 4 * * *' }]);
      expect(await s.schedules.remove('nightly')).toBe(true);
      expect(await s.schedules.remove('nightly')).toBe(false);
      expect(await s.schedules.list()).toEqual([]);
    });

    it('fires each due time once, with an id derived from it, and moves to the next time', async () => {
      const { store: s } = ctx;
      await s.schedules.put(schedule);
      expect(await s.schedules.fireDue(T0 + 999, () => 0)).toEqual([]);
      const fired = await Promise.all([s.schedules.fireDue(T0 + 1500, fiveSecondsLater), s.schedules.fireDue(T0 + 1500, fiveSecondsLater)]);
      expect(fired.flat()).toEqual([`cron:nightly:${T0 + 1000}`]);
      expect(await s.queue.get(`cron:nightly:${T0 + 1000}`)).toMatchObject({ topic: 'reports', payload: { kind: 'nightly' }, runAt: T0 + 1500 });
      expect(await s.schedules.list()).toEqual([{ ...schedule, nextRunAt: T0 + 6500, lastRunAt: T0 + 1000 }]);
    });
  });

  describe('idempotency records', () => {
    const begin = { scope: 'client-1', key: 'k1', fingerprint: 'fp', now: T0, lockMs: 1000, ttlMs: 60_000 };

    it('acquires a new key, reports in flight, mismatch and completed, and takes over an expired lock', async () => {
      const { store: s } = ctx;
      expect(await s.idempotency.begin(begin)).toEqual({ status: 'acquired' });
      expect(await s.idempotency.begin({ ...begin, now: T0 + 1 })).toMatchObject({ status: 'in_flight', record: { state: 'in_flight' } });
      expect(await s.idempotency.begin({ ...begin, fingerprint: 'other' })).toMatchObject({ status: 'mismatch' });
      expect(await s.idempotency.begin({ ...begin, scope: 'client-2' })).toEqual({ status: 'acquired' });
      expect(await s.idempotency.begin({ ...begin, now: T0 + 1000 })).toEqual({ status: 'acquired' });
      expect(await s.idempotency.complete('client-1', 'k1', { status: 201, body: 'ok' }, T0 + 10, 60_000)).toBe(true);
      const done = await s.idempotency.begin({ ...begin, now: T0 + 20 });
      expect(done).toEqual({
        status: 'completed',
        record: { scope: 'client-1', key: 'k1', fingerprint: 'fp', state: 'completed', response: { status: 201, body: 'ok' }, lockedUntil: null, createdAt: T0, expiresAt: T0 + 60_010 },
      });
      expect(await s.idempotency.begin({ ...begin, fingerprint: 'new', now: T0 + 60_010 })).toEqual({ status: 'acquired' });
    });

    it('releases an in-flight key, completes only existing records, and purges expired ones', async () => {
      const { store: s } = ctx;
      await s.idempotency.begin(begin);
      await s.idempotency.release('client-1', 'k1');
      expect(await s.idempotency.get('client-1', 'k1')).toBeNull();
      expect(await s.idempotency.complete('client-1', 'k1', {}, T0, 1000)).toBe(false);
      await s.idempotency.begin(begin);
      await s.idempotency.begin({ ...begin, key: 'k2', ttlMs: 10 });
      expect(await s.idempotency.purge(T0 + 10)).toBe(1);
      expect(await s.idempotency.get('client-1', 'k1')).toMatchObject({ state: 'in_flight', lockedUntil: T0 + 1000 });
    });
  });

  describe('audit', () => {
    it('appends with increasing seqs and lists with filters, newest first or tailing', async () => {
      const { store: s } = ctx;
      const seqs = await s.audit.append([audit(1), audit(2, { system: 'esp', correlationId: 'c1' }), audit(3, { direction: 'inbound', status: null })]);
      expect(seqs).toHaveLength(3);
      expect(seqs.toSorted((a, b) => a - b)).toEqual(seqs);
      const all = await s.audit.list();
      expect(all.map((e) => e.requestId)).toEqual(['req-3', 'req-2', 'req-1']);
      expect(all[2]).toEqual({ ...audit(1), seq: seqs[0] });
      expect((await s.audit.list({ afterSeq: seqs[0]! })).map((e) => e.requestId)).toEqual(['req-2', 'req-3']);
      expect((await s.audit.list({ system: 'esp' })).map((e) => e.correlationId)).toEqual(['c1']);
      expect((await s.audit.list({ correlationId: 'c1' })).map((e) => e.requestId)).toEqual(['req-2']);
      expect((await s.audit.list({ direction: 'inbound' }))[0]).toMatchObject({ status: null, requestId: 'req-3' });
      expect((await s.audit.list({ since: T0 + 2, limit: 1, order: 'asc' })).map((e) => e.requestId)).toEqual(['req-2']);
      expect(await s.audit.purge(T0 + 3)).toBe(2);
      expect((await s.audit.list()).map((e) => e.requestId)).toEqual(['req-3']);
    });
  });

  describe('kv', () => {
    it('versions writes, compares and sets, expires, lists by prefix and deletes', async () => {
      const { store: s } = ctx;
      expect(await s.kv.get('sync', 'cursor', T0)).toBeNull();
      expect(await s.kv.set('sync', 'cursor', { at: 1 }, { now: T0, ifVersion: 0 })).toMatchObject({ version: 1, value: { at: 1 } });
      expect(await s.kv.set('sync', 'cursor', { at: 2 }, { now: T0, ifVersion: 0 })).toBeNull();
      expect(await s.kv.set('sync', 'cursor', { at: 2 }, { now: T0 + 1, ifVersion: 1 })).toMatchObject({ version: 2, updatedAt: T0 + 1 });
      expect(await s.kv.set('sync', 'cursor', { at: 3 }, { now: T0, ifVersion: 1 })).toBeNull();
      expect(await s.kv.set('sync', 'cursor', { at: 3 }, { now: T0 })).toMatchObject({ version: 3, value: { at: 3 } });
      expect(await s.kv.get('sync', 'cursor', T0)).toEqual({ namespace: 'sync', key: 'cursor', value: { at: 3 }, version: 3, updatedAt: T0, expiresAt: null });

      await s.kv.set('tokens', 'a', 'x', { now: T0, ttlMs: 100 });
      expect(await s.kv.get('tokens', 'a', T0 + 99)).toMatchObject({ value: 'x' });
      expect(await s.kv.get('tokens', 'a', T0 + 100)).toBeNull();
      expect(await s.kv.set('tokens', 'a', 'y', { now: T0 + 100, ifVersion: 0 })).toMatchObject({ version: 1, value: 'y', expiresAt: null });

      for (const k of ['p:1', 'p:2', 'p:3', 'q:1']) await s.kv.set('list', k, k, { now: T0 });
      expect((await s.kv.list('list', { now: T0, prefix: 'p:' })).map((e) => e.key)).toEqual(['p:1', 'p:2', 'p:3']);
      expect((await s.kv.list('list', { now: T0, afterKey: 'p:2', limit: 1 })).map((e) => e.key)).toEqual(['p:3']);

      expect(await s.kv.delete('sync', 'cursor', { ifVersion: 2 })).toBe(false);
      expect(await s.kv.delete('sync', 'cursor', { ifVersion: 3 })).toBe(true);
      expect(await s.kv.delete('sync', 'cursor')).toBe(false);
      await s.kv.set('tokens', 'b', 'z', { now: T0, ttlMs: 10 });
      expect(await s.kv.purge(T0 + 10)).toBe(1);
    });
  });
}
