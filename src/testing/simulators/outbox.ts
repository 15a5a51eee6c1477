import { request } from 'undici';
import type { Clock, Timer } from '../../internal/clock.js';

/** Where a simulator sends its webhooks. */
export interface SimulatorWebhookTarget {
  /** Full URL the deliveries are POSTed to, e.g. `http://127.0.0.1:4000/webhooks/crm`. */
  readonly url: string;
  /** The signing secret. */
  readonly secret: string;
}

/** Webhook faults; each rate is a probability from 0 to 1, drawn from the simulator's seeded random source. */
export interface WebhookFaults {
  /** Share of events delivered twice (two independent deliveries of the same bytes and id). Default 0. */
  readonly duplicateRate?: number;
  /** Share of events never sent at all. Default 0. */
  readonly lostRate?: number;
  /** Share of events held back by `delayMs` before their first attempt (late). Default 0. */
  readonly delayRate?: number;
  /** How late a delayed event is, in ms. Default 10_000. */
  readonly delayMs?: number;
  /** Events emitted within this window (ms) are held and then sent newest first. 0 (default): no reordering. */
  readonly reorderWindowMs?: number;
}

/** One attempt to deliver a webhook. */
export interface WebhookAttempt {
  /** `event_id` (CRM) or `X-ESP-Delivery` (ESP): the same on every attempt and copy. */
  readonly id: string;
  /** 1 for the first attempt of this copy. */
  readonly attempt: number;
  /** 2 for the second copy of a duplicated event. */
  readonly copy: number;
  /** When it was sent, epoch ms on the simulator's (unskewed) clock. */
  readonly at: number;
  /** The status answered, or `'timeout'` (no answer within 5 s), `'error'` (connection failed). */
  readonly status: number | 'timeout' | 'error';
  readonly body: string;
}

/** What became of every event. */
export interface WebhookCounters {
  readonly emitted: number;
  readonly attempts: number;
  readonly delivered: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Gave up after the last retry. */
  readonly abandoned: number;
}

interface Delivery {
  readonly id: string;
  readonly body: string;
  readonly copy: number;
  attempt: number;
}

/** @internal Sends a simulator's webhooks: retries, timeouts and faults. */
export class WebhookOutbox {
  target: SimulatorWebhookTarget | undefined;
  faults: Required<WebhookFaults> = noFaults();
  readonly attempts: WebhookAttempt[] = [];
  private readonly totals = { emitted: 0, attempts: 0, delivered: 0, lost: 0, duplicated: 0, abandoned: 0 };
  private readonly timers = new Set<Timer>();
  private readonly inflight = new Set<Promise<void>>();
  private readonly aborts = new Set<AbortController>();
  private held: Delivery[] = [];
  private waiters: Array<() => void> = [];
  private pendingCount = 0;
  private closed = false;

  constructor(
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly sign: (body: string, target: SimulatorWebhookTarget, id: string) => Record<string, string>,
    private readonly retryDelaysMs: readonly number[],
    private readonly timeoutMs: number,
  ) {}

  get counters(): WebhookCounters {
    return { ...this.totals };
  }

  /** Deliveries emitted and not yet finished (delivered, abandoned or lost). */
  get pending(): number {
    return this.pendingCount;
  }

  /** Queues one event. `id` is stable across retries and copies. */
  emit(id: string, body: string): void {
    if (this.closed || this.target === undefined) return;
    this.totals.emitted++;
    const f = this.faults;
    if (f.lostRate > 0 && this.random() < f.lostRate) {
      this.totals.lost++;
      return;
    }
    const copies = f.duplicateRate > 0 && this.random() < f.duplicateRate ? 2 : 1;
    if (copies === 2) this.totals.duplicated++;
    const late = f.delayRate > 0 && this.random() < f.delayRate ? f.delayMs : 0;
    for (let copy = 1; copy <= copies; copy++) {
      const delivery: Delivery = { id, body, copy, attempt: 0 };
      this.pendingCount++;
      if (f.reorderWindowMs > 0 && late === 0) this.hold(delivery, f.reorderWindowMs);
      else this.schedule(delivery, late);
    }
  }

  /** Resolves once nothing is pending (no timer, attempt or held event left). */
  idle(): Promise<void> {
    if (this.pendingCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) t.close();
    this.timers.clear();
    for (const a of this.aborts) a.abort();
    await Promise.all(this.inflight);
    this.held = [];
    this.pendingCount = 0;
    this.wake();
  }

  private hold(delivery: Delivery, windowMs: number): void {
    this.held.push(delivery);
    if (this.held.length > 1) return;
    this.timer(windowMs, () => {
      const batch = this.held.toReversed();
      this.held = [];
      for (const d of batch) this.schedule(d, 0);
    });
  }

  private schedule(delivery: Delivery, delayMs: number): void {
    if (delayMs <= 0) {
      this.track(this.attempt(delivery));
      return;
    }
    this.timer(delayMs, () => this.track(this.attempt(delivery)));
  }

  private timer(ms: number, run: () => void): void {
    const timer = this.clock.setTimer(ms, () => {
      this.timers.delete(timer);
      if (!this.closed) run();
    });
    this.timers.add(timer);
  }

  private track(p: Promise<void>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  private async attempt(delivery: Delivery): Promise<void> {
    const target = this.target;
    if (target === undefined || this.closed) return this.finish();
    delivery.attempt++;
    this.totals.attempts++;
    const abort = new AbortController();
    this.aborts.add(abort);
    const timeout = this.clock.setTimer(this.timeoutMs, () => abort.abort());
    const at = this.clock.now();
    let status: WebhookAttempt['status'];
    try {
      const res = await request(target.url, {
        method: 'POST',
        body: delivery.body,
        headers: { 'content-type': 'application/json', ...this.sign(delivery.body, target, delivery.id) },
        signal: abort.signal,
      });
      await res.body.dump();
      status = res.statusCode;
    } catch {
      status = abort.signal.aborted ? 'timeout' : 'error';
    } finally {
      timeout.close();
      this.aborts.delete(abort);
    }
    this.attempts.push({ id: delivery.id, attempt: delivery.attempt, copy: delivery.copy, at, status, body: delivery.body });
    if (this.closed) return;
    if (typeof status === 'number' && status >= 200 && status < 300) {
      this.totals.delivered++;
      return this.finish();
    }
    const wait = this.retryDelaysMs[delivery.attempt - 1];
    if (wait === undefined) {
      this.totals.abandoned++;
      return this.finish();
    }
    this.timer(wait, () => this.track(this.attempt(delivery)));
  }

  private finish(): void {
    this.pendingCount = Math.max(0, this.pendingCount - 1);
    this.wake();
  }

  private wake(): void {
    if (this.pendingCount > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** @internal */
export function noFaults(): Required<WebhookFaults> {
  return { duplicateRate: 0, lostRate: 0, delayRate: 0, delayMs: 10_000, reorderWindowMs: 0 };
}
