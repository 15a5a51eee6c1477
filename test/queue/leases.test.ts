import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createQueue } from '../../src/queue/index.js';
import { HOST } from '../../src/queue/maintenance.js';
import type { Lease } from '../../src/store/index.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { tempSqlite, waitFor } from './harness.js';

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.toReversed()) await c();
  cleanups = [];
});

/** A view of the store for a worker whose process is frozen: it believes its renewals succeed but writes nothing. */
function frozen(store: SqliteStore, held: () => Lease[]): SqliteStore {
  const queue = Object.create(store.queue) as SqliteStore['queue'];
  queue.renew = async () => held();
  queue.heartbeat = async () => undefined;
  return Object.assign(Object.create(store) as SqliteStore, { queue });
}

async function setup() {
  const { store, cleanup } = await tempSqlite();
  const clock = new FakeClock();
  cleanups.push(cleanup);
  return { store, clock };
}

function track<T extends { stop(o?: { graceMs?: number }): Promise<void> }>(queue: T, clock: FakeClock): T {
  cleanups.push(async () => {
    const stopping = queue.stop({ graceMs: 0 });
    await clock.advance(0);
    await stopping;
  });
  return queue;
}

describe('queue: leases (SQLite, fake clock)', () => {
  it('fences a zombie: after its lease expired and another worker took over, its ack is refused with WEIR_LEASE_LOST', async () => {
    const { store, clock } = await setup();
    let releaseZombie: (() => void) | undefined;
    const zombieHeld: Lease[] = [];
    const zombie = track(createQueue(frozen(store, () => zombieHeld), { clock, workerId: 'zombie', leaseMs: 10_000, heartbeatMs: 1000 }), clock);
    const zombieErrors: unknown[] = [];
    zombie.onError((e) => zombieErrors.push(e.error));
    const effects: string[] = [];
    await zombie.handle('t', async (m) => {
      await new Promise<void>((resolve) => {
        releaseZombie = resolve;
      });
      effects.push(`zombie:${m.id}`);
    });
    const id = await zombie.enqueue('t', null);
    await waitFor(() => store.db.prepare("SELECT count(*) FROM weir_messages WHERE state = 'active'").pluck().get() === 1, clock);
    // The zombie's process is frozen: it believes its lease is renewed, so it will try to ack.
    zombieHeld.push({ id, token: store.db.prepare('SELECT lease_token FROM weir_messages WHERE id = ?').pluck().get(id) as number });

    const other = track(createQueue(store, { clock, workerId: 'other', leaseMs: 10_000, heartbeatMs: 1000 }), clock);
    await other.handle('t', (m) => {
      effects.push(`other:${m.id}`);
    });
    for (let i = 0; i < 12 && effects.length === 0; i++) await clock.advance(1000);
    await waitFor(() => effects.length === 1, clock);
    expect(effects).toEqual([`other:${id}`]);
    releaseZombie?.();
    await waitFor(() => zombieErrors.length > 0, clock);
    expect(zombieErrors[0]).toMatchObject({ code: 'WEIR_LEASE_LOST' });
    const record = await store.queue.get(id);
    expect(record).toMatchObject({ state: 'done', attempts: 2 });
    expect(record!.history.map((r) => [r.outcome, r.workerId])).toEqual([['lease-expired', 'zombie']]);
  });

  it('renews the lease of a long handler, so nobody else takes its message', async () => {
    const { store, clock } = await setup();
    const a = track(createQueue(store, { clock, workerId: 'a', leaseMs: 3000, heartbeatMs: 1000 }), clock);
    const b = track(createQueue(store, { clock, workerId: 'b', leaseMs: 3000, heartbeatMs: 1000 }), clock);
    const calls: string[] = [];
    let finish: (() => void) | undefined;
    await a.handle('long', async () => {
      calls.push('a');
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
    });
    const id = await a.enqueue('long', null);
    await waitFor(() => calls.length === 1, clock);
    await b.handle('long', () => {
      calls.push('b');
    });
    for (let i = 0; i < 10; i++) await clock.advance(1000);
    finish?.();
    await waitFor(async () => (await store.queue.get(id))?.state === 'done', clock);
    expect(calls).toEqual(['a']);
  });

  it("reclaims a dead worker's leases at once when its process is gone, before the lease expires", async () => {
    const { store, clock } = await setup();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout);
    const q = track(createQueue(store, { clock, workerId: 'alive', leaseMs: 60_000 }), clock);
    await q.enqueue('t', 'x');
    await store.queue.heartbeat({ id: 'ghost', host: HOST, pid: deadPid, topics: ['t'], startedAt: clock.now() }, clock.now());
    await store.queue.claim({ topic: 't', limit: 1, workerId: 'ghost', leaseMs: 60_000, now: clock.now() });
    const handled: string[] = [];
    await q.handle('t', (m) => {
      handled.push(m.payload as string);
    });
    await clock.advance(1000);
    await waitFor(() => handled.length === 1, clock);
    expect((await store.queue.workers()).map((w) => w.id)).not.toContain('ghost');
  });

  it('reclaims the leases of a worker whose heartbeat went silent', async () => {
    const { store, clock } = await setup();
    const q = track(createQueue(store, { clock, workerId: 'alive', leaseMs: 60_000, heartbeatMs: 1000, deadWorkerMs: 5000 }), clock);
    await q.enqueue('t', 'x');
    await store.queue.heartbeat({ id: 'remote', host: 'elsewhere', pid: 1, topics: ['t'], startedAt: clock.now() }, clock.now());
    await store.queue.claim({ topic: 't', limit: 1, workerId: 'remote', leaseMs: 60_000, now: clock.now() });
    const handled: string[] = [];
    await q.handle('t', (m) => {
      handled.push(m.payload as string);
    });
    await clock.advance(4000);
    expect(handled).toEqual([]);
    await clock.advance(2000);
    await waitFor(() => handled.length === 1, clock);
  });
});

describe('queue: stop()', () => {
  it('lets running handlers finish within the grace period', async () => {
    const { store, clock } = await setup();
    const q = createQueue(store, { clock });
    let finish: (() => void) | undefined;
    await q.handle('t', () => new Promise<void>((resolve) => (finish = resolve)));
    const id = await q.enqueue('t', null);
    await waitFor(() => q.inFlight === 1, clock);
    const stopped = q.stop({ graceMs: 5000 });
    await clock.advance(1000);
    finish?.();
    await stopped;
    expect((await store.queue.get(id))!.state).toBe('done');
    expect(await store.queue.workers()).toEqual([]);
    expect(() => q.handle('u', () => undefined)).toThrow(expect.objectContaining({ code: 'WEIR_CANCELLED' }));
    expect(await q.enqueue('t', 'still works')).toBeTypeOf('string');
  });

  it('aborts handlers still running after the grace period and releases their messages without counting a delivery', async () => {
    const { store, clock } = await setup();
    const q = createQueue(store, { clock });
    const reasons: unknown[] = [];
    await q.handle('t', (_m, ctx) => new Promise<void>(() => ctx.signal.addEventListener('abort', () => reasons.push(ctx.signal.reason))));
    const id = await q.enqueue('t', null);
    await waitFor(() => q.inFlight === 1, clock);
    const stopped = q.stop({ graceMs: 5000 });
    await clock.advance(5000);
    await stopped;
    expect(reasons).toEqual([expect.objectContaining({ code: 'WEIR_CANCELLED' })]);
    expect(await store.queue.get(id)).toMatchObject({ state: 'ready', attempts: 0 });
    const next = track(createQueue(store, { clock }), clock);
    const handled: string[] = [];
    await next.handle('t', (m) => {
      handled.push(m.id);
    });
    await waitFor(() => handled.length === 1, clock);
    expect(handled).toEqual([id]);
  });
});
