/**
 * The option, event and snapshot types of `circuitBreaker()`, and their validation: everything
 * is checked once, at construction, and turned into a flat config the call path reads without
 * further checks.
 */
import { InvalidOptionError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import { type Duration, toMs } from '../internal/duration.js';
import { fn, integer, oneOf } from '../internal/validate.js';
import { CountWindow, type SlidingWindow, TimeWindow, type WindowSnapshot } from './breaker-window.js';
import type { Classifier } from './classify.js';
import type { Backoff } from './types.js';

/**
 * When the breaker opens. Either `consecutive` failures in a row, or a failure rate over a sliding
 * window: the last `windowMs` (default 10 000 ms, in `buckets` buckets, default 10) or the last
 * `windowSize` calls. The rate is only judged once the window holds `minimumCalls` (> 0) calls.
 * With `slowCallMs`, calls that take at least that long (measured on the clock) also open the
 * breaker once their share reaches `slowCallRate` (default: `failureRate`).
 */
export type BreakerStrategy =
  | { consecutive: number }
  | {
      /** Share of counted calls that fail, 0 < rate <= 1, at which the breaker opens. */
      failureRate: number;
      /** Counted calls the window must hold before the rate is judged (> 0; at most `windowSize`). */
      minimumCalls: number;
      /** Length of the time window in ms, default 10 000. Not together with `windowSize`. */
      windowMs?: number;
      /** Buckets the time window is split into, default 10: old calls leave one bucket at a time. */
      buckets?: number;
      /** Count window instead of a time window: the last `windowSize` counted calls. */
      windowSize?: number;
      /** A call that takes at least this many ms (success or failure) is slow. */
      slowCallMs?: number;
      /** Share of slow calls, 0 < rate <= 1, at which the breaker opens; default `failureRate`. */
      slowCallRate?: number;
    };

/** Options of `circuitBreaker()`; every one is optional. */
export interface CircuitBreakerOptions {
  /** How long the breaker stays open (ms or `'30s'`), default 30 000; a `Backoff` grows it on each re-open in a row: `delayMs(n, previousMs, random)`. */
  openMs?: Duration | Backoff;
  /** Trial calls let through at once when half-open, default 1. The others are rejected at once (never queued). */
  halfOpenProbes?: number;
  /** If the probes in flight have not all finished this long after the first of them started, the breaker re-opens. Default: `openMs` (60 000 with a Backoff). */
  halfOpenMaxWaitMs?: Duration;
  /** Classifies each outcome once; default `defaultClassifier`. Only `success` and `transient` are counted. */
  classify?: Classifier;
  /** Default: the system clock. */
  clock?: Clock;
  /** Shown in errors, events and diagnostics. */
  name?: string;
  /** Random source in [0, 1) handed to the open-time backoff, default `Math.random`. */
  random?: () => number;
  /** State to start from, as returned by `toJSON()` (e.g. persisted across a restart). */
  snapshot?: BreakerSnapshot;
}

/** Why the state changed. */
export type BreakerReason =
  | 'consecutive'
  | 'failure-rate'
  | 'slow-call-rate'
  | 'probe-failed'
  | 'probe-slow'
  | 'half-open-timeout'
  | 'open-elapsed'
  | 'probes-succeeded'
  | 'isolated'
  | 'isolation-released'
  | 'reset';

/** Passed to `onStateChange` (and `onHalfOpen`, `onReset`) and published on `weir:policy:breaker`. */
export interface BreakerStateChange {
  readonly name: string | undefined;
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: BreakerReason;
  /** The generation entered by this change. */
  readonly generation: number;
}

/** Passed to `onBreak`. */
export interface BreakerBreakEvent extends BreakerStateChange {
  /** How long this open period lasts, in ms. */
  readonly openMs: number;
  /** Re-opens in a row without closing (0 for a first break). */
  readonly reopenCount: number;
}

/** Passed to `onReject` when a call is refused without running. */
export interface BreakerRejectEvent {
  readonly name: string | undefined;
  readonly state: BreakerState;
  readonly retryAfterMs: number;
}

/** The state of a breaker. `isolated` is held open by `isolate()` until released. */
export type BreakerState = 'closed' | 'open' | 'half-open' | 'isolated';

/** A breaker's state as JSON, from `toJSON()`; pass it back as the `snapshot` option to hydrate. */
export interface BreakerSnapshot {
  readonly version: 1;
  readonly state: BreakerState;
  readonly generation: number;
  /** Epoch ms the current open (or isolated) period began; null when closed. */
  readonly openedAt: number | null;
  /** Epoch ms the open period ends (or ended, when half-open); null when closed or isolated. */
  readonly openUntil: number | null;
  /** Length of the last open period, in ms (the backoff's `previousMs`). */
  readonly lastOpenMs: number;
  /** Re-opens in a row without closing. */
  readonly reopenCount: number;
  readonly window: WindowSnapshot;
}

/** @internal The validated options of one breaker (the window is that breaker's own). */
export interface BreakerConfig {
  /** Consecutive mode threshold; `Infinity` in failure-rate mode. */
  readonly consecutive: number;
  /** The failure-rate window; undefined in consecutive mode. */
  readonly window: SlidingWindow | undefined;
  readonly failureRate: number;
  readonly minimumCalls: number;
  readonly slowCallMs: number | undefined;
  readonly slowCallRate: number;
  readonly halfOpenProbes: number;
  readonly halfOpenMaxWaitMs: number;
  /** The `retryAfterMs` hint while isolated (no end is known): the first open duration. */
  readonly isolatedRetryMs: number;
  /** Length of open period number `n` (1 = first break), given the previous one. Never throws. */
  openDuration(n: number, previousMs: number): number;
}

const DEFAULT_OPEN_MS = 30_000;
const DEFAULT_BACKOFF_MAX_WAIT_MS = 60_000;
const DEFAULT_WINDOW_MS = 10_000;
const DEFAULT_BUCKETS = 10;
/** Open periods are capped so `openUntil` stays a safe, JSON-friendly number. */
const MAX_OPEN_MS = 2_147_483_647;
const P = 'circuitBreaker';

/** @internal Validates strategy and options; throws {@link InvalidOptionError} naming the first bad option. */
export function parseBreaker(strategy: BreakerStrategy, options: CircuitBreakerOptions): BreakerConfig {
  if (typeof strategy !== 'object' || strategy === null) {
    throw new InvalidOptionError(`${P}.strategy`, '{ consecutive } or { failureRate, minimumCalls }', strategy);
  }
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError(`${P}.options`, 'an object', options);
  const s = strategy as Partial<Record<string, unknown>>;
  const hasConsecutive = s['consecutive'] !== undefined;
  if (hasConsecutive === (s['failureRate'] !== undefined)) {
    throw new InvalidOptionError(`${P}.strategy`, 'exactly one of { consecutive } or { failureRate, minimumCalls }', strategy);
  }
  let consecutive = Number.POSITIVE_INFINITY;
  let window: SlidingWindow | undefined;
  let failureRate = 1;
  let minimumCalls = 1;
  let slowCallMs: number | undefined;
  let slowCallRate = 1;
  if (hasConsecutive) {
    consecutive = integer(s['consecutive'], `${P}.consecutive`, 1);
  } else {
    failureRate = rate(s['failureRate'], `${P}.failureRate`);
    minimumCalls = integer(s['minimumCalls'], `${P}.minimumCalls`, 1);
    if (s['windowSize'] !== undefined) {
      if (s['windowMs'] !== undefined) throw new InvalidOptionError(`${P}.windowSize`, 'not together with windowMs', s['windowSize']);
      if (s['buckets'] !== undefined) throw new InvalidOptionError(`${P}.buckets`, 'only with a time window (windowMs)', s['buckets']);
      const size = integer(s['windowSize'], `${P}.windowSize`, 1, 10_000_000);
      if (minimumCalls > size) throw new InvalidOptionError(`${P}.minimumCalls`, `at most windowSize (${size})`, minimumCalls);
      window = new CountWindow(size);
    } else {
      const windowMs = s['windowMs'] === undefined ? DEFAULT_WINDOW_MS : positive(s['windowMs'], `${P}.windowMs`);
      const buckets = s['buckets'] === undefined ? DEFAULT_BUCKETS : integer(s['buckets'], `${P}.buckets`, 1, 10_000);
      window = new TimeWindow(windowMs, buckets);
    }
    if (s['slowCallMs'] !== undefined) {
      slowCallMs = positive(s['slowCallMs'], `${P}.slowCallMs`);
      slowCallRate = s['slowCallRate'] === undefined ? failureRate : rate(s['slowCallRate'], `${P}.slowCallRate`);
    } else if (s['slowCallRate'] !== undefined) {
      throw new InvalidOptionError(`${P}.slowCallRate`, 'only together with slowCallMs', s['slowCallRate']);
    }
  }

  const random = options.random === undefined ? Math.random : fn<() => number>(options.random, `${P}.random`);
  const openMs = options.openMs ?? DEFAULT_OPEN_MS;
  let openDuration: (n: number, previousMs: number) => number;
  let firstOpenMs: number;
  if (typeof openMs === 'object' && openMs !== null) {
    if (typeof (openMs as Partial<Backoff>).delayMs !== 'function') {
      throw new InvalidOptionError(`${P}.openMs`, 'a duration or a Backoff', openMs);
    }
    const backoff = openMs as Backoff;
    openDuration = (n, previousMs) => {
      try {
        return clampOpenMs(backoff.delayMs(n, previousMs, random));
      } catch {
        return previousMs > 0 ? previousMs : DEFAULT_OPEN_MS; // a throwing backoff must not break a call
      }
    };
    firstOpenMs = openDuration(1, 0);
  } else {
    firstOpenMs = Math.min(toMs(openMs, `${P}.openMs`), MAX_OPEN_MS);
    openDuration = () => firstOpenMs;
  }
  const isBackoff = typeof openMs === 'object';
  const halfOpenMaxWaitMs =
    options.halfOpenMaxWaitMs === undefined
      ? isBackoff || firstOpenMs === 0
        ? DEFAULT_BACKOFF_MAX_WAIT_MS
        : firstOpenMs
      : positive(toMs(options.halfOpenMaxWaitMs, `${P}.halfOpenMaxWaitMs`), `${P}.halfOpenMaxWaitMs`);
  if (options.classify !== undefined) fn(options.classify, `${P}.classify`);
  if (options.clock !== undefined && typeof (options.clock as { now?: unknown } | null)?.now !== 'function') {
    throw new InvalidOptionError(`${P}.clock`, 'a Clock', options.clock);
  }
  if (options.name !== undefined && typeof options.name !== 'string') throw new InvalidOptionError(`${P}.name`, 'a string', options.name);
  return {
    consecutive,
    window,
    failureRate,
    minimumCalls,
    slowCallMs,
    slowCallRate,
    halfOpenProbes: options.halfOpenProbes === undefined ? 1 : integer(options.halfOpenProbes, `${P}.halfOpenProbes`, 1, 1_000_000),
    halfOpenMaxWaitMs,
    isolatedRetryMs: Math.max(1, firstOpenMs),
    openDuration,
  };
}

/** @internal Checks a snapshot's shape; throws {@link InvalidOptionError} naming the bad field. */
export function parseSnapshot(input: unknown): BreakerSnapshot {
  const o = `${P}.snapshot`;
  if (typeof input !== 'object' || input === null) throw new InvalidOptionError(o, 'an object from toJSON()', input);
  const s = input as Partial<Record<keyof BreakerSnapshot, unknown>>;
  if (s.version !== 1) throw new InvalidOptionError(`${o}.version`, '1', s.version);
  oneOf(s.state, `${o}.state`, ['closed', 'open', 'half-open', 'isolated']);
  integer(s.generation, `${o}.generation`, 0);
  integer(s.reopenCount, `${o}.reopenCount`, 0);
  for (const key of ['openedAt', 'openUntil'] as const) {
    if (s[key] !== null && !Number.isFinite(s[key])) throw new InvalidOptionError(`${o}.${key}`, 'epoch ms or null', s[key]);
  }
  if (!(typeof s.lastOpenMs === 'number' && Number.isFinite(s.lastOpenMs) && s.lastOpenMs >= 0)) {
    throw new InvalidOptionError(`${o}.lastOpenMs`, 'a finite number from 0', s.lastOpenMs);
  }
  const w = s.window as { kind?: unknown; failures?: unknown } | null;
  if (typeof w !== 'object' || w === null) throw new InvalidOptionError(`${o}.window`, 'an object', w);
  oneOf(w.kind, `${o}.window.kind`, ['consecutive', 'count', 'time']);
  if (w.kind === 'consecutive') integer(w.failures, `${o}.window.failures`, 0);
  return input as BreakerSnapshot;
}

function rate(value: unknown, option: string): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) throw new InvalidOptionError(option, 'a number > 0 and <= 1', value);
  return value;
}

function positive(value: unknown, option: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, 'a finite number of ms > 0', value);
  }
  return value;
}

function clampOpenMs(ms: number): number {
  if (Number.isNaN(ms) || ms < 0) return 0;
  return ms > MAX_OPEN_MS ? MAX_OPEN_MS : ms;
}
