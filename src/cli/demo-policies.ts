import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { WeirError } from '../errors.js';
import { parseRetryAfter } from '../http/rate-limit-headers.js';
import { finite, integer } from '../internal/validate.js';
import {
  backoff,
  bulkhead,
  circuitBreaker,
  classifyStatus,
  type PolicyContext,
  retry,
  retryBudget,
  timeout,
  wrap,
} from '../policy/index.js';
import { type FaultPhase, type FaultServer, faultServer, faults, seededRandom } from '../testing/index.js';
import { describeFailure, percentile } from './demo-report.js';
import { startProgress } from './progress.js';

export interface PolicyDemoOptions {
  /** How long traffic is sent, in ms (each run then waits for its last calls). Default 12_000. */
  durationMs?: number;
  /** Seeds the traffic, the faults and the retry jitter. Default 1. */
  seed?: number;
  /** Logical calls started per second, on average. Default 35. */
  callsPerSecond?: number;
  /** Show live progress on stderr. Default true. */
  progress?: boolean;
}

/** One phase of the schedule as it ran, in ms from the start. */
export interface DemoPhase {
  readonly name: string;
  readonly description: string;
  readonly fromMs: number;
  readonly toMs: number;
}

/** What one run (bare or through Weir) did with the same traffic. */
export interface DemoRunStats {
  readonly calls: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Failed calls by cause (`HTTP 503`, `connection reset`, `circuit open`, …); the values add up to `failed`. */
  readonly failures: Readonly<Record<string, number>>;
  /** Failed calls by the phase in which they started; the values add up to `failed`. */
  readonly failuresByPhase: Readonly<Record<string, number>>;
  /** Failed calls that started before the outage and ended after it began (caught by it while in flight). */
  readonly failedInFlightAtOutage: number;
  /** Requests the server received (first attempts and retries). */
  readonly attempts: number;
  /** Requests the client started (some may be cut short before the server sees them). */
  readonly attemptsStarted: number;
  readonly retries: number;
  /** Requests the server received while it was down. */
  readonly attemptsDuringOutage: number;
  /** What the server answered, by status (`'200'`, `'503'`, `'reset'`, …). */
  readonly served: Readonly<Record<string, number>>;
  /** Latency of every logical call (success or failure), from its start to its end, in ms. */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
}

export interface WeirRunStats extends DemoRunStats {
  readonly breakerTransitions: ReadonlyArray<{ readonly atMs: number; readonly from: string; readonly to: string; readonly reason: string }>;
  /** Policy-level rejections by kind, counted from the policies' events. */
  readonly rejections: {
    readonly circuitOpen: number;
    readonly bulkheadFull: number;
    readonly attemptTimeouts: number;
    readonly overallTimeouts: number;
    readonly retryBudgetExhausted: number;
  };
  /** Why the retry policy stopped on a failure, by reason (`attempts`, `budget`, `deadline`, `not_retryable`). */
  readonly gaveUp: Readonly<Record<string, number>>;
  /** The settings used, for the report. */
  readonly settings: Readonly<Record<string, string>>;
}

export interface DemoResult {
  readonly seed: number;
  readonly durationMs: number;
  /** Wall time of the whole demo, in ms. */
  readonly elapsedMs: number;
  readonly schedule: readonly DemoPhase[];
  readonly outage: { readonly fromMs: number; readonly toMs: number };
  readonly bare: DemoRunStats;
  readonly weir: WeirRunStats;
}

/** The fault schedule, as shares of the run: healthy, flaky, slow, rate-limited, down, healthy again. */
const SCHEDULE: ReadonlyArray<{ share: number; fault: FaultPhase['fault']; name: string; description: string }> = [
  { share: 0.1, fault: faults.ok(), name: 'ok', description: 'healthy' },
  { share: 0.18, fault: faults.flaky(0.25), name: 'flaky', description: '25% of requests fail with 503' },
  {
    share: 0.14,
    fault: faults.rateLimited({ perSecond: 20, retryAfter: 'seconds' }),
    name: 'rate-limited',
    description: '20 requests/s, the rest get 429 + Retry-After',
  },
  { share: 0.16, fault: faults.slow(2_000, { jitterMs: 1_500, rate: 0.25 }), name: 'slow', description: '25% of answers take 2–3.5 s' },
  { share: 0.22, fault: faults.down(), name: 'down', description: 'every connection is reset' },
  { share: 0.2, fault: faults.ok(), name: 'recovered', description: 'healthy again' },
];

const SETTINGS = {
  bulkhead: { maxConcurrent: 16, maxQueue: 16 },
  overallMs: 3_000,
  attempts: 4,
  backoff: { initialMs: 50, maxMs: 1_000, jitter: 'full' },
  maxDelayMs: 2_000,
  budget: { ratio: 0.5, windowMs: 5_000, minRetriesPerSecond: 10 },
  breaker: { failureRate: 0.6, minimumCalls: 10, windowSize: 20 },
  openMs: 500,
  attemptMs: 500,
} as const;

/**
 * Runs the policy demo: two identical local fault-injecting servers, the same seeded traffic sent
 * to one bare (undici `request`, nothing else) and to the other through
 * `wrap(bulkhead, timeout(overall), retry(+budget, Retry-After), circuitBreaker, timeout(per attempt))`,
 * at the same time. Resolves with what each did; never throws for failed calls (they are the point).
 *
 * @throws InvalidOptionError (`demo.durationMs`, `demo.seed`, `demo.callsPerSecond`) for bad options.
 */
export async function runPolicyDemo(options: PolicyDemoOptions = {}): Promise<DemoResult> {
  const durationMs = finite(options.durationMs ?? 12_000, 'demo.durationMs', 1_000, 600_000);
  const seed = integer(options.seed ?? 1, 'demo.seed', 0, 0xffff_ffff - 3);
  const rate = finite(options.callsPerSecond ?? 35, 'demo.callsPerSecond', 1, 1_000);

  let from = 0;
  const schedule: DemoPhase[] = SCHEDULE.map((p) => {
    const to = Math.round(from + p.share * durationMs);
    const phase = { name: p.name, description: p.description, fromMs: from, toMs: to };
    from = to;
    return phase;
  });
  const phases: FaultPhase[] = SCHEDULE.map((p, i) => {
    const { fromMs, toMs } = schedule[i] as DemoPhase;
    return { fault: p.fault, name: p.name, forMs: toMs - fromMs };
  });
  const outagePhase = schedule.find((p) => p.name === 'down') as DemoPhase;

  // The same arrival times for both runs: a seeded Poisson process.
  const traffic = seededRandom(seed + 1);
  const arrivals: number[] = [];
  for (let t = -Math.log(1 - traffic()) * (1000 / rate); t < durationMs; t += -Math.log(1 - traffic()) * (1000 / rate)) {
    arrivals.push(t);
  }

  const [bareServer, weirServer] = await Promise.all([faultServer({ seed, phases }), faultServer({ seed, phases })]);
  const bareAgent = new Agent();
  const weirAgent = new Agent();
  const bare = new Run(outagePhase, () => began);
  const weir = new Run(outagePhase, () => began);
  const weirPolicy = buildPolicy(seed, () => began);
  const phaseAt = (ms: number): string => (schedule.find((p) => ms < p.toMs) ?? (schedule.at(-1) as DemoPhase)).name;
  const began = performance.now();
  bareServer.reset();
  weirServer.reset();
  const progress =
    options.progress === false
      ? undefined
      : startProgress({
          label: 'demo',
          render: () => {
            const elapsed = performance.now() - began;
            const stage = elapsed < durationMs ? weirServer.phase.name.padEnd(12) : `finishing (${bare.inFlight + weir.inFlight} in flight)`;
            return {
              fraction: elapsed / durationMs,
              text:
                `${(elapsed / 1000).toFixed(1)}s ${stage} ` +
                `bare ${bare.ok} ok ${bare.failed} failed | weir ${weir.ok} ok ${weir.failed} failed, breaker ${weirPolicy.breaker.state}`,
            };
          },
        });
  try {
    const calls: Array<Promise<void>> = [];
    for (const [i, at] of arrivals.entries()) {
      const wait = at - (performance.now() - began);
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const phase = phaseAt(at);
      calls.push(bare.call(phase, () => bareCall(bareServer, bareAgent, i)));
      calls.push(weir.call(phase, () => weirPolicy.policy.execute((ctx) => weirCall(weirServer, weirAgent, i, ctx, weir))));
    }
    await Promise.all(calls);
  } finally {
    progress?.stop();
    await Promise.all([bareServer.close(), weirServer.close(), bareAgent.close(), weirAgent.close()]);
  }

  return {
    seed,
    durationMs,
    elapsedMs: Math.round(performance.now() - began),
    schedule,
    outage: { fromMs: outagePhase.fromMs, toMs: outagePhase.toMs },
    bare: bare.stats(bareServer, inOutage(bareServer), 0),
    weir: {
      ...weir.stats(weirServer, inOutage(weirServer), weirPolicy.counts.retries),
      breakerTransitions: weirPolicy.transitions,
      rejections: weirPolicy.counts.rejections,
      gaveUp: weirPolicy.counts.gaveUp,
      settings: {
        bulkhead: `maxConcurrent ${SETTINGS.bulkhead.maxConcurrent}, maxQueue ${SETTINGS.bulkhead.maxQueue}`,
        timeout: `${SETTINGS.overallMs} ms overall, ${SETTINGS.attemptMs} ms per attempt`,
        retry: `${SETTINGS.attempts} attempts, exponential ${SETTINGS.backoff.initialMs}–${SETTINGS.backoff.maxMs} ms full jitter, honours Retry-After (≤ ${SETTINGS.maxDelayMs} ms), budget ${SETTINGS.budget.ratio * 100}% of calls over ${SETTINGS.budget.windowMs / 1000} s; an open circuit is not retried`,
        circuitBreaker: `opens when ${SETTINGS.breaker.failureRate * 100}% of the last ${SETTINGS.breaker.windowSize} attempts failed (at least ${SETTINGS.breaker.minimumCalls}), open ${SETTINGS.openMs} ms, 1 probe`,
      },
    },
  };
}

function buildPolicy(seed: number, began: () => number) {
  const counts = {
    retries: 0,
    gaveUp: {} as Record<string, number>,
    rejections: { circuitOpen: 0, bulkheadFull: 0, attemptTimeouts: 0, overallTimeouts: 0, retryBudgetExhausted: 0 },
  };
  const transitions: Array<{ atMs: number; from: string; to: string; reason: string }> = [];
  const limit = bulkhead(SETTINGS.bulkhead);
  const overall = timeout(SETTINGS.overallMs);
  const retries = retry({
    attempts: SETTINGS.attempts,
    backoff: backoff.exponential(SETTINGS.backoff),
    maxDelayMs: SETTINGS.maxDelayMs,
    budget: retryBudget(SETTINGS.budget),
    // Fail fast while the circuit is open: waiting for it would only hold a bulkhead slot.
    retryOn: (classification, error) =>
      (classification === 'transient' || classification === 'rate_limited') && (error as { code?: unknown })?.code !== 'WEIR_CIRCUIT_OPEN',
    random: seededRandom(seed + 2),
  });
  const breaker = circuitBreaker(SETTINGS.breaker, { openMs: SETTINGS.openMs, halfOpenProbes: 1, name: 'demo' });
  const perAttempt = timeout(SETTINGS.attemptMs);
  limit.onReject(() => counts.rejections.bulkheadFull++);
  overall.onTimeout(() => counts.rejections.overallTimeouts++);
  perAttempt.onTimeout(() => counts.rejections.attemptTimeouts++);
  breaker.onReject(() => counts.rejections.circuitOpen++);
  retries.onRetry(() => counts.retries++);
  retries.onGiveUp(({ reason }) => {
    counts.gaveUp[reason] = (counts.gaveUp[reason] ?? 0) + 1;
    if (reason === 'budget') counts.rejections.retryBudgetExhausted++;
  });
  breaker.onStateChange(({ from, to, reason }) => {
    transitions.push({ atMs: Math.round(performance.now() - began()), from, to, reason });
  });
  return { policy: wrap(limit, overall, retries, breaker, perAttempt), breaker, counts, transitions };
}

/** Tallies one run's logical calls. */
class Run {
  constructor(
    private readonly outage: DemoPhase,
    private readonly began: () => number,
  ) {}

  ok = 0;
  failed = 0;
  attemptsStarted = 0;
  private started = 0;
  private inFlightAtOutage = 0;
  private readonly failures: Record<string, number> = {};
  private readonly failuresByPhase: Record<string, number> = {};
  private readonly latencies: number[] = [];

  get inFlight(): number {
    return this.started - this.ok - this.failed;
  }

  async call(phase: string, fn: () => Promise<void>): Promise<void> {
    this.started++;
    const start = performance.now();
    try {
      await fn();
      this.ok++;
    } catch (err) {
      this.failed++;
      const cause = describeFailure(err);
      this.failures[cause] = (this.failures[cause] ?? 0) + 1;
      this.failuresByPhase[phase] = (this.failuresByPhase[phase] ?? 0) + 1;
      if (start - this.began() < this.outage.fromMs && performance.now() - this.began() >= this.outage.fromMs) this.inFlightAtOutage++;
    }
    this.latencies.push(performance.now() - start);
  }

  stats(server: FaultServer, attemptsDuringOutage: number, retries: number): DemoRunStats {
    const sorted = this.latencies.toSorted((a, b) => a - b);
    return {
      calls: this.ok + this.failed,
      succeeded: this.ok,
      failed: this.failed,
      failures: { ...this.failures },
      failuresByPhase: { ...this.failuresByPhase },
      failedInFlightAtOutage: this.inFlightAtOutage,
      attempts: server.counters.requests,
      attemptsStarted: this.attemptsStarted,
      retries,
      attemptsDuringOutage,
      served: server.counters.byStatus,
      latencyMs: { p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)), max: round(sorted.at(-1) ?? 0) },
    };
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/** Requests a server received while it was down. */
function inOutage(server: FaultServer): number {
  return server.requests.filter((r) => r.phaseName === 'down').length;
}

async function bareCall(server: FaultServer, dispatcher: Agent, i: number): Promise<void> {
  const res = await request(`${server.url}/orders/${i}`, { dispatcher });
  await res.body.dump();
  if (res.statusCode >= 400) throw statusError(res.statusCode, undefined);
}

async function weirCall(server: FaultServer, dispatcher: Agent, i: number, ctx: PolicyContext, run: Run): Promise<void> {
  run.attemptsStarted++;
  const res = await request(`${server.url}/orders/${i}`, {
    dispatcher,
    signal: ctx.signal,
    headers: { 'x-attempt': String(ctx.attempt) },
  });
  await res.body.dump();
  if (res.statusCode >= 400) throw statusError(res.statusCode, res.headers['retry-after']);
}

/** An HTTP failure as a Weir error: classified by status, carrying `Retry-After` as `retryAfterMs`. */
function statusError(status: number, retryAfter: string | string[] | undefined): WeirError {
  const retryAfterMs = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, { now: Date.now() })?.delayMs;
  return new WeirError('WEIR_HTTP_STATUS', `HTTP ${status}`, {
    classification: classifyStatus(status),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    details: { status },
  });
}
