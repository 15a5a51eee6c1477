/**
 * Weir's durable queue against pg-boss 10.4, graphile-worker 0.17 and BullMQ 6, in one run, on the
 * same machine, the same PostgreSQL and the same Node: enqueue (single and batched), drain of N
 * messages with a no-op handler (unordered and with per-key ordering), and idle enqueue→handler
 * latency. Rounds interleave the systems (in a rotating order) and medians are reported, so a noisy
 * neighbour slows all alike. Sizes: WEIR_BENCH_QUEUE_N (drain, default 20000), _SINGLE (single
 * enqueues, 1000), _ROUNDS (3), _LATENCY (samples over all rounds, 600: a p99 over 200 is the
 * third-largest sample), _DRAIN_CAP_S (a drain stops after this many seconds, 15; its rate stands);
 * WEIR_BENCH_QUEUE_SYSTEMS (comma-separated name fragments) picks systems; WEIR_BENCH_QUEUE_EXTRA=1
 * adds pg-boss at 10 workers × 10 (context only). A floor row (a bare synced SQLite insert) shows
 * what the disk allows a synced enqueue.
 */
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { postgresUrl } from '../test/helpers/services.js';
import { type Bench, type BenchContext, table } from './harness.js';
import { bullmq, CONCURRENCY, graphile, type Item, type Payload, pgBoss, sqliteFloor, type System, weir, weirSqliteFile } from './queue-systems.js';

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[`WEIR_BENCH_QUEUE_${name}`]);
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : fallback;
};
const N = env('N', 20_000);
const SINGLE = env('SINGLE', 1_000);
const ROUNDS = env('ROUNDS', 3);
const LATENCY = env('LATENCY', 600);
const KEYS = 100;
const BATCH = 100;
/** A drain stops after this long; its rate stands (first to last handled), the rest is reported as left. */
const DRAIN_CAP_MS = env('DRAIN_CAP_S', 15) * 1000;
const LATENCY_TIMEOUT_MS = 5_000;
const LATENCY_WARMUP = 10;

interface Results {
  single: number[];
  batch: number[];
  batchKeyed: number[];
  drain: number[];
  keyed: number[];
  violations: number;
  duplicates: number;
  left: number;
  fromCall: number[];
  fromCommit: number[];
  lost: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves with `p`, or with `fallback` after `ms`; the timer never outlives it (it would keep the process alive). */
async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
const median = (v: readonly number[]): number => {
  if (v.length === 0) return Number.NaN;
  const s = v.toSorted((a, b) => a - b);
  return s.length % 2 === 1 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
/** Nearest-rank percentile. */
const pct = (v: readonly number[], p: number): number => {
  if (v.length === 0) return Number.NaN;
  const s = v.toSorted((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const rate = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
const spread = (v: readonly number[]): string => (v.length === 0 ? '–' : `${rate(Math.min(...v))}–${rate(Math.max(...v))}`);

function redisUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: 6379 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** Installed versions of the anchors and the servers, for the report. */
async function versions(url: string | undefined, redis: boolean): Promise<string> {
  const require = createRequire(import.meta.url);
  const pkg = (name: string): string => (require(`${name}/package.json`) as { version: string }).version;
  const out = [`node ${process.version}`, `pg-boss ${pkg('pg-boss')}`, `graphile-worker ${pkg('graphile-worker')}`, `bullmq ${pkg('bullmq')}`, `pg ${pkg('pg')}`, `better-sqlite3 ${pkg('better-sqlite3')}`];
  if (url !== undefined) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ v: string; s: string }>("SELECT current_setting('server_version') AS v, current_setting('synchronous_commit') AS s");
      out.push(`PostgreSQL ${rows[0]?.v} (synchronous_commit ${rows[0]?.s})`);
    } finally {
      await client.end();
    }
  }
  if (redis) {
    const { Redis } = await import('ioredis');
    const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await client.connect();
    const info = await client.info('server');
    out.push(`Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? '?'}`);
    client.disconnect();
  }
  return out.join(', ');
}

function systems(url: string | undefined, redis: boolean): System[] {
  const tag = `${process.pid}`;
  const list: System[] = [
    weir('weir sqlite (full)', 'sqlite', `sqlite:${weirSqliteFile()}`, '', "temp file, durability 'full' (the default: every enqueue synced to disk; the worker's claims and settlements are not waited for)"),
    weir('weir sqlite (normal)', 'sqlite', `sqlite:${weirSqliteFile()}`, '', "temp file, durability 'normal' (survives kill -9, not power loss)", { durability: 'normal' }),
    sqliteFloor('floor: bare synced sqlite insert'),
  ];
  if (url !== undefined) {
    list.push(
      weir('weir postgres', 'postgres', url, `bench_weir_${tag}`, `schema bench_weir_${tag}, pool 10 + 1 LISTEN connection, prefetch 'auto' (the default: measured, at most concurrency)`),
      // Without claiming ahead: every claim takes free slots only.
      weir('weir postgres (prefetch 0)', 'postgres', url, `bench_weirp_${tag}`, `schema bench_weirp_${tag}, pool 10 + 1 LISTEN connection, prefetch: 0`, {}, { prefetch: 0 }),
      // ≤ 10 messages in handlers: 1 worker × 10 drains fastest (10 × 1 and 2 × 5 measured slower).
      pgBoss('pg-boss', url, `bench_pgboss_${tag}`, { workers: 1, batchSize: CONCURRENCY, notify: true, metrics: ['enqueue', 'drain', 'keyed', 'latency'] }),
      pgBoss('pg-boss (polling only)', url, `bench_pgboss_${tag}`, { workers: 1, batchSize: CONCURRENCY, notify: false, metrics: ['latency'], latencySamples: 30 }),
      graphile('graphile-worker', url, `bench_graphile_${tag}`),
    );
    // Context only (WEIR_BENCH_QUEUE_EXTRA=1), not equal concurrency and left out of the targets: 100 messages in handlers at once.
    if (process.env.WEIR_BENCH_QUEUE_EXTRA === '1') {
      list.push(pgBoss('pg-boss 10×10', url, `bench_pgboss_${tag}`, { workers: CONCURRENCY, batchSize: CONCURRENCY, notify: true, metrics: ['drain'], unequal: true }));
    }
  }
  if (redis) list.push(bullmq('bullmq', `bench-bullmq-${tag}`));
  return list;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

function items(n: number, keyed: boolean): Item[] {
  return Array.from({ length: n }, (_, i) => {
    const k = `k${i % KEYS}`;
    return keyed ? { payload: { i, k }, key: k } : { payload: { i } };
  });
}

async function enqueueAll(s: System, topic: string, all: readonly Item[]): Promise<number> {
  const elapsed = await timed(async () => {
    for (let i = 0; i < all.length; i += BATCH) await s.enqueueBatch(topic, all.slice(i, i + BATCH));
  });
  return (all.length / elapsed) * 1000;
}

/** Drains `n` pre-enqueued messages; msg/s from the first handler call to the last, and per-key order checks. */
async function drain(s: System, topic: string, keyed: boolean, r: Results): Promise<number> {
  let count = 0;
  let first = 0;
  let last = 0;
  const seen = new Uint8Array(N);
  const head = new Map<string, number>();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const consumer = await s.consume(topic, keyed, (p: Payload) => {
    const now = performance.now();
    if (count === 0) first = now;
    last = now;
    if (seen[p.i] === 1) r.duplicates++;
    else count++;
    seen[p.i] = 1;
    if (keyed && p.k !== undefined) {
      if (p.i < (head.get(p.k) ?? -1)) r.violations++;
      else head.set(p.k, p.i);
    }
    if (count === N) done();
  });
  await within(finished, DRAIN_CAP_MS, undefined);
  await consumer.stop();
  r.left += N - count;
  await s.purge?.(topic);
  return count > 1 ? ((count - 1) / (last - first)) * 1000 : Number.NaN;
}

async function latency(s: System, topic: string, samples: number, r: Results): Promise<void> {
  const waiting = new Map<number, (at: number) => void>();
  const consumer = await s.consume(topic, false, (p) => waiting.get(p.i)?.(performance.now()));
  try {
    // The first LATENCY_WARMUP samples are not recorded: every system opens fresh connections each
    // round, and a connection's first statements are parsed and planned (and PL/pgSQL compiled).
    for (let i = -LATENCY_WARMUP; i < samples; i++) {
      await sleep(i === 0 ? 300 : 5 + Math.random() * 15); // idle: the worker has gone to sleep
      const handled = new Promise<number>((resolve) => waiting.set(i, resolve));
      const t0 = performance.now();
      await s.enqueue(topic, { payload: { i } });
      const t1 = performance.now();
      const at = await within(handled, LATENCY_TIMEOUT_MS, Number.NaN);
      waiting.delete(i);
      if (i < 0) continue;
      if (Number.isNaN(at)) {
        r.lost++;
        continue;
      }
      r.fromCall.push(at - t0);
      r.fromCommit.push(Math.max(0, at - t1));
    }
  } finally {
    await consumer.stop();
  }
}

async function round(ctx: BenchContext, s: System, k: number, r: Results, progress: (step: string) => void): Promise<void> {
  const m = new Set(s.metrics);
  if (m.has('enqueue')) {
    progress('enqueue single');
    const elapsed = await timed(async () => {
      for (let i = 0; i < SINGLE; i++) await s.enqueue(`single-${k}`, { payload: { i } });
    });
    r.single.push((SINGLE / elapsed) * 1000);
    await s.purge?.(`single-${k}`);
  }
  if (m.has('drain')) {
    progress('enqueue batched');
    const b = await enqueueAll(s, `drain-${k}`, items(N, false));
    if (m.has('enqueue')) r.batch.push(b);
    progress('drain');
    r.drain.push(await drain(s, `drain-${k}`, false, r));
  }
  if (m.has('keyed')) {
    progress('enqueue batched keyed');
    const b = await enqueueAll(s, `keyed-${k}`, items(N, true));
    if (m.has('enqueue')) r.batchKeyed.push(b);
    progress('drain keyed');
    r.keyed.push(await drain(s, `keyed-${k}`, true, r));
  }
  if (m.has('latency')) {
    progress('idle latency');
    await latency(s, `latency-${k}`, Math.ceil((s.latencySamples ?? LATENCY) / ROUNDS), r);
  }
  void ctx;
}

const bench: Bench = {
  name: 'queue',
  description: 'durable queues: Weir (SQLite, PostgreSQL) vs pg-boss 10.4, graphile-worker 0.17 and BullMQ 6 (Redis)',
  async run(ctx) {
    const url = await postgresUrl().catch(() => undefined);
    const redis = await redisUp();
    if (url === undefined) ctx.log('PostgreSQL is not reachable: the PostgreSQL systems are skipped.');
    if (!redis) ctx.log('Redis is not listening on 127.0.0.1:6379: BullMQ is skipped.');
    const pick = process.env.WEIR_BENCH_QUEUE_SYSTEMS?.split(',').map((x) => x.trim().toLowerCase());
    const list = systems(url, redis).filter((s) => ctx.matches(s.name) && (pick === undefined || pick.some((p) => s.name.includes(p))));
    ctx.log(`Versions: ${await versions(url, redis)}`);
    ctx.log(`Sizes: drain ${N.toLocaleString('en-US')} messages (no-op handler; a drain stops after ${DRAIN_CAP_MS / 1000} s), ${SINGLE.toLocaleString('en-US')} single enqueues, batches of ${BATCH}, ${KEYS} keys, concurrency ${CONCURRENCY} for all, ${ROUNDS} rounds (median), ${LATENCY} idle-latency samples pooled over the rounds (after ${LATENCY_WARMUP} unrecorded ones per round).`);
    ctx.log('Settings:');
    for (const s of list) ctx.log(`  ${s.name}: ${s.settings}`);
    ctx.log();

    const results = new Map<string, Results>(
      list.map((s) => [s.name, { single: [], batch: [], batchKeyed: [], drain: [], keyed: [], violations: 0, duplicates: 0, left: 0, fromCall: [], fromCommit: [], lost: 0 }]),
    );
    try {
      for (let k = 0; k < ROUNDS; k++) {
        for (let j = 0; j < list.length; j++) {
          const s = list[(j + k) % list.length] as System;
          const progress = (step: string): void => ctx.status(`round ${k + 1}/${ROUNDS} ${s.name}: ${step}`, (k * list.length + j) / (ROUNDS * list.length));
          progress('open');
          await s.open();
          try {
            await round(ctx, s, k, results.get(s.name) as Results, progress);
          } finally {
            await s.close();
          }
        }
      }
    } finally {
      for (const s of list) await s.destroy().catch((error: unknown) => ctx.log(`cleanup of ${s.name} failed: ${String(error)}`));
    }
    report(ctx, list, results);
  },
};

export default bench;

function report(ctx: BenchContext, list: readonly System[], results: Map<string, Results>): void {
  const get = (name: string): Results | undefined => results.get(name);
  const enq = list.filter((s) => s.metrics.includes('enqueue'));
  ctx.log(`### Enqueue: messages/s (median of ${ROUNDS} rounds; min–max)`);
  ctx.log(
    table(
      ['system', 'single (sequential)', 'min–max', `batched (${BATCH})`, 'min–max', `batched, keyed`, 'min–max'],
      enq.map((s) => {
        const r = get(s.name) as Results;
        return [s.name, rate(median(r.single)), spread(r.single), rate(median(r.batch)), spread(r.batch), rate(median(r.batchKeyed)), spread(r.batchKeyed)];
      }),
    ),
  );
  ctx.log();
  const dr = list.filter((s) => s.metrics.includes('drain'));
  ctx.log(`### Drain of ${N.toLocaleString('en-US')} messages, no-op handler: messages/s (median; min–max)`);
  ctx.log(
    table(
      ['system', 'unordered', 'min–max', 'per-key', 'min–max', 'per-key / unordered', 'order violations', 'duplicates', 'left at cap'],
      dr.map((s) => {
        const r = get(s.name) as Results;
        const keyed = median(r.keyed);
        const none = s.keyed === null || !s.metrics.includes('keyed');
        return [
          s.name,
          rate(median(r.drain)),
          spread(r.drain),
          s.keyed === null ? 'not offered' : rate(keyed),
          none ? '' : spread(r.keyed),
          none ? '' : (keyed / median(r.drain)).toFixed(2),
          none ? '' : String(r.violations),
          String(r.duplicates),
          String(r.left),
        ];
      }),
    ),
  );
  ctx.log('Per-key guarantees:');
  for (const s of dr) ctx.log(`  ${s.name}: ${s.keyed ?? 'none in the open-source edition (groups are BullMQ Pro); not measured'}`);
  ctx.log();
  const lat = list.filter((s) => s.metrics.includes('latency'));
  ctx.log('### Idle latency, enqueue → handler start, ms (pooled over rounds)');
  ctx.log(
    table(
      ['system', 'p50', 'p99', 'max', 'p50 from commit', 'p99 from commit', 'samples', 'lost'],
      lat.map((s) => {
        const r = get(s.name) as Results;
        return [s.name, ms(pct(r.fromCall, 50)), ms(pct(r.fromCall, 99)), ms(Math.max(...r.fromCall)), ms(pct(r.fromCommit, 50)), ms(pct(r.fromCommit, 99)), String(r.fromCall.length), String(r.lost)];
      }),
    ),
  );
  ctx.log('("from commit": from the moment enqueue() resolved; the handler may start before it does.)');
  ctx.log();
  targets(ctx, list, results);
}

const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');

function targets(ctx: BenchContext, list: readonly System[], results: Map<string, Results>): void {
  const drainOf = (name: string): number => median(results.get(name)?.drain ?? []);
  ctx.log('### Targets');
  const pgAnchors = list.filter((s) => s.backend === 'postgres' && !s.name.startsWith('weir') && s.metrics.includes('drain') && s.unequal !== true);
  const best = pgAnchors.map((s) => ({ name: s.name, rate: drainOf(s.name) })).toSorted((a, b) => b.rate - a.rate)[0];
  for (const name of ['weir postgres', 'weir postgres (prefetch 0)']) {
    const weirPg = results.get(name);
    if (weirPg === undefined || best === undefined) continue;
    const ratio = median(weirPg.drain) / best.rate;
    ctx.log(`${name} drains ≥ 1.5× the best Postgres queue (${best.name}): ${ratio.toFixed(2)}× — ${verdict(ratio >= 1.5)}`);
    const keyed = median(weirPg.keyed) / median(weirPg.drain);
    ctx.log(`${name} keeps per-key ordering within 20% of its unordered rate: ${(keyed * 100).toFixed(0)}% — ${verdict(keyed >= 0.8)}`);
    const p99 = pct(weirPg.fromCall, 99);
    ctx.log(`${name}: idle p99 < 10 ms: ${ms(p99)} ms — ${verdict(p99 < 10)}`);
  }
  const floor = results.get('floor: bare synced sqlite insert');
  for (const name of ['weir sqlite (full)', 'weir sqlite (normal)']) {
    const r = results.get(name);
    if (r === undefined) continue;
    const p99 = pct(r.fromCall, 99);
    ctx.log(`Idle p99 on SQLite < 2 ms, ${name}: ${ms(p99)} ms (from commit ${ms(pct(r.fromCommit, 99))} ms) — ${verdict(p99 < 2)}`);
    if (name === 'weir sqlite (full)' && floor !== undefined && floor.fromCall.length > 0) {
      ctx.log(`  the floor on this disk, a bare synced INSERT then the handler: p50 ${ms(pct(floor.fromCall, 50))}, p99 ${ms(pct(floor.fromCall, 99))} ms`);
    }
    const bull = results.get('bullmq');
    if (bull !== undefined) {
      const ratio = median(r.drain) / median(bull.drain);
      ctx.log(`Weir on SQLite beats BullMQ (drain), ${name}: ${ratio.toFixed(2)}× — ${verdict(ratio > 1)}`);
    }
  }
}
