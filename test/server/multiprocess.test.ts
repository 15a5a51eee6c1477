/**
 * Idempotency and rate limiting across several server processes sharing one store: exactly one
 * execution under 100 concurrent first requests (SQLite file, PostgreSQL, Redis), a kill -9 between
 * the commit and the response (replay, not a second execution), and a rate limit shared on Redis.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { parseList } from 'structured-headers';
import { afterAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';
import type { AdapterName } from './targets.js';

const pgUp = await service('postgres', 'multi-process idempotency on PostgreSQL (test/server/multiprocess.test.ts)');
const redisUp = await service('redis', 'multi-process idempotency and rate limits on Redis (test/server/multiprocess.test.ts)');
const script = fileURLToPath(new URL('./fixtures/server-process.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'weir-mp-'));
const schemas: string[] = [];
const redisPrefixes: string[] = [];
const children = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  if (pgUp) await dropSchemas(schemas);
  if (redisUp && redisPrefixes.length > 0) {
    const redis = new Redis({ host: '127.0.0.1', port: 6379 });
    for (const p of redisPrefixes) {
      const keys = (await redis.keys(`${p}*`)) as string[];
      if (keys.length > 0) await redis.del(...keys);
    }
    redis.disconnect();
  }
});

interface Proc {
  port: number;
  child: ChildProcess;
  exited: Promise<NodeJS.Signals | number | null>;
}

async function start(adapter: AdapterName, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ADAPTER: adapter, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  void exited.then(() => children.delete(child));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    void exited.then((why) => reject(new Error(`server exited (${String(why)}) before listening:\n${stderr}`)));
  });
  return { port, child, exited };
}

async function stop(procs: readonly Proc[]): Promise<void> {
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  await Promise.all(procs.map((p) => p.exited));
}

const KEY = '"order-mp-1"';
const post = (port: number, key = KEY) =>
  fetch(`http://127.0.0.1:${port}/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ item: 'book' }) });

async function hundredFirstRequests(procs: readonly Proc[]): Promise<void> {
  const replies = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const res = await post(procs[i % procs.length]!.port);
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), body: await res.text() };
    }),
  );
  const fresh = replies.filter((r) => r.status === 201 && r.replayed === null);
  expect(fresh).toHaveLength(1);
  for (const r of replies) {
    if (r.status === 201) expect(r.body).toBe(fresh[0]!.body);
    else expect(r.status).toBe(409);
  }
  // Once done, every process replays the one response.
  for (const p of procs) {
    const res = await post(p.port);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(await res.text()).toBe(fresh[0]!.body);
  }
}

const ADAPTERS: AdapterName[] = ['fastify', 'express', 'hono'];

describe('100 concurrent first requests across 3 server processes (fastify, express, hono) execute once', () => {
  it('on one SQLite file', async () => {
    const file = join(dir, 'shared.db');
    const setup = await openSqliteStore(file);
    setup.db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)');
    const procs = await Promise.all(ADAPTERS.map((a) => start(a, { STORE: `sqlite:${file}`, DELAY_MS: '300' })));
    try {
      await hundredFirstRequests(procs);
      expect(setup.db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 1 });
      expect(setup.db.prepare('SELECT count(*) AS n FROM weir_messages').get()).toEqual({ n: 1 });
    } finally {
      await stop(procs);
      await setup.close();
    }
  });

  it.skipIf(!pgUp)('on PostgreSQL', async () => {
    const schema = testSchema(import.meta.url, 'hundred');
    schemas.push(schema);
    const url = await postgresUrl();
    const setup = await openPostgresStore({ connectionString: url, schema });
    await setup.pool.query(`CREATE TABLE "${schema}".orders (id serial PRIMARY KEY, item text NOT NULL)`);
    const procs = await Promise.all(ADAPTERS.map((a) => start(a, { STORE: `postgres:${schema}`, PG_URL: url, DELAY_MS: '300' })));
    try {
      await hundredFirstRequests(procs);
      expect((await setup.pool.query(`SELECT count(*)::int AS n FROM "${schema}".orders`)).rows).toEqual([{ n: 1 }]);
      expect((await setup.pool.query(`SELECT count(*)::int AS n FROM "${schema}".messages`)).rows).toEqual([{ n: 1 }]);
    } finally {
      await stop(procs);
      await setup.close();
    }
  });

  it.skipIf(!redisUp)('on Redis', async () => {
    const prefix = `weir-mp:${process.pid}:${Date.now()}:`;
    redisPrefixes.push(prefix);
    const procs = await Promise.all(ADAPTERS.map((a) => start(a, { STORE: `redis:${prefix}`, DELAY_MS: '300' })));
    const redis = new Redis({ host: '127.0.0.1', port: 6379 });
    try {
      await hundredFirstRequests(procs);
      expect(await redis.get(`${prefix}executions`)).toBe('1');
    } finally {
      redis.disconnect();
      await stop(procs);
    }
  });
});

async function crashThenReplay(env: Record<string, string>, count: () => Promise<{ orders: number; messages: number }>): Promise<void> {
  const crashing = await start('fastify', { ...env, CRASH_AFTER_COMMIT: '1' });
  await expect(post(crashing.port, '"crash-1"')).rejects.toThrow();
  expect(await crashing.exited).toBe('SIGKILL');
  expect(await count()).toEqual({ orders: 1, messages: 1 });
  const restarted = await start('express', env);
  try {
    const res = await post(restarted.port, '"crash-1"');
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(await res.json()).toMatchObject({ id: 1, item: 'book', pid: crashing.child.pid });
    expect(await count()).toEqual({ orders: 1, messages: 1 });
  } finally {
    await stop([restarted]);
  }
}

describe('kill -9 between the commit and the response: the retry replays, nothing runs twice', () => {
  it('on SQLite', async () => {
    const file = join(dir, 'crash.db');
    const setup = await openSqliteStore(file);
    setup.db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)');
    const count = async () => ({
      orders: (setup.db.prepare('SELECT count(*) AS n FROM orders').get() as { n: number }).n,
      messages: (setup.db.prepare('SELECT count(*) AS n FROM weir_messages').get() as { n: number }).n,
    });
    try {
      await crashThenReplay({ STORE: `sqlite:${file}` }, count);
    } finally {
      await setup.close();
    }
  });

  it.skipIf(!pgUp)('on PostgreSQL', async () => {
    const schema = testSchema(import.meta.url, 'crash');
    schemas.push(schema);
    const url = await postgresUrl();
    const setup = await openPostgresStore({ connectionString: url, schema });
    await setup.pool.query(`CREATE TABLE "${schema}".orders (id serial PRIMARY KEY, item text NOT NULL)`);
    const count = async () => {
      const rows = (await setup.pool.query(`SELECT (SELECT count(*)::int FROM "${schema}".orders) AS orders, (SELECT count(*)::int FROM "${schema}".messages) AS messages`)).rows;
      return rows[0] as { orders: number; messages: number };
    };
    try {
      await crashThenReplay({ STORE: `postgres:${schema}`, PG_URL: url }, count);
    } finally {
      await setup.close();
    }
  });
});

describe.skipIf(!redisUp)('a rate limit shared by 2 processes on Redis', () => {
  it('admits the quota once in total, with r decreasing across both processes', async () => {
    const prefix = `weir-rl:${process.pid}:${Date.now()}:`;
    redisPrefixes.push(prefix);
    const procs = await Promise.all((['fastify', 'hono'] as const).map((a) => start(a, { STORE: `redis:${prefix}` })));
    try {
      const remaining: number[] = [];
      let denied = 0;
      for (let i = 0; i < 16; i++) {
        const res = await fetch(`http://127.0.0.1:${procs[i % 2]!.port}/limited`, { headers: { 'x-client': 'tenant-a' } });
        const [item] = parseList(res.headers.get('ratelimit')!);
        remaining.push(item![1].get('r') as number);
        if (res.status === 429) {
          denied++;
          expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(item![1].get('t') as number);
        } else expect(res.status).toBe(200);
      }
      expect(remaining.slice(0, 10)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      expect(denied).toBe(6);
      const other = await fetch(`http://127.0.0.1:${procs[1]!.port}/limited`, { headers: { 'x-client': 'tenant-b' } });
      expect(other.status).toBe(200);
    } finally {
      await stop(procs);
    }
  });
});
