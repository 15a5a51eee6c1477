/**
 * Verifications per second of 1 KB Standard Webhooks deliveries, in one run: Weir's
 * `webhookVerifier(...).verify` vs the npm `standardwebhooks` library vs a bare
 * `createHmac` + `timingSafeEqual` loop (the floor: what any verifier must at least do).
 * Each case verifies the same signed delivery per call, reading its headers; Weir and the library
 * also check the timestamp window and the header format, and the library JSON-parses the body.
 * Calls return nothing, so the harness's `await` costs every case the same.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { sign, webhookVerifier } from '../src/webhooks/index.js';
import { type Bench, type Case, formatNs, table } from './harness.js';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
/** Weir within 10% of the bare loop: at least 0.9× its verifications per second. */
const TARGET = 0.9;

/** A JSON body of exactly 1024 bytes (the library parses JSON, so it must be JSON). */
function body1k(): string {
  const head = '{"type":"contact.updated","timestamp":"2026-01-01T00:00:00.000Z","data":{"id":"esp_1","note":"';
  const tail = '"}}';
  return head + 'x'.repeat(1024 - head.length - tail.length) + tail;
}

function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * CPU time per verification (user + system of this process) in interleaved rounds, median per
 * case: less sensitive than wall-clock time to other processes competing for the cores.
 */
function cpuPerCall(subjects: readonly Case[], calls: number, rounds: number): number[][] {
  const fns = subjects.map((c) => c.setup());
  const out = subjects.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (const [k, fn] of fns.entries()) {
      const before = process.cpuUsage();
      for (let i = 0; i < calls; i++) fn(i);
      const used = process.cpuUsage(before);
      out[k]?.push(((used.user + used.system) * 1000) / calls);
    }
  }
  return out;
}

function cases(): Case[] {
  const text = body1k();
  const rawBody = Buffer.from(text, 'utf8');
  // Signed "now" on the real clock: the library checks the timestamp against Date.now().
  const headers = sign('standard-webhooks', { secret: SECRET, id: 'msg_bench', rawBody, now: Date.now() });
  const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
  return [
    {
      name: 'bare createHmac + timingSafeEqual',
      setup() {
        // The least a verifier does per request: read the three headers, HMAC, decode, compare.
        // No timestamp window, no header validation, one signature assumed at a fixed place.
        return () => {
          const id = headers['webhook-id'] as string;
          const ts = headers['webhook-timestamp'] as string;
          const signature = (headers['webhook-signature'] as string).slice(3);
          const expected = createHmac('sha256', key).update(`${id}.${ts}.`).update(rawBody).digest();
          if (!timingSafeEqual(Buffer.from(signature, 'base64'), expected)) throw new Error('mismatch');
        };
      },
    },
    {
      name: 'weir webhookVerifier().verify',
      setup() {
        const verifier = webhookVerifier('standard-webhooks', { secret: SECRET });
        return () => {
          verifier.verify({ rawBody, headers, now: Date.now() });
        };
      },
    },
    {
      name: 'standardwebhooks Webhook.verify',
      setup() {
        const wh = new Webhook(SECRET);
        return () => {
          wh.verify(text, headers);
        };
      },
    },
  ];
}

const bench: Bench = {
  name: 'webhooks',
  description: `verifications per second of 1 KB Standard Webhooks payloads: Weir vs standardwebhooks vs a bare createHmac + timingSafeEqual loop; target Weir ≥ ${TARGET}× the bare loop`,
  async run(ctx) {
    const results = await ctx.compare(cases(), { rounds: 15, roundMs: 200, warmupMs: 300 });
    const bare = results[0];
    if (bare === undefined) return;
    // Rounds are interleaved, so round r of every case saw the same neighbours: compare them pairwise.
    const paired = (m: { rounds: readonly number[] }): number => median(m.rounds.map((ns, r) => (bare.rounds[r] as number) / ns));
    ctx.log(`### 1 KB body, one secret: median of ${bare.rounds.length} interleaved rounds`);
    ctx.log(
      table(
        ['case', 'verifications/s', '× bare loop (paired rounds)', 'per verification'],
        results.map((m) => [m.name, (1e9 / m.nsPerCall).toFixed(0), paired(m).toFixed(3), formatNs(m.nsPerCall)]),
      ),
    );
    ctx.log();
    const weir = results[1];
    if (weir !== undefined) {
      const ratio = paired(weir);
      ctx.log(`wall clock: verifications/s, Weir ≥ ${TARGET}× the bare loop: ${ratio >= TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(3)}×)`);
    }
    ctx.status('CPU time per verification');
    const subjects = cases();
    const cpu = cpuPerCall(subjects, 20_000, 15);
    const base = cpu[0] ?? [];
    const pairedCpu = (k: number): number => median((cpu[k] ?? []).map((ns, r) => (base[r] as number) / ns));
    ctx.log();
    ctx.log('### CPU time per verification (this process): median of 15 interleaved rounds of 20,000');
    ctx.log(table(['case', 'CPU per verification', 'bare ÷ case (paired rounds)'], subjects.map((c, k) => [c.name, formatNs(median(cpu[k] ?? [])), pairedCpu(k).toFixed(3)])));
    ctx.log();
    const cpuRatio = pairedCpu(1);
    ctx.log(`CPU: Weir ≥ ${TARGET}× the bare loop's efficiency: ${cpuRatio >= TARGET ? 'met' : 'NOT met'} (${cpuRatio.toFixed(3)}×)`);
  },
};

export default bench;
