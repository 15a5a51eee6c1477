import { InvalidOptionError } from '../errors.js';
import { type Duration, toMs } from '../internal/duration.js';
import { finite, integer, oneOf } from '../internal/validate.js';

/** How a rate-limited answer tells the client when to come back (both forms of `Retry-After`). */
export type RetryAfterForm = 'seconds' | 'http-date';

/** One behaviour of a {@link FaultPhase}. Build them with {@link faults}. */
export type Fault =
  | { readonly kind: 'ok' }
  | { readonly kind: 'flaky'; readonly rate: number; readonly status: number }
  | { readonly kind: 'slow'; readonly ms: number; readonly jitterMs: number; readonly rate: number }
  | {
      readonly kind: 'rateLimited';
      readonly perSecond: number;
      readonly burst: number;
      readonly retryAfter: RetryAfterForm;
    }
  | { readonly kind: 'down'; readonly mode: 'reset' | '503'; readonly retryAfterSeconds: number | undefined };

/**
 * One phase of a fault schedule. It lasts `forMs`, or `forRequests` requests, whichever ends
 * first; a phase with neither lasts for ever. Its faults apply in order to each request: `slow`
 * adds a delay, then the first fault that answers (`down`, `rateLimited`, `flaky`) decides the
 * response; if none does, the request is served normally.
 */
export interface FaultPhase {
  /** One fault or several combined, e.g. `[faults.slow(200), faults.flaky(0.1)]`. */
  readonly fault: Fault | readonly Fault[];
  /** How long the phase lasts (ms or `'5s'`), counted from the moment it starts. */
  readonly forMs?: Duration;
  /** How many requests the phase serves before the next one starts. */
  readonly forRequests?: number;
  /** A label for records and reports; default: the fault kinds, e.g. `'slow+flaky'`. */
  readonly name?: string;
}

/**
 * Builders for {@link Fault}s, the steps of a `faultServer()` schedule (import from `weir/testing`).
 * Every builder validates its options eagerly.
 *
 * @example
 * ```ts
 * const phases = [
 *   { fault: faults.ok(), forMs: '2s' },
 *   { fault: faults.flaky(0.3), forRequests: 100 },
 *   { fault: faults.rateLimited({ perSecond: 10, retryAfter: 'http-date' }), forMs: '3s' },
 *   { fault: faults.down(), forMs: '2s' },
 * ];
 * ```
 */
export const faults = {
  /** Serves every request normally. */
  ok(): Fault {
    return { kind: 'ok' };
  },
  /**
   * Fails a share of requests with a 5xx.
   * @param rate probability of failure, from 0 to 1.
   * @param options.status the status served on failure (500 to 599); default 503.
   * @throws InvalidOptionError naming `flaky.rate` or `flaky.status`.
   */
  flaky(rate: number, options: { status?: number } = {}): Fault {
    return {
      kind: 'flaky',
      rate: finite(rate, 'flaky.rate', 0, 1),
      status: integer(options.status ?? 503, 'flaky.status', 500, 599),
    };
  },
  /**
   * Delays requests by `ms` plus a uniform random extra in [0, `jitterMs`): every request, or only
   * a share of them with `rate` (0 to 1, default 1), for a long tail where most answers are fast.
   * @throws InvalidOptionError naming `slow.ms`, `slow.jitterMs` or `slow.rate`.
   */
  slow(ms: Duration, options: { jitterMs?: Duration; rate?: number } = {}): Fault {
    return {
      kind: 'slow',
      ms: toMs(ms, 'slow.ms'),
      jitterMs: toMs(options.jitterMs ?? 0, 'slow.jitterMs'),
      rate: finite(options.rate ?? 1, 'slow.rate', 0, 1),
    };
  },
  /**
   * A token bucket: `perSecond` requests a second (bursts up to `burst`, default `perSecond`); the
   * rest get 429 with `Retry-After` in the given form (default `'seconds'`). The bucket starts full
   * when the phase starts.
   * @throws InvalidOptionError naming `rateLimited.perSecond`, `.burst` or `.retryAfter`.
   */
  rateLimited(options: { perSecond: number; burst?: number; retryAfter?: RetryAfterForm }): Fault {
    const perSecond = finite(options?.perSecond, 'rateLimited.perSecond', Number.MIN_VALUE);
    const burst = finite(options.burst ?? Math.max(1, perSecond), 'rateLimited.burst', 1);
    const retryAfter = oneOf(options.retryAfter ?? 'seconds', 'rateLimited.retryAfter', ['seconds', 'http-date'] as const);
    return { kind: 'rateLimited', perSecond, burst, retryAfter };
  },
  /**
   * The service is down: each connection is reset (`mode: 'reset'`, the default) or answered with 503
   * (`mode: '503'`, with `Retry-After: retryAfterSeconds` when given).
   * @throws InvalidOptionError naming `down.mode` or `down.retryAfterSeconds`.
   */
  down(options: { mode?: 'reset' | '503'; retryAfterSeconds?: number } = {}): Fault {
    const mode = oneOf(options.mode ?? 'reset', 'down.mode', ['reset', '503'] as const);
    const retryAfterSeconds =
      options.retryAfterSeconds === undefined ? undefined : integer(options.retryAfterSeconds, 'down.retryAfterSeconds', 0);
    return { kind: 'down', mode, retryAfterSeconds };
  },
} as const;

/** A phase with its options checked and parsed. */
export interface ResolvedPhase {
  readonly name: string;
  readonly faults: readonly Fault[];
  readonly forMs: number | undefined;
  readonly forRequests: number | undefined;
}

const kinds = new Set(['ok', 'flaky', 'slow', 'rateLimited', 'down']);

/** @internal Validates a schedule eagerly. */
export function resolvePhases(phases: readonly FaultPhase[] | undefined): ResolvedPhase[] {
  if (phases === undefined) return [];
  if (!Array.isArray(phases)) throw new InvalidOptionError('faultServer.phases', 'an array of phases', phases);
  return phases.map((phase: FaultPhase, i) => {
    const option = `faultServer.phases[${i}]`;
    if (typeof phase !== 'object' || phase === null) throw new InvalidOptionError(option, 'a phase object', phase);
    const list: readonly Fault[] = Array.isArray(phase.fault) ? phase.fault : [phase.fault as Fault];
    for (const f of list) {
      if (typeof f !== 'object' || f === null || !kinds.has(f.kind)) {
        throw new InvalidOptionError(`${option}.fault`, 'a fault made with faults.ok/flaky/slow/rateLimited/down', f);
      }
    }
    return {
      name: phase.name ?? (list.length === 0 ? 'ok' : list.map((f) => f.kind).join('+')),
      faults: list,
      forMs: phase.forMs === undefined ? undefined : toMs(phase.forMs, `${option}.forMs`),
      forRequests: phase.forRequests === undefined ? undefined : integer(phase.forRequests, `${option}.forRequests`, 1),
    };
  });
}

/** @internal The token bucket a `rateLimited` fault keeps between requests. */
export interface FaultBucket {
  tokens: number;
  tokensAt: number;
}

/** @internal What a request fault (other than `slow`) decides for one request; each server formats it. */
export type FaultVerdict =
  | { readonly kind: 'down'; readonly reset: boolean; readonly retryAfterSeconds: number | undefined }
  | { readonly kind: 'flaky'; readonly status: number }
  | { readonly kind: 'rateLimited'; readonly waitMs: number; readonly retryAfter: RetryAfterForm };

/**
 * @internal Shared by `faultServer()` and the CRM/ESP simulators: `undefined` lets the request
 * through. A `rateLimited` fault refills `bucket` lazily from `now` and takes one token.
 */
export function judgeFault(fault: Fault, bucket: FaultBucket, now: number, random: () => number): FaultVerdict | undefined {
  switch (fault.kind) {
    case 'down':
      return { kind: 'down', reset: fault.mode === 'reset', retryAfterSeconds: fault.retryAfterSeconds };
    case 'flaky':
      return random() < fault.rate ? { kind: 'flaky', status: fault.status } : undefined;
    case 'rateLimited': {
      bucket.tokens = Math.min(fault.burst, bucket.tokens + ((now - bucket.tokensAt) / 1000) * fault.perSecond);
      bucket.tokensAt = now;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return undefined;
      }
      return { kind: 'rateLimited', waitMs: ((1 - bucket.tokens) / fault.perSecond) * 1000, retryAfter: fault.retryAfter };
    }
    default:
      return undefined;
  }
}
