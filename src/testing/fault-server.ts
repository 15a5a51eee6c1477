import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { type Clock, systemClock } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { fn, integer } from '../internal/validate.js';
import { type Fault, type FaultBucket, type FaultPhase, judgeFault, type ResolvedPhase, resolvePhases } from './faults.js';
import { seededRandom } from './seeded-random.js';
import { TrackedServer } from './tracked-server.js';

export type { Fault, FaultPhase, RetryAfterForm } from './faults.js';
export { faults } from './faults.js';
export { seededRandom } from './seeded-random.js';

/** What the server did with one request. */
export interface RecordedRequest {
  /** 1 for the first request since start (or `reset()`). */
  readonly seq: number;
  /** When it arrived, in ms since the schedule started (on the server's clock). */
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Index of the phase that served it (`phases.length` once the schedule is over). */
  readonly phase: number;
  readonly phaseName: string;
  /** The status served; `'reset'` when the connection was reset; `'aborted'` when the client left first. */
  readonly status: number | 'reset' | 'aborted';
  /** The delay added by `slow` faults, in ms. */
  readonly delayMs: number;
}

/** Running totals, cheap to read at any time. */
export interface FaultServerCounters {
  readonly requests: number;
  /** Keyed by status (`'200'`, `'429'`, …, `'reset'`, `'aborted'`). */
  readonly byStatus: Readonly<Record<string, number>>;
  /** Keyed by phase name. */
  readonly byPhase: Readonly<Record<string, number>>;
}

/** Serves a request the schedule lets through (it reads the body, if it wants it). Default: 200 `{"ok":true,"seq":n}`. */
export type FaultServerHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  info: { readonly seq: number; readonly phase: string },
) => void | Promise<void>;

export interface FaultServerOptions {
  /** The fault schedule, run in order from `listen` (or `reset()`). Default: always healthy. */
  phases?: readonly FaultPhase[];
  /** When the last phase ends: `false` (default) serves normally from then on, `true` starts again. */
  repeat?: boolean;
  /** Seed of the random source behind `flaky` and `slow` jitter. Default 1. */
  seed?: number;
  /** Answers healthy requests. */
  handler?: FaultServerHandler;
  /** Keep a record of every request in `requests` (default `true`); counters are always kept. */
  record?: boolean;
  /** Phase times, `slow` delays and `Retry-After` dates use it. Default: the system clock. */
  clock?: Clock;
}

const OVER = '(after schedule)';

/**
 * A real HTTP server on 127.0.0.1 (a free port) that misbehaves on a schedule: healthy, flaky
 * (5xx), slow, rate-limited (429 + `Retry-After` in seconds or HTTP-date form) or down
 * (connection reset or 503), phase after phase, by time or by request count. Random choices come
 * from a seeded source, so the same requests meet the same faults. Every request is recorded.
 * Import from `weir/testing`.
 *
 * It plays the part of undici's `MockAgent` on real sockets: a phase is an interceptor,
 * `forRequests` is `times()`, `slow` is `delay()`, `down()` is `replyWithError()`, and the last
 * phase persists.
 *
 * @throws InvalidOptionError (`WEIR_INVALID_OPTION`) for a malformed schedule, before listening.
 * @example
 * ```ts
 * const server = await faultServer({
 *   seed: 7,
 *   phases: [
 *     { fault: faults.flaky(0.3), forRequests: 50 },
 *     { fault: faults.rateLimited({ perSecond: 5, retryAfter: 'http-date' }), forMs: '2s' },
 *     { fault: faults.down(), forMs: '1s' },
 *   ],
 * });
 * await fetch(server.url + '/orders');
 * console.log(server.counters.byStatus);
 * await server.close();
 * ```
 */
export async function faultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  const server = new FaultServer(options);
  await server.listen();
  return server;
}

export class FaultServer {
  readonly phases: readonly ResolvedPhase[];
  private readonly repeat: boolean;
  private readonly seed: number;
  private readonly handler: FaultServerHandler;
  private readonly keepRecords: boolean;
  private readonly clock: Clock;
  private readonly http = new TrackedServer((req, res) => this.handle(req, res));
  private readonly served = new Emitter<RecordedRequest>();
  /** Fires after each request is answered (or reset, or abandoned by the client). */
  readonly onRequest = this.served.event;
  private random!: () => number;
  private records: RecordedRequest[] = [];
  private totals!: { requests: number; byStatus: Record<string, number>; byPhase: Record<string, number> };
  private startedAt = 0;
  private phaseIndex = 0;
  private phaseStartedAt = 0;
  private phaseRequests = 0;
  private readonly bucket: FaultBucket = { tokens: 0, tokensAt: 0 };
  private closed: Promise<void> | undefined;
  private port = 0;

  constructor(options: FaultServerOptions) {
    this.phases = resolvePhases(options.phases);
    this.repeat = options.repeat ?? false;
    this.seed = options.seed === undefined ? 1 : integer(options.seed, 'faultServer.seed', 0, 0xffff_ffff);
    this.handler = options.handler === undefined ? defaultHandler : fn<FaultServerHandler>(options.handler, 'faultServer.handler');
    this.keepRecords = options.record ?? true;
    this.clock = options.clock ?? systemClock;
    this.reset();
  }

  /** `http://127.0.0.1:<port>`, no trailing slash. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every request so far, in arrival order (empty when `record: false`). */
  get requests(): readonly RecordedRequest[] {
    return this.records;
  }

  /** A snapshot of the totals. */
  get counters(): FaultServerCounters {
    return { requests: this.totals.requests, byStatus: { ...this.totals.byStatus }, byPhase: { ...this.totals.byPhase } };
  }

  /** The phase serving requests now. */
  get phase(): { readonly index: number; readonly name: string; readonly startedAt: number } {
    this.advance(this.clock.now());
    return { index: this.phaseIndex, name: this.phases[this.phaseIndex]?.name ?? OVER, startedAt: this.phaseStartedAt - this.startedAt };
  }

  /**
   * Starts the schedule again from its first phase, now; clears records and counters and re-seeds.
   * Meant for an idle server: a request still in flight is counted in the new run.
   */
  reset(): void {
    this.random = seededRandom(this.seed);
    this.records = [];
    this.totals = { requests: 0, byStatus: {}, byPhase: {} };
    this.startedAt = this.clock.now();
    this.enterPhase(0, this.startedAt);
  }

  /** @internal Use `faultServer()`, which listens for you. */
  listen(): Promise<void> {
    return this.http.listen(0).then((p) => {
      this.port = p;
      this.reset();
    });
  }

  /**
   * Stops listening and drops every open connection (pending `slow` answers are abandoned and
   * recorded as `'aborted'`). Resolves once every request is recorded. Idempotent.
   */
  close(): Promise<void> {
    this.closed ??= this.http.close();
    return this.closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private enterPhase(index: number, at: number): void {
    this.phaseIndex = index;
    this.phaseStartedAt = at;
    this.phaseRequests = 0;
    const limiter = this.phases[index]?.faults.find((f) => f.kind === 'rateLimited');
    this.bucket.tokens = limiter?.kind === 'rateLimited' ? limiter.burst : 0;
    this.bucket.tokensAt = at;
  }

  /** Moves past every phase that is over at `now`. Time phases end exactly on their boundary, so no drift accumulates. */
  private advance(now: number): void {
    // The guard only matters for a repeating schedule of zero-length phases.
    for (let guard = 0; guard < 10_000; guard++) {
      const phase = this.phases[this.phaseIndex];
      if (phase === undefined) return;
      let endedAt: number | undefined;
      if (phase.forRequests !== undefined && this.phaseRequests >= phase.forRequests) endedAt = now;
      if (phase.forMs !== undefined && now - this.phaseStartedAt >= phase.forMs) endedAt = this.phaseStartedAt + phase.forMs;
      if (endedAt === undefined) return;
      const next = this.phaseIndex + 1;
      this.enterPhase(next >= this.phases.length && this.repeat ? 0 : next, endedAt);
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const now = this.clock.now();
    this.advance(now);
    this.phaseRequests++;
    const phase = this.phases[this.phaseIndex];
    const seq = this.totals.requests + 1;
    this.totals.requests = seq;
    const name = phase?.name ?? OVER;
    const record = {
      seq,
      at: now - this.startedAt,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      phase: this.phaseIndex,
      phaseName: name,
      status: 200 as RecordedRequest['status'],
      delayMs: 0,
    };
    // Decide everything at arrival, so the random draws follow arrival order whatever the delays.
    let answer: Answer | undefined;
    for (const fault of phase?.faults ?? []) {
      if (fault.kind !== 'slow') answer ??= this.decide(fault, now);
      else if (fault.rate >= 1 || this.random() < fault.rate) {
        record.delayMs += fault.ms + (fault.jitterMs > 0 ? this.random() * fault.jitterMs : 0);
      }
    }
    let gone = false;
    res.once('close', () => {
      gone = !res.writableFinished;
    });
    if (record.delayMs > 0) {
      const left = new AbortController();
      const onClose = (): void => left.abort();
      res.once('close', onClose);
      await this.clock.sleep(record.delayMs, left.signal).catch(() => undefined);
      res.off('close', onClose);
    }
    // The handler reads the body itself; every other answer drains it so the connection stays usable.
    if (answer !== undefined || gone || res.destroyed) req.resume();
    if (gone || res.destroyed) {
      record.status = 'aborted';
    } else if (answer === undefined) {
      try {
        await this.handler(req, res, { seq, phase: name });
      } catch {
        if (!res.headersSent) send(res, 500, {}, { error: 'handler_failed' });
      }
      record.status = res.statusCode;
    } else if (answer.status === 'reset') {
      record.status = 'reset';
      req.socket.resetAndDestroy();
    } else {
      record.status = answer.status;
      send(res, answer.status, answer.headers, { error: answer.error });
    }
    this.totals.byStatus[String(record.status)] = (this.totals.byStatus[String(record.status)] ?? 0) + 1;
    this.totals.byPhase[name] = (this.totals.byPhase[name] ?? 0) + 1;
    if (this.keepRecords) this.records.push(record);
    if (this.served.size > 0) this.served.emit(record);
  }

  private decide(fault: Fault, now: number): Answer | undefined {
    const verdict = judgeFault(fault, this.bucket, now, this.random);
    switch (verdict?.kind) {
      case undefined:
        return undefined;
      case 'down':
        if (verdict.reset) return { status: 'reset', headers: {}, error: 'down' };
        return {
          status: 503,
          headers: verdict.retryAfterSeconds === undefined ? {} : { 'retry-after': String(verdict.retryAfterSeconds) },
          error: 'down',
        };
      case 'flaky':
        return { status: verdict.status, headers: {}, error: 'flaky' };
      case 'rateLimited': {
        const retryAfter =
          verdict.retryAfter === 'seconds'
            ? String(Math.max(1, Math.ceil(verdict.waitMs / 1000)))
            : new Date(Math.ceil((now + verdict.waitMs) / 1000) * 1000).toUTCString();
        return { status: 429, headers: { 'retry-after': retryAfter }, error: 'rate_limited' };
      }
    }
  }
}

interface Answer {
  readonly status: number | 'reset';
  readonly headers: Record<string, string>;
  readonly error: string;
}

function send(res: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const defaultHandler: FaultServerHandler = (req, res, { seq }) => {
  req.resume();
  send(res, 200, {}, { ok: true, seq });
};
