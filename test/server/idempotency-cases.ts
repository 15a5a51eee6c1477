/**
 * The idempotency conformance cases (IETF Idempotency-Key draft + Stripe's behaviour), as one
 * table run against every adapter target and every store kind.
 */
import { expect } from 'vitest';
import { uuidv7 } from '../../src/internal/ids.js';
import { idempotency, type IdempotencyOptions } from '../../src/server/idempotency.js';
import { memoryIdempotencyStore } from '../../src/server/idempotency-memory.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import type { AppSpec, Client, Reply, Target } from './targets.js';

/** The state one case's app runs against. */
export interface World {
  executions: number;
  release: () => void;
  held: Promise<void>;
  clock: FakeClock;
  /** The SQLite store when the handler commits through `ctx.idempotency.transaction()`. */
  sqlite: SqliteStore | undefined;
  outbox(): number;
}

export type StoreKind = 'sqlite (transaction)' | 'memory';

export async function makeWorld(kind: StoreKind): Promise<World> {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const sqlite = kind === 'memory' ? undefined : await openSqliteStore(':memory:');
  return {
    executions: 0,
    release,
    held,
    clock: new FakeClock(),
    sqlite,
    outbox: () => (sqlite === undefined ? 0 : (sqlite.db.prepare('SELECT count(*) AS n FROM weir_messages').get() as { n: number }).n),
  };
}

/** The orders app: POST/PATCH are protected, GET/DELETE are not; `item` is validated before execution. */
export function ordersApp(world: World, options: Partial<IdempotencyOptions> = {}): AppSpec {
  const store = world.sqlite ?? memoryIdempotencyStore();
  const create = async ({ body, ctx }: { body: unknown; ctx: import('../../src/server/context.js').ServerContext }) => {
    const b = (body ?? {}) as { item?: unknown; fail?: boolean; hold?: boolean };
    if (typeof b.item !== 'string') return { status: 400, json: { error: 'item is required' } };
    if (b.hold === true) await world.held;
    if (b.fail === true) {
      world.executions++;
      throw new Error('the handler failed after it started');
    }
    const sqlite = world.sqlite;
    if (ctx.idempotency !== undefined && sqlite !== undefined) {
      return ctx.idempotency.transaction((tx) => {
        const n = ++world.executions;
        const now = world.clock.now();
        sqlite.queue.enqueue(tx, [{ id: uuidv7(now), topic: 'orders', key: null, payload: { item: b.item }, headers: {}, runAt: now }], now);
        return { status: 201, headers: { location: `/orders/${n}` }, json: { n, item: b.item } };
      });
    }
    const n = ++world.executions;
    return { status: 201, headers: { location: `/orders/${n}` }, json: { n, item: b.item } };
  };
  return {
    middleware: [idempotency({ store, clock: world.clock, ...options })],
    routes: [
      { method: 'POST', path: '/orders', handle: create },
      { method: 'POST', path: '/other', handle: create },
      { method: 'PATCH', path: '/orders/:id', handle: create },
      { method: 'GET', path: '/orders', handle: () => ({ status: 200, json: { n: ++world.executions } }) },
      { method: 'DELETE', path: '/orders/:id', handle: () => ({ status: 200, json: { n: ++world.executions } }) },
    ],
  };
}

export interface Case {
  name: string;
  options?: Partial<IdempotencyOptions>;
  run(client: Client, world: World): Promise<void>;
}

const KEY = { 'idempotency-key': '"order-0001"' };
const post = (client: Client, body: unknown, headers: Record<string, string> = KEY, path = '/orders') =>
  client.request('POST', path, { headers, body });

function expectProblem(res: Reply, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ status, code });
}

function same(a: Reply, b: Reply): void {
  expect(b.status).toBe(a.status);
  expect(b.text).toBe(a.text);
  expect(b.headers.get('content-type')).toBe(a.headers.get('content-type'));
  expect(b.headers.get('location')).toBe(a.headers.get('location'));
}

export const cases: Case[] = [
  {
    name: 'a retry replays the first response identically, with Idempotent-Replayed: true',
    async run(client, world) {
      const first = await post(client, { item: 'book' });
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const again = await post(client, { item: 'book' });
      same(first, again);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(world.executions).toBe(1);
    },
  },
  {
    name: 'concurrent replays after completion are all identical',
    async run(client, world) {
      const first = await post(client, { item: 'book' });
      const replays = await Promise.all(Array.from({ length: 10 }, () => post(client, { item: 'book' })));
      for (const r of replays) {
        same(first, r);
        expect(r.headers.get('idempotent-replayed')).toBe('true');
      }
      expect(world.executions).toBe(1);
    },
  },
  {
    name: 'the same key with another body, path or method is refused with 422',
    async run(client, world) {
      expect((await post(client, { item: 'book' })).status).toBe(201);
      expectProblem(await post(client, { item: 'pen' }), 422, 'WEIR_IDEMPOTENCY_CONFLICT');
      expectProblem(await post(client, { item: 'book' }, KEY, '/other'), 422, 'WEIR_IDEMPOTENCY_CONFLICT');
      expectProblem(await client.request('PATCH', '/orders/1', { headers: KEY, body: { item: 'book' } }), 422, 'WEIR_IDEMPOTENCY_CONFLICT');
      expect(world.executions).toBe(1);
    },
  },
  {
    name: 'a missing key where required is refused with 400, and runs nothing',
    options: { requireKeyFor: ['POST'] },
    async run(client, world) {
      expectProblem(await post(client, { item: 'book' }, {}), 400, 'WEIR_IDEMPOTENCY_KEY_MISSING');
      expect(world.executions).toBe(0);
      // PATCH is protected but the key is optional there.
      expect((await client.request('PATCH', '/orders/1', { body: { item: 'book' } })).status).toBe(201);
    },
  },
  {
    name: 'the same key while the first is in flight gets 409 with Retry-After, then the replay once done',
    async run(client, world) {
      const first = post(client, { item: 'book', hold: true });
      await waitFor(async () => (await post(client, { item: 'book', hold: true })).status === 409);
      const busy = await post(client, { item: 'book', hold: true });
      expectProblem(busy, 409, 'WEIR_IDEMPOTENCY_IN_FLIGHT');
      expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      world.release();
      const done = await first;
      expect(done.status).toBe(201);
      const replay = await post(client, { item: 'book', hold: true });
      same(done, replay);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(world.executions).toBe(1);
    },
  },
  {
    name: '100 parallel first requests with one key execute exactly once',
    async run(client, world) {
      const all = await Promise.all(Array.from({ length: 100 }, () => post(client, { item: 'book' })));
      expect(world.executions).toBe(1);
      const fresh = all.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
      expect(fresh).toHaveLength(1);
      for (const r of all) {
        if (r.status === 201) same(fresh[0]!, r);
        else expectProblem(r, 409, 'WEIR_IDEMPOTENCY_IN_FLIGHT');
      }
    },
  },
  {
    name: 'a validation failure before execution does not burn the key',
    async run(client, world) {
      const invalid = await post(client, { nothing: true });
      expect(invalid.status).toBe(400);
      expect(world.executions).toBe(0);
      const valid = await post(client, { item: 'book' });
      expect(valid.status).toBe(201);
      expect(valid.headers.get('idempotent-replayed')).toBeNull();
      expect(world.executions).toBe(1);
    },
  },
  {
    name: 'a 5xx after execution began is stored and replayed',
    async run(client, world) {
      const failed = await post(client, { item: 'book', fail: true });
      expect(failed.status).toBe(500);
      const again = await post(client, { item: 'book', fail: true });
      expect(again.status).toBe(500);
      expect(again.text).toBe(failed.text);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(world.executions).toBe(1);
    },
  },
  {
    name: 'one client never gets another client’s replay',
    async run(client, world) {
      const a = await post(client, { item: 'book' }, { ...KEY, authorization: 'Bearer client-a' });
      const b = await post(client, { item: 'book' }, { ...KEY, authorization: 'Bearer client-b' });
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.headers.get('idempotent-replayed')).toBeNull();
      expect(a.json().n).not.toBe(b.json().n);
      expect(world.executions).toBe(2);
    },
  },
  {
    name: 'a key expires after the retention period (fake clock) and then executes again',
    options: { retentionMs: 60_000 },
    async run(client, world) {
      await post(client, { item: 'book' });
      await world.clock.advance(59_999);
      expect((await post(client, { item: 'book' })).headers.get('idempotent-replayed')).toBe('true');
      await world.clock.advance(1);
      const fresh = await post(client, { item: 'book' });
      expect(fresh.status).toBe(201);
      expect(fresh.headers.get('idempotent-replayed')).toBeNull();
      expect(world.executions).toBe(2);
    },
  },
  {
    name: 'malformed keys are refused with 400 before anything runs',
    async run(client, world) {
      const bad = ['""', `"${'k'.repeat(256)}"`, 'a b', '"abc";x=1', 'a, b', '"unterminated', 'clé', '"tab\there"'];
      for (const key of bad) {
        const res = await post(client, { item: 'book' }, { 'idempotency-key': key });
        expectProblem(res, 400, 'WEIR_IDEMPOTENCY_KEY_INVALID');
      }
      expect(world.executions).toBe(0);
      // Bare and quoted forms of the same key are one key.
      expect((await post(client, { item: 'book' }, { 'idempotency-key': 'order-0001' })).status).toBe(201);
      expect((await post(client, { item: 'book' })).headers.get('idempotent-replayed')).toBe('true');
    },
  },
  {
    name: 'GET and DELETE are not affected by a key',
    async run(client) {
      const g1 = await client.request('GET', '/orders', { headers: KEY });
      const g2 = await client.request('GET', '/orders', { headers: KEY });
      expect(g1.json().n).toBe(1);
      expect(g2.json().n).toBe(2);
      expect(g2.headers.get('idempotent-replayed')).toBeNull();
      const d1 = await client.request('DELETE', '/orders/1', { headers: KEY });
      const d2 = await client.request('DELETE', '/orders/1', { headers: KEY });
      expect([d1.json().n, d2.json().n]).toEqual([3, 4]);
    },
  },
  {
    name: 'a replay emits no second outbox message',
    async run(client, world) {
      await post(client, { item: 'book' });
      await post(client, { item: 'book' });
      await post(client, { item: 'book' });
      expect(world.executions).toBe(1);
      if (world.sqlite !== undefined) expect(world.outbox()).toBe(1);
    },
  },
];

async function waitFor(check: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('condition not reached');
}

/** Runs one case on a fresh app. */
export async function runCase(target: Target, kind: StoreKind, c: Case): Promise<void> {
  const world = await makeWorld(kind);
  const client = await target.start(ordersApp(world, c.options));
  try {
    await c.run(client, world);
  } finally {
    world.release();
    await client.close();
    await world.sqlite?.close();
  }
}
