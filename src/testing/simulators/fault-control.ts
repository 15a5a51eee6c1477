import type { Clock } from '../../internal/clock.js';
import { type Duration, toMs } from '../../internal/duration.js';
import type { Disposable } from '../../internal/events.js';
import { finite, integer, oneOf } from '../../internal/validate.js';
import { type Fault, judgeFault, type RetryAfterForm, resolvePhases, faults as build } from '../faults.js';
import { noFaults, type WebhookFaults, type WebhookOutbox } from './outbox.js';

/** How long an injected fault lasts: `forMs` and/or `forRequests`, whichever ends first; neither: until removed. */
export interface FaultWindow {
  readonly forMs?: Duration;
  readonly forRequests?: number;
}

interface Injected {
  readonly faults: readonly Fault[];
  readonly until: number | undefined;
  requestsLeft: number | undefined;
  /** Token bucket state of a `rateLimited` fault. */
  tokens: number;
  tokensAt: number;
}

/** @internal The answer injected faults chose for one request. */
export interface FaultDecision {
  readonly delayMs: number;
  readonly answer:
    | { readonly status: number | 'reset'; readonly body: unknown; readonly headers: Record<string, string>; readonly fault: string }
    | undefined;
}

/**
 * The fault injector of a simulator (`sim.faults`), changeable at run time. Request faults reuse the
 * `faults.*` builders of `faultServer()` (`slow`, `flaky`, `rateLimited`, `down`); on top of them it
 * drops connections after committing writes, misdelivers webhooks and skews the clock.
 */
export class SimulatorFaults {
  private active: Injected[] = [];
  private drops: Array<{ left: number; match: (method: string, path: string) => boolean }> = [];
  /** Current clock skew, ms added to the simulator's clock (Date header, timestamps, signatures). */
  skewMs: number;

  /** @internal */
  constructor(
    private readonly clock: Clock,
    private readonly random: () => number,
    skewMs: number,
    private readonly outbox: WebhookOutbox,
  ) {
    this.skewMs = skewMs;
  }

  /**
   * Injects request faults made with `faults.*` from `weir/testing` for a window (default: until
   * disposed or `clear()`). Several injections apply in order; the first that answers decides.
   * @throws InvalidOptionError naming the window option or the fault.
   * @example `sim.faults.inject([faults.slow(200), faults.flaky(0.2)], { forMs: '10s' })`
   */
  inject(fault: Fault | readonly Fault[], window: FaultWindow = {}): Disposable {
    const [phase] = resolvePhases([{ fault, ...window }]);
    const now = this.clock.now();
    const list = phase?.faults ?? [];
    const limiter = list.find((f) => f.kind === 'rateLimited');
    const entry: Injected = {
      faults: list,
      until: phase?.forMs === undefined ? undefined : now + phase.forMs,
      requestsLeft: phase?.forRequests,
      tokens: limiter?.kind === 'rateLimited' ? limiter.burst : 0,
      tokensAt: now,
    };
    this.active.push(entry);
    const dispose = (): void => {
      this.active = this.active.filter((e) => e !== entry);
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /** Adds `ms` (+ uniform `[0, jitterMs)`) to (a share `rate` of) requests, before they commit. */
  latency(ms: Duration, options: { jitterMs?: Duration; rate?: number } & FaultWindow = {}): Disposable {
    const { forMs, forRequests, ...slow } = options;
    return this.inject(build.slow(ms, slow), windowOf(forMs, forRequests));
  }

  /** Fails a share of requests with a 5xx (default 503) before they reach the API. */
  errorRate(rate: number, options: { status?: number } & FaultWindow = {}): Disposable {
    const { forMs, forRequests, ...flaky } = options;
    return this.inject(build.flaky(rate, flaky), windowOf(forMs, forRequests));
  }

  /**
   * A 429 storm: every request gets 429 with `Retry-After: retryAfterSeconds` (default 1) in the
   * simulator's configured form (or `retryAfter`), for the window.
   */
  rateLimitStorm(options: { retryAfterSeconds?: number; retryAfter?: RetryAfterForm } & FaultWindow = {}): Disposable {
    const seconds = integer(options.retryAfterSeconds ?? 1, 'rateLimitStorm.retryAfterSeconds', 1);
    const limiter = build.rateLimited({
      perSecond: 1 / seconds,
      burst: 1,
      ...(options.retryAfter === undefined ? {} : { retryAfter: options.retryAfter }),
    });
    const d = this.inject(limiter, windowOf(options.forMs, options.forRequests));
    const entry = this.active[this.active.length - 1];
    if (entry !== undefined) entry.tokens = 0;
    return d;
  }

  /** An outage: connections reset (`mode: 'reset'`) or 503 (`mode: '503'`, default, with `retryAfterSeconds`). */
  outage(options: { mode?: 'reset' | '503'; retryAfterSeconds?: number } & FaultWindow = {}): Disposable {
    const { forMs, forRequests, mode = '503', ...rest } = options;
    return this.inject(build.down({ mode, ...rest }), windowOf(forMs, forRequests));
  }

  /**
   * The next `count` writes that commit (default: any non-GET; `match` narrows it) are applied, then
   * the connection is destroyed without an answer. Their webhooks are still sent.
   */
  commitThenDrop(count = 1, match: (method: string, path: string) => boolean = (m) => m !== 'GET'): void {
    this.drops.push({ left: integer(count, 'commitThenDrop.count', 1), match });
  }

  /** Sets webhook faults (merged into the current ones): duplicates, lost, late, reordered. */
  webhooks(faults: WebhookFaults): void {
    const next = { ...this.outbox.faults };
    for (const key of ['duplicateRate', 'lostRate', 'delayRate'] as const) {
      const v = faults[key];
      if (v !== undefined) next[key] = finite(v, `webhooks.${key}`, 0, 1);
    }
    if (faults.delayMs !== undefined) next.delayMs = toMs(faults.delayMs, 'webhooks.delayMs');
    if (faults.reorderWindowMs !== undefined) next.reorderWindowMs = toMs(faults.reorderWindowMs, 'webhooks.reorderWindowMs');
    this.outbox.faults = next;
  }

  /** Changes the clock skew now (ms, may be negative): `Date` headers, timestamps and signatures move. */
  clockSkew(ms: number): void {
    this.skewMs = finite(ms, 'clockSkewMs', Number.NEGATIVE_INFINITY);
  }

  /** Removes every injected fault (request, drop and webhook); the skew is kept. */
  clear(): void {
    this.active = [];
    this.drops = [];
    this.outbox.faults = noFaults();
  }

  /** @internal */
  decide(_method: string, _path: string, now: number, form: RetryAfterForm): FaultDecision {
    this.active = this.active.filter((e) => (e.until === undefined || now < e.until) && (e.requestsLeft === undefined || e.requestsLeft > 0));
    let delayMs = 0;
    let answer: FaultDecision['answer'];
    for (const entry of this.active) {
      if (entry.requestsLeft !== undefined) entry.requestsLeft--;
      for (const fault of entry.faults) {
        if (fault.kind === 'slow') {
          if (fault.rate >= 1 || this.random() < fault.rate) delayMs += fault.ms + (fault.jitterMs > 0 ? this.random() * fault.jitterMs : 0);
        } else answer ??= this.answer(entry, fault, now, form);
      }
    }
    return { delayMs, answer };
  }

  /** @internal `Retry-After` for a wait, in a form; an HTTP-date is on the skewed clock. */
  retryAfterValue(waitMs: number, form: RetryAfterForm, now: number): string {
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    return form === 'seconds' ? String(seconds) : new Date(Math.ceil((now + this.skewMs) / 1000) * 1000 + seconds * 1000).toUTCString();
  }

  /** @internal Consumes one armed drop for this write, if any. */
  takeDrop(method: string, path: string): boolean {
    const drop = this.drops.find((d) => d.left > 0 && d.match(method, path));
    if (drop === undefined) return false;
    drop.left--;
    this.drops = this.drops.filter((d) => d.left > 0);
    return true;
  }

  /** @internal */
  close(): void {
    this.active = [];
    this.drops = [];
  }

  private answer(entry: Injected, fault: Fault, now: number, form: RetryAfterForm): FaultDecision['answer'] {
    const verdict = judgeFault(fault, entry, now, this.random);
    switch (verdict?.kind) {
      case undefined:
        return undefined;
      case 'down':
        return {
          status: verdict.reset ? 'reset' : 503,
          body: { error: 'unavailable' },
          headers: verdict.retryAfterSeconds === undefined ? {} : { 'retry-after': String(verdict.retryAfterSeconds) },
          fault: 'outage',
        };
      case 'flaky':
        return { status: verdict.status, body: { error: 'server_error' }, headers: {}, fault: 'error' };
      case 'rateLimited': {
        const chosen = verdict.retryAfter === 'http-date' ? 'http-date' : form;
        return { status: 429, body: { error: 'rate_limited' }, headers: { 'retry-after': this.retryAfterValue(verdict.waitMs, chosen, now) }, fault: 'rate_limit_storm' };
      }
    }
  }
}

function windowOf(forMs: Duration | undefined, forRequests: number | undefined): FaultWindow {
  return { ...(forMs === undefined ? {} : { forMs }), ...(forRequests === undefined ? {} : { forRequests }) };
}

/** @internal */
export const retryAfterForms = (value: unknown, option: string): RetryAfterForm => oneOf(value, option, ['seconds', 'http-date'] as const);
