import { describe, expect, it } from 'vitest';
import type { AttemptRecord, ClaimedMessage, ErrorRecord, Lease } from '../store/queue.js';
import type { Store } from '../store/types.js';
import { type ContractContext, message, T0, andThen } from './store-contract-helpers.js';

const W = 'worker-a';
const LEASE = 30_000;
const error: ErrorRecord = { name: 'Error', code: 'E_TEST', message: 'boom', classification: 'transient' };

function claim(s: Store, topic: string, limit = 10, now = T0, workerId = W): Promise<readonly ClaimedMessage[]> {
  return s.queue.claim({ topic, limit, workerId, leaseMs: LEASE, now });
}

const ids = (messages: readonly { id: string }[]): string[] => messages.map((m) => m.id);
const lease = (m: ClaimedMessage): Lease => ({ id: m.id, token: m.token });
const record = (m: ClaimedMessage, outcome: AttemptRecord['outcome']): AttemptRecord => ({
  delivery: m.attempts,
  attempt: 1,
  at: T0,
  durationMs: 5,
  workerId: W,
  outcome,
  error,
});

/** @internal */
export function queueContract(ctx: ContractContext): void {
  describe('queue', () => {
    it('enqueues, skips an id that exists, and round-trips payload and headers', async () => {
      const { store: s } = ctx;
      const payload = { text: 'zürich ✓', n: 1.5, list: [1, null, { deep: true }] };
      const first = await s.queue.enqueue(undefined, [message('t', 'a', { payload, headers: { traceparent: 'x' } })], T0);
      expect(first).toEqual(['a']);
      expect(await s.queue.enqueue(undefined, [message('t', 'a', { payload: 'other' }), message('t', 'b')], T0)).toEqual(['b']);
      const a = await s.queue.get('a');
      expect(a).toMatchObject({ id: 'a', topic: 't', key: null, payload, headers: { traceparent: 'x' }, state: 'ready' });
      expect(a).toMatchObject({ runAt: T0, createdAt: T0, attempts: 0, history: [], error: null, finishedAt: null, replays: 0 });
      expect((await s.queue.get('b'))!.seq).toBeGreaterThan(a!.seq);
      expect(await s.queue.get('missing')).toBeNull();
    });

    it('claims due ready messages oldest first, up to the limit, each once', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, ['m1', 'm2', 'm3', 'm4'].map((id) => message('t', id)), T0);
      await s.queue.enqueue(undefined, [message('t', 'later', { runAt: T0 + 1000 }), message('other', 'o1')], T0);
      const first = await claim(s, 't', 3);
      expect(ids(first)).toEqual(['m1', 'm2', 'm3']);
      expect(first[0]).toMatchObject({ state: 'active', attempts: 1, leaseUntil: T0 + LEASE });
      expect(ids(await claim(s, 't', 10))).toEqual(['m4']);
      expect(await claim(s, 't', 10)).toEqual([]);
      expect(ids(await claim(s, 't', 10, T0 + 1000))).toEqual(['later']);
    });

    it('keeps per-key order: only the head of a key is claimable, other keys run in parallel', async () => {
      const { store: s } = ctx;
      const msgs = [message('t', 'a1', { key: 'a' }), message('t', 'b1', { key: 'b' }), message('t', 'a2', { key: 'a' })];
      await s.queue.enqueue(undefined, [...msgs, message('t', 'a3', { key: 'a' })], T0);
      expect((await s.queue.get('a2'))!.state).toBe('waiting');
      const heads = await claim(s, 't');
      expect(ids(heads)).toEqual(['a1', 'b1']);
      const a1 = heads[0]!;
      const out = await s.queue.settle([{ kind: 'done', lease: lease(a1) }], T0);
      expect(out).toEqual({ ok: [true], promoted: ['t'] });
      expect(ids(await claim(s, 't'))).toEqual(['a2']);
      expect((await s.queue.get('a3'))!.state).toBe('waiting');
    });

    it('hands a freed key to the worker that asks: its next message is leased at once, not made ready', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, ['a1', 'a2', 'a3', 'b1', 'b2', 'c1', 'c2'].map((id) => message('t', id, { key: id[0]! })), T0);
      const heads = await claim(s, 't');
      expect(ids(heads)).toEqual(['a1', 'b1', 'c1']);
      const [a1, b1, c1] = heads as [ClaimedMessage, ClaimedMessage, ClaimedMessage];
      const handoff = { workerId: 'worker-b', leaseUntil: T0 + 5 + LEASE };
      const out = await s.queue.settle(
        [
          { kind: 'done', lease: lease(a1), next: true },
          { kind: 'dead', lease: lease(b1), blockKey: false, error, signature: 'sig', history: [record(b1, 'dead')], next: true },
          { kind: 'done', lease: lease(c1) },
        ],
        T0 + 5,
        handoff,
      );
      expect(out.ok).toEqual([true, true, true]);
      // c was not asked for: its next message is ready for any claimer.
      expect(out.promoted).toEqual(['t']);
      expect(ids((out.claimed ?? []).toSorted((x, y) => x.seq - y.seq))).toEqual(['a2', 'b2']);
      const a2 = out.claimed!.find((m) => m.id === 'a2')!;
      expect(a2).toMatchObject({ state: 'active', attempts: 1, leaseUntil: T0 + 5 + LEASE, key: 'a', payload: { id: 'a2' }, history: [] });
      expect(await s.queue.get('a2')).toMatchObject({ state: 'active', attempts: 1 });
      expect((await s.queue.get('a3'))!.state).toBe('waiting');
      // Only c2 is left for a claim; the handed-off lease is a real one (renewable, settleable, fenced).
      expect(ids(await claim(s, 't'))).toEqual(['c2']);
      expect(ids(await s.queue.renew('worker-b', T0 + 9 + LEASE, T0 + 9))).toEqual(expect.arrayContaining(['a2', 'b2']));
      expect((await s.queue.settle([{ kind: 'done', lease: { id: 'a2', token: a2.token - 1 } }], T0 + 10)).ok).toEqual([false]);
      expect((await s.queue.settle([{ kind: 'done', lease: lease(a2) }], T0 + 10)).ok).toEqual([true]);
      expect((await s.queue.get('a3'))!.state).toBe('ready');
    });

    it('does not hand off a successor that is held, not due yet, or behind a blocked key', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [
        ...['h1', 'h2'].map((id) => message('t', id, { key: 'h' })),
        message('t', 'l1', { key: 'l' }),
        message('t', 'l2', { key: 'l', runAt: T0 + 60_000 }),
        ...['x1', 'x2'].map((id) => message('t', id, { key: 'x' })),
        ...['p1', 'p2'].map((id) => message('paused', id, { key: 'p' })),
      ], T0);
      const [h1, l1, x1] = (await claim(s, 't')) as [ClaimedMessage, ClaimedMessage, ClaimedMessage];
      const [p1] = (await claim(s, 'paused')) as [ClaimedMessage];
      await s.queue.hold({ topic: 't', key: 'h', until: T0 + 1000, reason: 'test' });
      await s.queue.hold({ topic: 'paused', key: null, until: T0 + 1000, reason: 'test' });
      const out = await s.queue.settle(
        [
          { kind: 'done', lease: lease(h1), next: true },
          { kind: 'done', lease: lease(l1), next: true },
          { kind: 'dead', lease: lease(x1), blockKey: true, error, signature: 'sig', history: [], next: true },
          { kind: 'done', lease: lease(p1), next: true },
        ],
        T0,
        { workerId: 'worker-b', leaseUntil: T0 + LEASE },
      );
      expect(out).toMatchObject({ ok: [true, true, true, true], claimed: [] });
      expect(out.promoted.toSorted()).toEqual(['paused', 't']);
      expect((await s.queue.get('h2'))!.state).toBe('ready');
      expect((await s.queue.get('l2'))!.state).toBe('ready');
      expect((await s.queue.get('x2'))!.state).toBe('waiting');
      expect((await s.queue.get('p2'))!.state).toBe('ready');
    });

    it('moves a key on after a dead letter, but not after a blocked one', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, ['1', '2', '3'].map((n) => message('t', `a${n}`, { key: 'a' })), T0);
      const [a1] = await claim(s, 't');
      const dead = { kind: 'dead' as const, error, signature: 'sig', history: [record(a1!, 'dead')] };
      expect(await s.queue.settle([{ ...dead, lease: lease(a1!), blockKey: false }], T0)).toEqual({ ok: [true], promoted: ['t'] });
      const [a2] = await claim(s, 't');
      expect(a2!.id).toBe('a2');
      expect(await s.queue.settle([{ ...dead, lease: lease(a2!), blockKey: true }], T0)).toEqual({ ok: [true], promoted: [] });
      expect(await claim(s, 't')).toEqual([]);
      expect((await s.queue.get('a2'))!.state).toBe('blocked');
      expect((await s.queue.get('a1'))).toMatchObject({ state: 'dead', finishedAt: T0, error });
    });

    it('fences settlements: a stale token is reported lost and changes nothing', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'm')], T0);
      const [first] = await claim(s, 't');
      expect(await s.queue.reclaim({ now: T0 + LEASE + 1, deadWorkers: [] })).toBe(1);
      const [second] = await claim(s, 't', 10, T0 + LEASE + 1, 'worker-b');
      expect(second!.token).not.toBe(first!.token);
      expect(second!.attempts).toBe(2);
      expect(second!.history.map((h) => h.outcome)).toEqual(['lease-expired']);
      const zombie = await s.queue.settle([{ kind: 'done', lease: lease(first!) }], T0 + LEASE + 2);
      expect(zombie.ok).toEqual([false]);
      expect((await s.queue.get('m'))!.state).toBe('active');
      expect((await s.queue.settle([{ kind: 'done', lease: lease(second!) }], T0 + LEASE + 3)).ok).toEqual([true]);
      expect((await s.queue.get('m'))).toMatchObject({ state: 'done', finishedAt: T0 + LEASE + 3 });
      expect((await s.queue.settle([{ kind: 'done', lease: lease(second!) }], T0 + LEASE + 4)).ok).toEqual([false]);
    });

    it('reschedules a retry with its history and error; a refund gives the delivery back', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'm', { key: 'k' }), message('t', 'n', { key: 'k' })], T0);
      const [m] = await claim(s, 't');
      const history = [record(m!, 'retry')];
      const retry = { kind: 'retry' as const, lease: lease(m!), runAt: T0 + 5000, refund: false, error, history };
      expect(await s.queue.settle([retry], T0)).toEqual({ ok: [true], promoted: [] });
      expect(await claim(s, 't', 10, T0 + 4999)).toEqual([]);
      const [again] = await claim(s, 't', 10, T0 + 5000);
      expect(again).toMatchObject({ id: 'm', attempts: 2, history, error });
      await s.queue.settle([{ ...retry, lease: lease(again!), refund: true, error: null }], T0 + 5000);
      expect(await s.queue.get('m')).toMatchObject({ attempts: 1, error: null, state: 'ready' });
      expect((await s.queue.get('n'))!.state).toBe('waiting');
    });

    it('renews only the leases the worker holds', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'm1'), message('t', 'm2'), message('t', 'm3')], T0);
      const mine = await claim(s, 't', 2);
      await claim(s, 't', 1, T0, 'worker-b');
      await s.queue.settle([{ kind: 'done', lease: lease(mine[1]!) }], T0);
      const renewed = await s.queue.renew(W, T0 + 99_000, T0 + 10);
      expect(renewed).toEqual([lease(mine[0]!)]);
      expect(await s.queue.reclaim({ now: T0 + LEASE + 1, deadWorkers: [] })).toBe(1);
      expect((await s.queue.get('m1'))!.state).toBe('active');
      expect((await s.queue.get('m3'))!.state).toBe('ready');
    });

    it('holds a topic or one key until a time; the later hold wins; release removes it', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'a', { key: 'a' }), message('t', 'b', { key: 'b' })], T0);
      await s.queue.hold({ topic: 't', key: null, until: T0 + 1000, reason: '429' });
      await s.queue.hold({ topic: 't', key: null, until: T0 + 500, reason: 'earlier' });
      expect(await claim(s, 't', 10, T0 + 999)).toEqual([]);
      expect(await s.queue.holds(T0)).toEqual([{ topic: 't', key: null, until: T0 + 1000, reason: '429' }]);
      await s.queue.hold({ topic: 't', key: 'a', until: T0 + 2000, reason: 'key' });
      expect(ids(await claim(s, 't', 10, T0 + 1000))).toEqual(['b']);
      expect(await s.queue.releaseHold('t', 'a')).toBe(true);
      expect(await s.queue.releaseHold('t', 'a')).toBe(false);
      expect(ids(await claim(s, 't', 10, T0 + 1000))).toEqual(['a']);
      expect(await s.queue.holds(T0 + 1000)).toEqual([]);
    });

    it('reports the next time something may become claimable', async () => {
      const { store: s } = ctx;
      expect(await s.queue.nextDueAt(['t'], T0)).toBeNull();
      await s.queue.enqueue(undefined, [message('t', 'a', { runAt: T0 + 3000 }), message('u', 'b', { runAt: T0 + 100 })], T0);
      expect(await s.queue.nextDueAt(['t'], T0)).toBe(T0 + 3000);
      expect(await s.queue.nextDueAt(['t', 'u'], T0)).toBe(T0 + 100);
      await s.queue.hold({ topic: 't', key: null, until: T0 + 2000, reason: 'x' });
      expect(await s.queue.nextDueAt(['t'], T0)).toBe(T0 + 2000);
      expect(await s.queue.nextDueAt(['t'], T0 + 3000)).toBeNull();
    });

    it("runs keyed messages of an 'ordering: none' topic in parallel, and releases waiting ones on switching", async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'a1', { key: 'a' }), message('t', 'a2', { key: 'a' })], T0);
      expect((await s.queue.get('a2'))!.state).toBe('waiting');
      await s.queue.registerTopic({ topic: 't', ordering: 'none', policy: { concurrency: 4 }, updatedAt: T0 });
      expect((await s.queue.get('a2'))!.state).toBe('ready');
      await s.queue.enqueue(undefined, [message('t', 'a3', { key: 'a' })], T0);
      expect(ids(await claim(s, 't'))).toEqual(['a1', 'a2', 'a3']);
      expect(await s.queue.topics()).toEqual([{ topic: 't', ordering: 'none', policy: { concurrency: 4 }, updatedAt: T0 }]);
    });

    it("reclaims dead workers' leases before they expire, and removes their rows", async () => {
      const { store: s } = ctx;
      const info = { host: 'h', pid: 1, topics: ['t'], startedAt: T0 };
      await s.queue.heartbeat({ ...info, id: 'dead' }, T0);
      await s.queue.heartbeat({ ...info, id: 'alive', pid: 2 }, T0);
      await s.queue.heartbeat({ ...info, id: 'alive', pid: 2 }, T0 + 5);
      await s.queue.enqueue(undefined, [message('t', 'm1'), message('t', 'm2')], T0);
      await claim(s, 't', 1, T0, 'dead');
      await claim(s, 't', 1, T0, 'alive');
      expect(await s.queue.reclaim({ now: T0 + 10, deadWorkers: ['dead'] })).toBe(1);
      expect((await s.queue.get('m1'))!.state).toBe('ready');
      expect((await s.queue.get('m2'))!.state).toBe('active');
      expect(await s.queue.workers()).toEqual([{ ...info, id: 'alive', pid: 2, heartbeatAt: T0 + 5 }]);
      await s.queue.removeWorker('alive');
      expect(await s.queue.workers()).toEqual([]);
    });

    it('counts messages by state per topic', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'r1'), message('t', 'r2', { runAt: T0 + 10 }), message('t', 'k1', { key: 'k' })], T0);
      await s.queue.enqueue(undefined, [message('t', 'k2', { key: 'k' }), message('u', 'u1', { runAt: T0 - 5 })], T0);
      const [r1] = await claim(s, 't', 1);
      await s.queue.settle([{ kind: 'done', lease: lease(r1!) }], T0);
      const stats = await s.queue.stats(T0);
      expect(stats).toEqual([
        { topic: 't', ready: 1, scheduled: 1, waiting: 1, active: 0, done: 1, dead: 0, blocked: 0, oldestReadyAt: T0 },
        { topic: 'u', ready: 1, scheduled: 0, waiting: 0, active: 0, done: 0, dead: 0, blocked: 0, oldestReadyAt: T0 - 5 },
      ]);
    });

    it('purges done messages and inbox records older than the cut-off', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'old'), message('t', 'new')], T0);
      for (const [i, m] of (await claim(s, 't')).entries()) {
        await s.queue.settle([{ kind: 'done', lease: lease(m) }], T0 + i * 100);
      }
      await s.transaction((tx) => andThen(s.inbox.once(tx, 'c', 'x', T0), () => s.inbox.once(tx, 'c', 'y', T0 + 100)));
      expect(await s.queue.purge({ doneBefore: T0 + 50, inboxBefore: T0 + 50 })).toEqual({ done: 1, inbox: 1 });
      expect(await s.queue.get('old')).toBeNull();
      expect((await s.queue.get('new'))!.state).toBe('done');
      expect(await s.transaction((tx) => s.inbox.once(tx, 'c', 'x', T0))).toBe(true);
      expect(await s.transaction((tx) => s.inbox.once(tx, 'c', 'y', T0))).toBe(false);
    });

    it('repair finds nothing to do in a consistent store', async () => {
      const { store: s } = ctx;
      await s.queue.enqueue(undefined, [message('t', 'a1', { key: 'a' }), message('t', 'a2', { key: 'a' })], T0);
      expect(await s.queue.repair(T0)).toBe(0);
      expect((await s.queue.get('a2'))!.state).toBe('waiting');
    });

    it('never hands out a message twice, nor two messages of one key, to concurrent claimers', async () => {
      const { store: s } = ctx;
      const batch = Array.from({ length: 60 }, (_, i) => message('t', `m${String(i).padStart(2, '0')}`, { key: `k${i % 6}` }));
      await s.queue.enqueue(undefined, batch, T0);
      const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => claim(s, 't', 4, T0, `w${i}`)));
      const all = claims.flat();
      expect(new Set(ids(all)).size).toBe(all.length);
      expect(new Set(all.map((m) => m.key)).size).toBe(all.length);
      expect(all.length).toBe(6);
    });

    it('enqueues inside a caller transaction: committed with it, or rolled back with it', async () => {
      const { store: s } = ctx;
      await s.transaction((tx) => s.queue.enqueue(tx, [message('t', 'in'), message('t', 'in2', { key: 'k' })], T0));
      expect((await s.queue.get('in'))!.state).toBe('ready');
      await expect(
        s.transaction((tx) => andThen(s.queue.enqueue(tx, [message('t', 'out')], T0), () => {
          throw new Error('rollback');
        })),
      ).rejects.toThrow();
      expect(await s.queue.get('out')).toBeNull();
    });

    it('records an inbox entry once; a rolled back record does not count', async () => {
      const { store: s } = ctx;
      await expect(
        s.transaction((tx) => andThen(s.inbox.once(tx, 'consumer', 'm1', T0), (first) => {
          expect(first).toBe(true);
          throw new Error('rollback');
        })),
      ).rejects.toThrow();
      expect(await s.transaction((tx) => s.inbox.once(tx, 'consumer', 'm1', T0))).toBe(true);
      expect(await s.transaction((tx) => s.inbox.once(tx, 'consumer', 'm1', T0))).toBe(false);
      expect(await s.transaction((tx) => s.inbox.once(tx, 'other', 'm1', T0))).toBe(true);
    });

    it('wakes subscribers when a message becomes claimable', async () => {
      const { store: s } = ctx;
      const woken = new Set<string | null>();
      const sub = s.queue.subscribe((topic) => woken.add(topic));
      try {
        for (let i = 0; i < 60 && !woken.has('wake'); i++) {
          await s.queue.enqueue(undefined, [message('wake', `w${i}`)], T0);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(woken.has('wake')).toBe(true);
      } finally {
        sub.dispose();
      }
    });
  });
}
