/**
 * Requests per second through a Weir connection with its full default policy (bulkhead, deadline,
 * retry with budget, rate-limit hold, circuit breaker, per-attempt timeout, request id and deadline
 * headers, rate-limit header learning) against raw undici `request()`, on the same local server,
 * in one run. The server runs in a child process so that only the client's cost differs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'undici';
import { connection } from '../src/http/index.js';
import type { AuditEntry } from '../src/store/audit.js';
import { type Bench, type Case, formatNs, table } from './harness.js';

const SERVER = `
const { createServer } = require('node:http');
const body = JSON.stringify({ id: 'esp_1', email: 'ada@example.com', name: 'Ada', subscription: 'subscribed', version: 3 });
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
`;

/** Requests in flight at once in the concurrent cases. */
const CONCURRENCY = 16;
const TARGET = 0.9;

async function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim()));
  });
  return { url: `http://127.0.0.1:${port}`, child };
}

/** A case whose subject owns resources, released by `teardown`. */
function subject(name: string, make: () => { call: () => Promise<unknown>; close: () => Promise<void> }): Case {
  let close: (() => Promise<void>) | undefined;
  return {
    name,
    setup() {
      const s = make();
      close = s.close;
      return s.call;
    },
    teardown() {
      void close?.();
    },
  };
}

function cases(url: string, concurrency: number): Case[] {
  const path = '/v3/contacts/esp_1';
  const batch = (one: () => Promise<unknown>): (() => Promise<unknown>) =>
    concurrency === 1 ? one : () => Promise.all(Array.from({ length: concurrency }, one));
  const suffix = concurrency === 1 ? '' : ` ×${concurrency}`;
  return [
    subject(`undici request()${suffix}`, () => {
      const agent = new Agent({ keepAliveTimeout: 60_000 });
      return { call: batch(async () => (await request(`${url}${path}`, { dispatcher: agent })).body.text()), close: () => agent.close() };
    }),
    subject(`weir connection, default policy${suffix}`, () => {
      const conn = connection({ name: 'bench', baseUrl: url, agent: { keepAliveTimeout: 60_000 } });
      return { call: batch(async () => (await conn.get(path)).text()), close: () => conn.close() };
    }),
    subject(`weir connection + audit entries${suffix}`, () => {
      let entries: AuditEntry[] = [];
      const sink = { record: (e: AuditEntry): void => void (entries.length >= 10_000 ? (entries = [e]) : entries.push(e)) };
      const conn = connection({ name: 'bench', baseUrl: url, audit: sink, agent: { keepAliveTimeout: 60_000 } });
      return { call: batch(async () => (await conn.get(path, { correlationId: 'msg-1' })).text()), close: () => conn.close() };
    }),
  ];
}

/** Median of `values`. */
function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Client CPU per request (user + system of this process; the server runs in another), in µs:
 * rounds of `calls` calls, cases interleaved, median per case. Less sensitive than wall-clock time
 * to other processes competing for the cores.
 */
async function cpuPerRequest(subjects: readonly Case[], calls: number, rounds: number, perCall: number): Promise<number[][]> {
  const fns = subjects.map((c) => c.setup());
  const out = subjects.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (const [k, fn] of fns.entries()) {
      const before = process.cpuUsage();
      for (let i = 0; i < calls; i++) await fn(i);
      const used = process.cpuUsage(before);
      out[k]?.push((used.user + used.system) / (calls * perCall));
    }
  }
  for (const c of subjects) c.teardown?.();
  return out;
}

const bench: Bench = {
  name: 'http',
  description: `requests per second: a Weir connection (full default policy) vs raw undici request(), same local server; target ≥ ${TARGET}× undici`,
  async run(ctx) {
    const { url, child } = await startServer();
    try {
      const verdicts: string[] = [];
      for (const concurrency of [1, CONCURRENCY]) {
        const results = await ctx.compare(cases(url, concurrency), { rounds: 15, roundMs: 250, warmupMs: 400, minCalls: 100 });
        const raw = results[0];
        if (raw === undefined) continue;
        const rps = (ns: number): number => (1e9 * concurrency) / ns;
        // Rounds are interleaved, so round r of every case saw the same neighbours: compare them pairwise.
        const paired = (m: { rounds: readonly number[] }): number => median(m.rounds.map((ns, r) => (raw.rounds[r] as number) / ns));
        ctx.log(`### ${concurrency === 1 ? 'sequential (1 in flight)' : `${concurrency} in flight`}: median of ${raw.rounds.length} interleaved rounds`);
        ctx.log(
          table(
            ['case', 'req/s', '× undici (paired rounds)', 'per request', 'rounds req/s min–max'],
            results.map((m) => [
              m.name,
              rps(m.nsPerCall).toFixed(0),
              paired(m).toFixed(3),
              formatNs(m.nsPerCall / concurrency),
              `${rps(Math.max(...m.rounds)).toFixed(0)} – ${rps(Math.min(...m.rounds)).toFixed(0)}`,
            ]),
          ),
        );
        ctx.log();
        const weir = results[1];
        if (weir !== undefined) {
          const ratio = paired(weir);
          verdicts.push(`${concurrency} in flight: requests/s, Weir default policy ≥ ${TARGET}× raw undici: ${ratio >= TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(3)}×)`);
        }
      }

      ctx.status('client CPU per request');
      const subjects = cases(url, CONCURRENCY);
      const cpu = await cpuPerRequest(subjects, 100, 15, CONCURRENCY);
      const base = median(cpu[0] ?? []);
      ctx.log(`### client CPU per request, ${CONCURRENCY} in flight: median of 15 interleaved rounds of ${100 * CONCURRENCY} requests`);
      ctx.log(table(['case', 'CPU per request', 'undici ÷ case'], subjects.map((c, k) => [c.name, `${median(cpu[k] ?? []).toFixed(1)} µs`, (base / median(cpu[k] ?? [])).toFixed(3)])));
      ctx.log();
      const weirCpu = median(cpu[1] ?? []);
      verdicts.push(`client CPU: Weir default policy ≥ ${TARGET}× raw undici's efficiency: ${base / weirCpu >= TARGET ? 'met' : 'NOT met'} (${(base / weirCpu).toFixed(3)}×)`);
      for (const v of verdicts) ctx.log(v);
    } finally {
      child.kill();
    }
  },
};

export default bench;
