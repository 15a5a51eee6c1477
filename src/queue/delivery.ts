import { CancelledError, type Classification, InvalidOptionError, TimeoutError, WeirError, isWeirError } from '../errors.js';
import type { Timer } from '../internal/clock.js';
import { type Duration, toMs } from '../internal/duration.js';
import type { AttemptRecord, ClaimedMessage, Lease, Settlement } from '../store/queue.js';
import type { DeliveryOutcome, QueueMetrics } from './metrics.js';
import type { ResolvedQueueOptions } from './options.js';
import { decide, errorRecord, errorSignature } from './retry.js';
import type { Handler, HandlerContext, Message, TopicPolicy } from './types.js';

/** At most this many attempt records are kept per message (the newest). */
const HISTORY_LIMIT = 50;

/** A registered handler and its live counters. @internal */
export interface Registration {
  readonly topic: string;
  readonly handler: Handler;
  readonly policy: TopicPolicy;
  readonly classify: (error: unknown) => Classification;
  inflight: number;
  /** Claimed ahead of free slots (`prefetch`), in claim order, not started yet. */
  readonly buffer: Delivery[];
  /** How far ahead the fetcher claims now (`prefetch`, or its measured value with `'auto'`). */
  readonly pace: Pace;
  registered: boolean;
  /** Something may be claimable: claim on the next pass. */
  dirty: boolean;
  /** The last claim was full: more is probably waiting. */
  backlog: boolean;
  readonly whenRegistered: Promise<void>;
  markRegistered(): void;
}

const PACE_ALPHA = 0.3;

/**
 * `prefetch: 'auto'`: the slots' finish rate (EWMA per claim interval) times the claim's round trip
 * (EWMA), rounded, at most `concurrency` — the messages the slots would finish while a claim is on
 * its way (a bandwidth-delay product). Idle gaps lower the rate, so a quiet topic claims only free
 * slots. Measured on the queue's clock: under a fake clock the round trip is 0 and so is the prefetch.
 * @internal
 */
export class Pace {
  /** Messages to claim beyond the free slots now. */
  ahead: number;
  private finished = 0;
  private lastStart: number | undefined = undefined;
  private rate = 0;
  private rtt = 0;

  constructor(private readonly policy: TopicPolicy) {
    this.ahead = policy.prefetch === 'auto' ? 0 : policy.prefetch;
  }

  /** A delivery of the topic finished. */
  onFinish(): void {
    this.finished++;
  }

  /** A claim went out at `start` and came back at `end`. */
  onClaim(start: number, end: number): void {
    if (this.policy.prefetch !== 'auto') return;
    if (this.lastStart !== undefined && start > this.lastStart) {
      this.rate += PACE_ALPHA * (this.finished / (start - this.lastStart) - this.rate);
      this.finished = 0;
      this.lastStart = start;
    }
    this.lastStart ??= start;
    this.rtt += PACE_ALPHA * (end - start - this.rtt);
    this.ahead = Math.min(this.policy.concurrency, Math.round(this.rate * this.rtt));
  }
}

/** What a delivery needs from its worker. @internal */
export interface DeliveryHost {
  readonly options: ResolvedQueueOptions;
  hold(topic: string, key: string | null, until: number): Promise<void>;
  metric<K extends keyof QueueMetrics>(name: K, event: Parameters<NonNullable<QueueMetrics[K]>>[0]): void;
}

/** A settlement plus what the metrics need once it is applied. @internal */
export interface Finished {
  readonly settlement: Settlement;
  readonly outcome: DeliveryOutcome;
  readonly durationMs: number;
}

/**
 * One claimed message being handled: invokes the handler (with immediate retries), and turns the
 * outcome into a settlement. Its signal aborts when the lease is lost or `stop()` gives up on it.
 * @internal
 */
export class Delivery {
  readonly ref: string;
  readonly lease: Lease;
  leaseUntil: number;
  /** The lease was lost (renewal found another owner); the result will not be settled. */
  lost = false;
  /** `stop()` released the message; the result will not be settled. */
  abandoned = false;
  /** The handler finished; its settlement is queued or applied. */
  finished = false;
  /** The handler was started (a prefetched delivery waits in its topic's buffer until then). */
  started = false;
  /** Deliveries of this key handed to this worker in a row before this one (see `Handoff`). */
  chain = 0;
  private heldUntil: number | undefined = undefined;
  private readonly controller = new AbortController();
  private readonly message: Message;

  constructor(
    private readonly host: DeliveryHost,
    readonly reg: Registration,
    readonly claimed: ClaimedMessage,
    readonly claimSeq: number,
  ) {
    this.lease = { id: claimed.id, token: claimed.token };
    this.ref = `${claimed.id}#${claimed.token}`;
    this.leaseUntil = claimed.leaseUntil;
    this.message = {
      id: claimed.id,
      topic: claimed.topic,
      key: claimed.key,
      payload: claimed.payload,
      headers: claimed.headers,
      delivery: claimed.attempts,
      enqueuedAt: claimed.createdAt,
      runAt: claimed.runAt,
      history: claimed.history,
    };
  }

  lose(): void {
    if (this.lost || this.finished) return;
    this.lost = true;
    const { id, topic } = this.message;
    this.controller.abort(new WeirError('WEIR_LEASE_LOST', `Lost the lease on message ${id}; another worker owns it now.`, { details: { messageId: id, topic } }));
  }

  /** Gives up on a running handler at shutdown; returns the settlement that releases its message. */
  abandon(now: number): Finished {
    this.abandoned = true;
    this.controller.abort(new CancelledError('The queue is stopping.'));
    const record: AttemptRecord = {
      delivery: this.message.delivery,
      attempt: 1,
      at: now,
      durationMs: 0,
      workerId: this.host.options.workerId,
      outcome: 'released',
      error: null,
    };
    const history = [...this.message.history, record].slice(-HISTORY_LIMIT);
    return { settlement: { kind: 'retry', lease: this.lease, runAt: now, refund: true, error: null, history }, outcome: 'released', durationMs: 0 };
  }

  /** Gives back a prefetched message that never started: the delivery is refunded, the history unchanged. */
  unclaim(now: number): Finished {
    this.abandoned = true;
    const settlement = { kind: 'retry', lease: this.lease, runAt: now, refund: true, error: null, history: this.message.history } as const;
    return { settlement, outcome: 'released', durationMs: 0 };
  }

  /** Runs the handler; null when the result must not be settled (lease lost, abandoned). */
  async run(): Promise<Finished | null> {
    const { clock, random, workerId } = this.host.options;
    const { policy, classify } = this.reg;
    const m = this.message;
    const started = clock.now();
    this.host.metric('started', { topic: m.topic, messageId: m.id, delivery: m.delivery, waitMs: Math.max(0, started - m.runAt) });
    const records: AttemptRecord[] = [];
    for (let attempt = 1; ; attempt++) {
      const at = clock.now();
      const failure = await this.invoke(attempt);
      if (this.lost || this.abandoned) return null;
      const now = clock.now();
      if (failure === undefined) return { settlement: { kind: 'done', lease: this.lease }, outcome: 'done', durationMs: now - started };
      const { error } = failure;
      const classification = classify(error);
      if (classification === 'rate_limited' && policy.holdOnRateLimit !== false) await this.holdForRateLimit(error, now);
      const decision = decide(policy, { error, classification, delivery: m.delivery, attempt, now, heldUntil: this.heldUntil }, random);
      const outcome = decision.kind === 'retry-now' ? 'retry-now' : decision.kind === 'dead' ? 'dead' : decision.outcome;
      const brief = errorRecord(error, classification, false);
      const retryAt = decision.kind === 'retry' ? { retryAt: decision.runAt } : {};
      records.push({ delivery: m.delivery, attempt, at, durationMs: now - at, workerId, outcome, error: brief, ...retryAt });
      const retried = { topic: m.topic, messageId: m.id, delivery: m.delivery, classification };
      if (decision.kind === 'retry-now') {
        this.host.metric('retried', { ...retried, immediate: true, delayMs: 0 });
        continue;
      }
      const history = [...m.history, ...records].slice(-HISTORY_LIMIT);
      const full = errorRecord(error, classification, true);
      const durationMs = now - started;
      if (decision.kind === 'retry') {
        this.host.metric('retried', { ...retried, immediate: false, delayMs: decision.runAt - now });
        const settlement = { kind: 'retry', lease: this.lease, runAt: decision.runAt, refund: decision.refund, error: full, history } as const;
        return { settlement, outcome: decision.outcome, durationMs };
      }
      const blockKey = policy.onExhausted === 'block-key' && m.key !== null;
      const settlement = { kind: 'dead', lease: this.lease, blockKey, error: full, signature: errorSignature(m.topic, full), history } as const;
      return { settlement, outcome: 'dead', durationMs };
    }
  }

  /** One handler call; the failure, or undefined on success. A synchronous throw counts as a failure. */
  private async invoke(attempt: number): Promise<{ error: unknown } | undefined> {
    const timeoutMs = this.reg.policy.timeoutMs;
    let signal = this.controller.signal;
    let timer: Timer | undefined;
    let timedOut = false;
    let unlink: (() => void) | undefined;
    if (timeoutMs !== null) {
      const own = new AbortController();
      const forward = (): void => own.abort(this.controller.signal.reason);
      this.controller.signal.addEventListener('abort', forward, { once: true });
      unlink = () => this.controller.signal.removeEventListener('abort', forward);
      timer = this.host.options.clock.setTimer(timeoutMs, () => {
        timedOut = true;
        own.abort(new TimeoutError(timeoutMs));
      });
      signal = own.signal;
    }
    const ctx: HandlerContext = {
      signal,
      attempt,
      delivery: this.message.delivery,
      workerId: this.host.options.workerId,
      hold: (duration, scope) => this.hold(duration, scope),
    };
    try {
      const tracing = this.host.options.tracing;
      const m = this.message;
      await (tracing === undefined ? this.reg.handler(m, ctx) : tracing.runHandler(m, ctx, () => this.reg.handler(m, ctx)));
      return undefined;
    } catch (error) {
      if (timedOut && timeoutMs !== null && !isWeirError(error, 'WEIR_TIMEOUT')) return { error: new TimeoutError(timeoutMs, { cause: error }) };
      return { error };
    } finally {
      timer?.close();
      unlink?.();
    }
  }

  private async hold(duration: Duration, scope: 'topic' | 'key' = 'topic'): Promise<void> {
    const ms = toMs(duration, 'duration');
    if (scope !== 'topic' && scope !== 'key') throw new InvalidOptionError('scope', "'topic' or 'key'", scope);
    if (scope === 'key' && this.message.key === null) throw new InvalidOptionError('scope', "'topic' (this message has no key)", scope);
    const until = this.host.options.clock.now() + ms;
    await this.host.hold(this.message.topic, scope === 'key' ? this.message.key : null, until);
    this.heldUntil = Math.max(this.heldUntil ?? 0, until);
  }

  private async holdForRateLimit(error: unknown, now: number): Promise<void> {
    const afterMs = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs;
    if (typeof afterMs !== 'number' || !(afterMs > 0)) return;
    const ms = Math.min(afterMs, this.reg.policy.retry.maxRetryAfterMs);
    const scope = this.reg.policy.holdOnRateLimit === 'key' && this.message.key !== null ? 'key' : 'topic';
    try {
      await this.hold(ms, scope);
    } catch {
      // The hold is an optimisation for the other messages; the retry below still waits retryAfterMs.
      this.heldUntil = Math.max(this.heldUntil ?? 0, now + ms);
    }
  }
}
