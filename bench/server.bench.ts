/**
 * The server middleware under HTTP load (autocannon), in one run: plain Fastify hello-world vs the
 * same routes behind Weir's `rateLimit` (memory, Redis) and `idempotency` (SQLite, Redis, POSTs with
 * fresh keys), with `@fastify/rate-limit` as the anchor. Each server runs in its own process; the
 * cases are interleaved over rounds and the median is reported, so a noisy neighbour slows all alike;
 * the targets take the median of per-round ratios (cases measured seconds apart). Rounds:
 * `WEIR_BENCH_SERVER_ROUNDS` (default 5).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'node:net';
import { type Bench, type BenchContext, table } from './harness.js';

const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}
interface AutocannonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (req: { headers: Record<string, string> }) => unknown;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration?: number;
  /** A fixed number of requests instead of a duration. */
  amount?: number;
  requests?: AutocannonRequest[];
  method?: string;
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
const script = fileURLToPath(new URL('./server-app.mjs', import.meta.url));
const SETTINGS = { connections: 32, durationS: 3, rounds: Math.max(1, Number(process.env.WEIR_BENCH_SERVER_ROUNDS ?? 5)) };

interface Case {
  name: string;
  server: string;
  post: boolean;
  needs?: 'redis';
}

const CASES: Case[] = [
  { name: 'fastify GET (plain)', server: 'plain', post: false },
  { name: '@fastify/rate-limit GET (anchor)', server: 'fastify-rate-limit', post: false },
  { name: 'weir rateLimit GET (memory)', server: 'weir-rate-limit', post: false },
  { name: 'weir rateLimit GET (Redis)', server: 'weir-rate-limit-redis', post: false, needs: 'redis' },
  { name: 'fastify POST (plain)', server: 'plain', post: true },
  // Where idempotency's cost goes: the Weir hooks with a middleware that only reads the raw body,
  // then the whole idempotency middleware over a store that keeps nothing.
  { name: 'weir middleware reading the body POST', server: 'weir-body', post: true },
  { name: 'weir idempotency POST (no-op store)', server: 'weir-idempotency-noop', post: true },
  { name: 'weir idempotency POST (SQLite)', server: 'weir-idempotency-sqlite', post: true },
  { name: 'weir idempotency POST (Redis)', server: 'weir-idempotency-redis', post: true, needs: 'redis' },
  { name: 'weir idempotency POST (Redis, no auto-pipelining)', server: 'weir-idempotency-redis-direct', post: true, needs: 'redis' },
  // Not Weir: a hand-written minimum (two Redis SETs, no capture or checks) that shows what the target leaves room for.
  { name: 'floor: two Redis SETs per POST (hand-written)', server: 'floor-idempotency-redis', post: true, needs: 'redis' },
];

function redisUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: 6379 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function start(server: string, wrapper: readonly string[] = []): Promise<{ port: number; child: ChildProcess }> {
  const argv = [...wrapper, process.execPath, script];
  const child = spawn(argv[0] as string, argv.slice(1), { env: { ...process.env, CASE: server }, stdio: ['ignore', 'pipe', wrapper.length > 0 ? 'ignore' : 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`bench server ${server} exited with ${code}`)));
  });
  return { port, child };
}

async function cpuOf(port: number): Promise<number> {
  const u = (await (await fetch(`http://127.0.0.1:${port}/__cpu`)).json()) as { user: number; system: number };
  return u.user + u.system;
}

let keys = 0;
function load(port: number, c: Case, durationS: number): Promise<AutocannonResult> {
  const url = `http://127.0.0.1:${port}`;
  if (!c.post) return autocannon({ url, connections: SETTINGS.connections, duration: durationS });
  return autocannon({
    url,
    connections: SETTINGS.connections,
    duration: durationS,
    requests: [
      {
        method: 'POST',
        path: '/orders',
        headers: { 'content-type': 'application/json' },
        body: '{"item":"book"}',
        // A fresh key per request: every POST is a first execution (the expensive path).
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, 'idempotency-key': `"bench-${process.pid}-${keys++}"` } }),
      },
    ],
  });
}

/** One round's figure of a case. */
const rpsIn = (e: { rps: number[] }, r: number): number => e.rps[r] as number;
const cpuIn = (e: { cpu: number[] }, r: number): number => e.cpu[r] as number;

const execFileP = promisify(execFile);

/**
 * Instructions per request, counted by callgrind: plain Fastify, @fastify/rate-limit and Weir's
 * rateLimit, each server under valgrind, N GETs after a warm-up, the main thread's user-space
 * instructions only (the JIT's compiler threads apart). Unlike time it does not move with the
 * neighbours, so it settles "costs no more than the anchor" on a noisy machine. Kernel work (the
 * socket syscalls) is not counted: it is the same for every case. Opt-in, ~4 minutes:
 * WEIR_BENCH_SERVER_CALLGRIND=1.
 */
async function instructions(ctx: BenchContext): Promise<void> {
  const WARM = 20_000;
  const N = 6_000;
  const targets = [
    { name: 'fastify GET (plain)', server: 'plain' },
    { name: '@fastify/rate-limit GET (anchor)', server: 'fastify-rate-limit' },
    { name: 'weir rateLimit GET (memory)', server: 'weir-rate-limit' },
  ];
  try {
    await execFileP('valgrind', ['--version']);
  } catch {
    ctx.log('valgrind is not installed: the instruction counts are skipped (apt-get install valgrind).');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-callgrind-'));
  const counts = new Map<string, number>();
  try {
    for (const [i, t] of targets.entries()) {
      ctx.status(`callgrind ${t.name}`, i / targets.length);
      const out = join(dir, `${t.server}.%p`);
      const { port, child } = await start(t.server, ['valgrind', '--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${out}`]);
      const pid = String(child.pid);
      try {
        await autocannon({ url: `http://127.0.0.1:${port}`, connections: 8, amount: WARM });
        await execFileP('callgrind_control', ['-i', 'on', pid]);
        await autocannon({ url: `http://127.0.0.1:${port}`, connections: 8, amount: N });
        await execFileP('callgrind_control', ['-i', 'off', pid]);
        await execFileP('callgrind_control', ['-d', pid]);
        // The dump of thread 1 (the event loop): `<out>.<pid>.1-01`, written by the control request.
        const dump = join(dir, `${t.server}.${pid}.1-01`);
        for (let tries = 0; tries < 100 && !existsSync(dump); tries++) await new Promise((r) => setTimeout(r, 100));
        const totals = /^totals: (\d+)/m.exec(readFileSync(dump, 'utf8'));
        if (totals !== null) counts.set(t.name, Number(totals[1]) / N);
      } finally {
        child.kill('SIGKILL');
        await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const plain = counts.get('fastify GET (plain)');
  ctx.log('### Instructions per request (callgrind, event-loop thread, user space)');
  ctx.log(
    table(
      ['case', 'instructions/request', 'over plain'],
      targets.filter((t) => counts.has(t.name)).map((t) => {
        const n = counts.get(t.name)!;
        return [t.name, Math.round(n).toLocaleString('en-US'), plain === undefined ? '' : `+${Math.round(n - plain).toLocaleString('en-US')}`];
      }),
    ),
  );
  const a = counts.get('@fastify/rate-limit GET (anchor)');
  const o = counts.get('weir rateLimit GET (memory)');
  if (a !== undefined && o !== undefined) {
    // Repeated counts of one server move by ~2% (how requests fall into event-loop turns, GC timing).
    ctx.log(`Target by instructions: Weir rateLimit ${(o / a).toFixed(3)}× @fastify/rate-limit per request: ${verdict(o <= a * 1.03)} (3% allowance: the spread of repeated counts).`);
  }
}

const median = (v: number[]): number => {
  const s = v.toSorted((a, b) => a - b);
  return s.length % 2 === 1 ? (s[s.length >> 1] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};

const bench: Bench = {
  name: 'server',
  description: 'weir/server middleware on Fastify under autocannon load vs plain Fastify and @fastify/rate-limit',
  async run(ctx) {
    if (!existsSync(fileURLToPath(new URL('../dist/server/index.js', import.meta.url)))) {
      ctx.log('dist/ is missing: run `npm run build` (npm run bench does) — the servers run the built package.');
      return;
    }
    const haveRedis = await redisUp();
    const cases = CASES.filter((c) => ctx.matches(c.name) || c.server === 'plain' || c.server === 'fastify-rate-limit').filter((c) => c.needs !== 'redis' || haveRedis);
    if (!haveRedis) ctx.log('Redis is not listening on 127.0.0.1:6379: the Redis cases are skipped.');
    ctx.log(
      `Settings: ${SETTINGS.connections} connections, ${SETTINGS.durationS} s per run, ${SETTINGS.rounds} interleaved rounds (median), 1 s warm-up; ` +
        `servers run dist/ in their own processes; SQLite durability 'normal'; ioredis with enableAutoPipelining (one idempotency case without).`,
    );
    const servers = new Map<string, { port: number; child: ChildProcess }>();
    try {
      for (const c of cases) if (!servers.has(c.server)) servers.set(c.server, await start(c.server));
      const results = new Map<string, { rps: number[]; cpu: number[]; p99: number[]; bad: number }>();
      for (const [i, c] of cases.entries()) {
        ctx.status(`warm-up ${c.name}`, i / cases.length / (SETTINGS.rounds + 1));
        await load(servers.get(c.server)!.port, c, 1);
        results.set(c.name, { rps: [], cpu: [], p99: [], bad: 0 });
      }
      for (let r = 0; r < SETTINGS.rounds; r++) {
        for (const [i, c] of cases.entries()) {
          ctx.status(`round ${r + 1}/${SETTINGS.rounds} ${c.name}`, (r + 1 + i / cases.length) / (SETTINGS.rounds + 1));
          const port = servers.get(c.server)!.port;
          const before = await cpuOf(port);
          const out = await load(port, c, SETTINGS.durationS);
          const entry = results.get(c.name)!;
          entry.cpu.push(((await cpuOf(port)) - before) / Math.max(1, out.requests.total));
          entry.rps.push(out.requests.average);
          entry.p99.push(out.latency.p99);
          entry.bad += out.non2xx + out.errors;
        }
      }
      const rps = (name: string): number | undefined => {
        const e = results.get(name);
        return e === undefined ? undefined : median(e.rps);
      };
      const cpu = (name: string): number | undefined => {
        const e = results.get(name);
        return e === undefined ? undefined : median(e.cpu);
      };
      const getBase = rps('fastify GET (plain)')!;
      const postBase = rps('fastify POST (plain)')!;
      const getCpu = cpu('fastify GET (plain)')!;
      const postCpu = cpu('fastify POST (plain)')!;
      ctx.log(
        table(
          ['case', 'req/s (median)', '× plain', 'server CPU µs/req', 'capacity × plain', 'p99 ms', 'non-2xx/errors'],
          cases.map((c) => {
            const e = results.get(c.name)!;
            const base = c.post ? postBase : getBase;
            const baseCpu = c.post ? postCpu : getCpu;
            return [
              c.name,
              Math.round(median(e.rps)).toLocaleString('en-US'),
              (median(e.rps) / base).toFixed(2),
              median(e.cpu).toFixed(1),
              (baseCpu / median(e.cpu)).toFixed(2),
              median(e.p99).toFixed(1),
              String(e.bad),
            ];
          }),
        ),
      );
      ctx.log('(capacity × plain: plain CPU per request / this case’s, i.e. the throughput ratio of a CPU-bound server; robust to a busy machine.)');
      ctx.log();
      // The targets compare cases measured seconds apart in the same round: the median of the
      // per-round ratios, with their range, shrugs off a neighbour that slowed one round.
      const paired = (a: string, b: string, of: (e: { rps: number[]; cpu: number[] }, r: number) => number): { mid: number; range: string } | undefined => {
        const ea = results.get(a);
        const eb = results.get(b);
        if (ea === undefined || eb === undefined) return undefined;
        const ratios = ea.rps.map((_, r) => of(ea, r) / of(eb, r));
        return { mid: median(ratios), range: `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}` };
      };
      const byCpu = paired('weir rateLimit GET (memory)', '@fastify/rate-limit GET (anchor)', cpuIn);
      if (byCpu !== undefined) {
        const byRps = paired('weir rateLimit GET (memory)', '@fastify/rate-limit GET (anchor)', rpsIn)!;
        ctx.log(
          `Target: rate limiting costs no more than @fastify/rate-limit — server CPU per request ${byCpu.mid.toFixed(2)}× the anchor's (rounds ${byCpu.range}), ` +
            `throughput ${byRps.mid.toFixed(2)}× (${byRps.range}): ${verdict(byCpu.mid <= 1.05)} (by CPU, 5% noise allowance).`,
        );
      }
      const floorName = 'floor: two Redis SETs per POST (hand-written)';
      for (const name of ['weir idempotency POST (Redis)', 'weir idempotency POST (Redis, no auto-pipelining)', floorName]) {
        const share = paired(name, 'fastify POST (plain)', rpsIn);
        if (share === undefined) continue;
        const capacity = paired('fastify POST (plain)', name, cpuIn)!;
        const figures = `${(share.mid * 100).toFixed(0)}% of plain POST throughput (rounds ${share.range}), ${(capacity.mid * 100).toFixed(0)}% by server CPU (${capacity.range})`;
        if (name === floorName) ctx.log(`  the floor in the same run, a hand-written minimum of two Redis SETs per POST (no capture, no checks): ${figures}.`);
        else {
          ctx.log(
            `Target: idempotency on Redis keeps ≥ 70% of plain POST throughput (${name.slice(name.indexOf('(') + 1, -1)}) — ${figures}: ` +
              `${verdict(Math.max(share.mid, capacity.mid) >= 0.7)}.`,
          );
        }
      }
    } finally {
      for (const s of servers.values()) s.child.kill('SIGTERM');
      await Promise.all([...servers.values()].map((s) => new Promise((r) => (s.child.exitCode !== null ? r(null) : s.child.once('exit', r)))));
    }
    if (process.env.WEIR_BENCH_SERVER_CALLGRIND === '1') {
      ctx.log();
      await instructions(ctx);
    }
  },
};

export default bench;
