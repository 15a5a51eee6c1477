import { request, type Dispatcher } from 'undici';
import { InvalidOptionError } from '../errors.js';
import { type Clock, type Timer, systemClock } from '../internal/clock.js';
import { type Disposable, Emitter, type Event } from '../internal/events.js';
import { integer } from '../internal/validate.js';
import type { BreakerState } from '../policy/breaker-options.js';
import type { TopicStats } from '../store/queue.js';
import { type AlertRule, RateWindow, type ResolvedRules, resolveRules } from './alert-rules.js';
import { HTTP_METRICS, type MetricMeter, noopMeter } from './metrics.js';

export type { AlertRule, BreakerOpenRule, DeadLettersRule, ErrorRateRule, QueueAgeRule, QueueDepthRule, SyncLagRule } from './alert-rules.js';

/** What the alert webhook receives (flagship contract, section 4). */
export interface Alert {
  readonly name: string;
  readonly state: 'firing' | 'resolved';
  readonly system?: string;
  /** Epoch ms of the transition. */
  readonly at: number;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** A delivery that failed after every attempt (counted in `failed`). */
export interface AlertDeliveryError {
  readonly alert: Alert;
  readonly error: unknown;
  readonly attempts: number;
}

export interface AlertsOptions {
  /** Where alerts are POSTed as JSON (`WEIR_ALERT_WEBHOOK_URL`). */
  readonly url: string | URL;
  readonly rules: readonly AlertRule[];
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** undici dispatcher for the POSTs (proxy, TLS). Default: undici's global one. */
  readonly dispatcher?: Dispatcher;
  /** Replaces the HTTP POST (tests, other channels). A rejection counts as a failed attempt. */
  readonly transport?: (alert: Alert, signal: AbortSignal) => Promise<void>;
  /** Extra request headers, e.g. `authorization`. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Attempts per alert, 1..10. Default 3 (waiting 1 s, then 2 s). */
  readonly attempts?: number;
  /** Per attempt, ms. Default 10_000. */
  readonly timeoutMs?: number;
  /** Polled rules (error rate, queues, dead letters) run this often on an unref'd timer, ms; 0 turns it off. Default 15_000. */
  readonly evaluateEveryMs?: number;
  /** Alerts waiting to be sent beyond this are dropped (oldest first) and counted. Default 1000. */
  readonly maxPending?: number;
}

/** Something that emits alert transitions already (`scheduleReconciliation(…)` does). */
export interface AlertSource {
  readonly onAlert: Event<Alert>;
}

/** A breaker, structurally. */
export interface WatchableBreaker {
  readonly name?: string | undefined;
  readonly state: BreakerState;
  readonly onStateChange: Event<{ readonly from: BreakerState; readonly to: BreakerState; readonly reason: string }>;
}

/** Delivery counters. */
export interface AlertStats {
  /** Alerts the webhook accepted (2xx). */
  readonly sent: number;
  /** Alerts given up after every attempt. */
  readonly failed: number;
  /** Alerts dropped because too many were pending, or pending at `close()`. */
  readonly dropped: number;
  /** Attempts that failed and were retried. */
  readonly retries: number;
}

/**
 * The alert manager: turns breaker changes, request outcomes, queue samples, sync lag and forwarded
 * transitions into deduplicated `firing`/`resolved` alerts, POSTed in order, never blocking the caller.
 */
export class AlertManager {
  private readonly rules: ResolvedRules;
  private readonly clock: Clock;
  private readonly firing = new Map<string, Alert>();
  private readonly windows = new Map<string, RateWindow>();
  private readonly queues = new Map<{ stats(): Promise<readonly TopicStats[]> }, { system: string | undefined; dead: number; lastRise: number }>();
  private readonly subs = new Set<Disposable>();
  private readonly errors = new Emitter<AlertDeliveryError>();
  private readonly transitions = new Emitter<Alert>();
  private readonly pending: Alert[] = [];
  private readonly abort = new AbortController();
  private counts = { sent: 0, failed: 0, dropped: 0, retries: 0 };
  private sending: Promise<void> | undefined;
  private evaluating: Promise<readonly Alert[]> = Promise.resolve([]);
  private timer: Timer | undefined;
  private closed = false;
  private readonly attempts: number;
  private readonly timeoutMs: number;
  private readonly maxPending: number;
  private readonly url: URL;

  /** A delivery failed after every attempt. */
  readonly onDeliveryError: Event<AlertDeliveryError> = this.errors.event;
  /** Every transition as it is queued for delivery (firing or resolved). */
  readonly onAlert: Event<Alert> = this.transitions.event;

  /** @internal use {@link alerts}. */
  constructor(private readonly o: AlertsOptions) {
    try {
      this.url = new URL(o.url);
    } catch {
      throw new InvalidOptionError('url', 'an absolute http(s) URL', o.url);
    }
    if (this.url.protocol !== 'http:' && this.url.protocol !== 'https:') throw new InvalidOptionError('url', 'an absolute http(s) URL', o.url);
    this.rules = resolveRules(o.rules);
    this.clock = o.clock ?? systemClock;
    this.attempts = integer(o.attempts ?? 3, 'attempts', 1, 10);
    this.timeoutMs = integer(o.timeoutMs ?? 10_000, 'timeoutMs', 1);
    this.maxPending = integer(o.maxPending ?? 1000, 'maxPending', 1);
    const every = integer(o.evaluateEveryMs ?? 15_000, 'evaluateEveryMs', 0);
    if (o.transport !== undefined && typeof o.transport !== 'function') throw new InvalidOptionError('transport', 'a function', o.transport);
    if (every > 0) this.arm(every);
  }

  /** Delivery counters so far. */
  get stats(): AlertStats {
    return { ...this.counts };
  }

  /** The alerts firing now. */
  active(): readonly Alert[] {
    return [...this.firing.values()];
  }

  /** Fires `circuit_open` for `system` when the breaker opens, resolves it when the breaker closes. Needs a `breaker_open` rule. */
  watchBreaker(system: string, breaker: WatchableBreaker): Disposable {
    const rule = this.rules.breaker;
    if (rule === undefined) return this.track(() => {});
    const detail = (from: BreakerState, to: BreakerState, reason: string) => ({ breaker: breaker.name ?? system, from, to, reason });
    if (breaker.state === 'open' || breaker.state === 'half-open') this.transition(rule.name, system, true, detail(breaker.state, breaker.state, 'watched'));
    const sub = breaker.onStateChange(({ from, to, reason }) => {
      if (to === 'open') this.transition(rule.name, system, true, detail(from, to, reason));
      else if (to === 'closed') this.transition(rule.name, system, false, detail(from, to, reason));
    });
    return this.track(() => sub.dispose());
  }

  /** Counts one request for the error-rate rule: `error` for 5xx, timeouts and network errors. */
  recordRequest(system: string, error: boolean, at: number = this.clock.now()): void {
    const rule = this.rules.errorRate;
    if (rule === undefined || this.closed) return;
    let w = this.windows.get(system);
    if (w === undefined) this.windows.set(system, (w = new RateWindow(rule.windowMs)));
    w.add(at, error);
  }

  /**
   * A {@link MetricMeter} that feeds {@link recordRequest} from a connection's
   * `weir_api_requests_total` and passes everything on to `inner`.
   * @example `connection({ name: 'esp', baseUrl, metrics: alerts.meter(prom.meter) })`
   */
  meter(inner: MetricMeter = noopMeter): MetricMeter {
    return {
      counter: (name, options) => {
        const c = inner.counter(name, options);
        if (name !== HTTP_METRICS.requests) return c;
        return {
          add: (value = 1, labels) => {
            c.add(value, labels);
            const system = labels?.['system'];
            const cls = labels?.['status_class'];
            if (system !== undefined) for (let i = 0; i < value; i++) this.recordRequest(system, cls === '5xx' || cls === 'error');
          },
        };
      },
      histogram: (name, options) => inner.histogram(name, options),
      gauge: (name, options) => inner.gauge(name, options),
    };
  }

  /** Samples a queue's stats on every {@link evaluate} for the depth, age and dead-letter rules. */
  watchQueue(queue: { stats(): Promise<readonly TopicStats[]> }, options: { system?: string } = {}): Disposable {
    this.queues.set(queue, { system: options.system, dead: 0, lastRise: 0 });
    return this.track(() => this.queues.delete(queue));
  }

  /** Reports how far a sync is behind, ms; fires/resolves `sync_lag` for `system` at once. */
  reportSyncLag(system: string, lagMs: number, at: number = this.clock.now()): void {
    const rule = this.rules.syncLag;
    if (rule === undefined || !Number.isFinite(lagMs)) return;
    this.transition(rule.name, system, lagMs > rule.maxLagMs, { lagMs, maxLagMs: rule.maxLagMs }, at);
  }

  /** Forwards transitions from `source.onAlert` (e.g. `scheduleReconciliation`'s), deduplicated by name and system. */
  forward(source: AlertSource): Disposable {
    const sub = source.onAlert((a) => this.transition(a.name, a.system, a.state === 'firing', a.detail, a.at));
    return this.track(() => sub.dispose());
  }

  /** Runs the polled rules at `now`: error rate, queue depth and age, dead letters. Returns the transitions it caused. */
  evaluate(now: number = this.clock.now()): Promise<readonly Alert[]> {
    this.evaluating = this.evaluating.then(() => this.run(now), () => this.run(now));
    return this.evaluating;
  }

  /** Resolves once every alert queued so far was delivered or given up. */
  async flush(): Promise<void> {
    while (this.sending !== undefined) await this.sending;
  }

  /** Stops the timer and every watch; waits up to `graceMs` (default 5000, real time) for pending alerts, then drops the rest. */
  async close(graceMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.timer?.close();
    for (const d of this.subs) d.dispose(); // deleting the current entry is safe in a Set walk
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.flush(), new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
    clearTimeout(t);
    this.abort.abort();
    this.counts.dropped += this.pending.splice(0).length;
    await this.sending?.catch(() => {});
  }

  private async run(now: number): Promise<readonly Alert[]> {
    const out: Alert[] = [];
    const emit = (a: Alert | undefined): void => void (a !== undefined && out.push(a));
    const { errorRate, queueDepth, queueAge, deadLetters } = this.rules;
    if (errorRate !== undefined) {
      for (const [system, w] of this.windows) {
        const { total, errors } = w.totals(now);
        const rate = total === 0 ? 0 : errors / total;
        const on = total >= errorRate.minRequests && rate >= errorRate.threshold;
        emit(this.transition(errorRate.name, system, on, { rate, errors, total, windowMs: errorRate.windowMs, threshold: errorRate.threshold }, now));
        if (total === 0) this.windows.delete(system);
      }
    }
    if (queueDepth === undefined && queueAge === undefined && deadLetters === undefined) return out;
    for (const [queue, q] of this.queues) {
      let topics: readonly TopicStats[];
      try {
        topics = await queue.stats();
      } catch {
        continue;
      }
      let dead = 0;
      for (const t of topics) {
        dead += t.dead + t.blocked;
        const key = (name: string): string => `${name}\u0000${t.topic}`;
        if (queueDepth !== undefined) {
          const depth = t.ready + t.scheduled + t.waiting + t.active;
          emit(this.transition(key(queueDepth.name), q.system, depth > queueDepth.max, { topic: t.topic, depth, max: queueDepth.max }, now, queueDepth.name));
        }
        if (queueAge !== undefined) {
          const ageMs = t.oldestReadyAt === null ? 0 : Math.max(0, now - t.oldestReadyAt);
          emit(this.transition(key(queueAge.name), q.system, ageMs > queueAge.maxAgeMs, { topic: t.topic, ageMs, maxAgeMs: queueAge.maxAgeMs }, now, queueAge.name));
        }
      }
      if (deadLetters !== undefined) {
        const rose = dead > q.dead;
        if (rose) q.lastRise = now;
        const detail = { count: dead, previous: q.dead };
        const on = rose || (dead > 0 && this.firing.has(this.key(deadLetters.name, q.system)) && now - q.lastRise < deadLetters.quietMs);
        emit(this.transition(deadLetters.name, q.system, on, detail, now));
        q.dead = dead;
      }
    }
    return out;
  }

  private key(name: string, system: string | undefined): string {
    return `${name}\u0001${system ?? ''}`;
  }

  /** Records a state; queues an alert only when it changed. `id` keys it, `name` is what is sent. */
  private transition(id: string, system: string | undefined, on: boolean, detail: Readonly<Record<string, unknown>>, at = this.clock.now(), name = id): Alert | undefined {
    if (this.closed) return undefined;
    const key = this.key(id, system);
    if (this.firing.has(key) === on) return undefined;
    const alert: Alert = { name, state: on ? 'firing' : 'resolved', ...(system === undefined ? {} : { system }), at, detail };
    if (on) this.firing.set(key, alert);
    else this.firing.delete(key);
    this.enqueue(alert);
    return alert;
  }

  private enqueue(alert: Alert): void {
    this.transitions.emit(alert);
    this.pending.push(alert);
    if (this.pending.length > this.maxPending) {
      this.pending.shift();
      this.counts.dropped++;
    }
    if (this.sending === undefined) {
      this.sending = this.drain().finally(() => (this.sending = undefined));
    }
  }

  private async drain(): Promise<void> {
    for (let alert = this.pending.shift(); alert !== undefined; alert = this.pending.shift()) await this.deliver(alert);
  }

  private async deliver(alert: Alert): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.post(alert);
        this.counts.sent++;
        return;
      } catch (error) {
        const permanent = (error as { permanent?: boolean }).permanent === true;
        if (attempt >= this.attempts || permanent || this.abort.signal.aborted) {
          this.counts.failed++;
          this.errors.emit({ alert, error, attempts: attempt });
          return;
        }
        this.counts.retries++;
        try {
          await this.clock.sleep(1000 * 2 ** (attempt - 1), this.abort.signal);
        } catch {
          // closing: the next attempt's check gives up
        }
      }
    }
  }

  private async post(alert: Alert): Promise<void> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(this.abort.signal.reason);
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    const timer = this.clock.setTimer(this.timeoutMs, () => ac.abort(new Error('alert webhook timed out')));
    try {
      if (this.o.transport !== undefined) return await this.o.transport(alert, ac.signal);
      const res = await request(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.o.headers },
        body: JSON.stringify(alert),
        signal: ac.signal,
        ...(this.o.dispatcher === undefined ? {} : { dispatcher: this.o.dispatcher }),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return;
      const retryable = res.statusCode >= 500 || res.statusCode === 408 || res.statusCode === 429;
      throw Object.assign(new Error(`alert webhook answered ${res.statusCode}`), { status: res.statusCode, permanent: !retryable });
    } finally {
      timer.close();
      this.abort.signal.removeEventListener('abort', onAbort);
    }
  }

  private arm(every: number): void {
    this.timer = this.clock.setTimer(every, () => {
      this.evaluate().catch(() => {}).finally(() => {
        if (!this.closed) this.arm(every);
      });
    });
    this.timer.unref();
  }

  private track(dispose: () => void): Disposable {
    const d: Disposable = {
      dispose: () => {
        if (this.subs.delete(d)) dispose();
      },
      [Symbol.dispose]: () => d.dispose(),
    };
    this.subs.add(d);
    return d;
  }
}

/**
 * Creates an {@link AlertManager} POSTing `{ name, state, system?, at, detail }` to `url`: each alert
 * (keyed by name and system, and topic for queue rules) is sent once when it starts firing and once
 * when it resolves. Deliveries run in order in the background with up to `attempts` tries; a failure
 * is counted (`stats.failed`, `onDeliveryError`), never thrown.
 * @throws InvalidOptionError naming `url`, `rules[i].…`, `attempts`, `timeoutMs`, `evaluateEveryMs` or `maxPending`.
 * @example
 * ```ts
 * const alerting = alerts({ url: process.env.WEIR_ALERT_WEBHOOK_URL!, rules: [
 *   { kind: 'breaker_open' }, { kind: 'error_rate', threshold: 0.5, windowMs: '5m' },
 *   { kind: 'queue_depth', max: 10_000 }, { kind: 'queue_age', maxAgeMs: '10m' },
 *   { kind: 'dead_letters' }, { kind: 'sync_lag', maxLagMs: '15m' },
 * ] });
 * alerting.watchBreaker('esp', esp.policies.breaker!);
 * alerting.watchQueue(queue);
 * alerting.forward(scheduleReconciliation(sync, { cron: '0 3 * * *' }));
 * ```
 */
export function alerts(options: AlertsOptions): AlertManager {
  return new AlertManager(options);
}
