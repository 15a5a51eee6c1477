import { type Classification, InvalidOptionError, isWeirError, WeirError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { type Duration, toMs } from '../internal/duration.js';
import { Emitter, type Event } from '../internal/events.js';
import { uuidv7 } from '../internal/ids.js';
import { finite, fn, integer, oneOf } from '../internal/validate.js';
import type { AuditSink } from '../observability/audit.js';
import { classifyError } from '../policy/classify.js';
import type { Queue } from '../queue/queue.js';
import type { EnqueueItem } from '../queue/types.js';
import type { AuditRecord } from '../store/audit.js';
import type { Awaitable, PgTransaction, SqliteTransaction, Store, Transaction } from '../store/types.js';
import { type CompiledEndpoint, compileEndpoint, EndpointKv, type EndpointState, HEALTHY, type WebhookEndpoint } from './endpoints.js';
import { deliver, type DeliveryPayload, type DeliveryRuntime, type EndpointDisabledEvent } from './sender-delivery.js';
import { DEFAULT_WEBHOOK_SCHEDULE, type SendResult, SENDER_DEFAULTS, type SenderErrorEvent, type WebhookEvent, type WebhookSenderOptions } from './sender-options.js';
import { undiciTransport, type WebhookTransport } from './transport.js';
import { type SchemeInput, sign } from './verify.js';

/** As `classifyError`, but a network failure is always worth the next attempt (a certificate gets fixed; the schedule is long). */
function classifyDelivery(error: unknown): Classification {
  const c = classifyError(error);
  return c === 'permanent' && isWeirError(error, 'WEIR_NETWORK') ? 'transient' : c;
}

const epochMs = (v: Date | number, option: string): number => finite(v instanceof Date ? v.getTime() : v, option, 0);
const WEBHOOK_ID = /^[\x21-\x2d\x2f-\x7e]{1,200}$/;

/**
 * The webhook sender. `send(tx?, event)` enqueues one delivery per subscribed endpoint inside the
 * caller's transaction (the outbox); workers that called `start()` deliver them: signed with
 * Standard Webhooks headers (`webhook-id` stable across retries, timestamp and signature fresh per
 * attempt, one signature per active secret during a rotation), retried on the queue's schedule
 * (`0, 5s, 5m, 30m, 2h, 5h, 10h, 10h`, ±20%), `Retry-After` honoured within [scheduled, 2 × scheduled],
 * 410 Gone and sustained failure disable the endpoint, per-endpoint rate limits, an attempt log,
 * replay. Import from `weir/webhooks`.
 * @throws InvalidOptionError (at once) naming the option, e.g. `endpoints[0].url`.
 * @example
 * ```ts
 * const hooks = webhookSender({ queue, clock, endpoints: [{ id: 'acme', url: 'https://acme.example/hooks', secret: 'whsec_…', events: ['order.*'] }] });
 * await hooks.start();                                            // in worker processes
 * store.db.transaction(() => { insertOrder.run(order); hooks.send(store.db, { type: 'order.created', data: order }); })();
 * ```
 */
export function webhookSender(options: WebhookSenderOptions): WebhookSender {
  return new WebhookSender(options);
}

export class WebhookSender {
  readonly topic: string;
  readonly queue: Queue;
  readonly store: Store;
  private readonly clock: Clock;
  private readonly scheme: SchemeInput;
  private readonly scheduleMs: readonly number[];
  private readonly jitter: number;
  private readonly maxPayloadBytes: number;
  private readonly concurrency: number;
  private readonly ordering: 'none' | 'key';
  private readonly kv: EndpointKv;
  private readonly runtime: DeliveryRuntime;
  private endpointsById = new Map<string, CompiledEndpoint>();
  private readonly disabledEvents = new Emitter<EndpointDisabledEvent>();
  private readonly errors = new Emitter<SenderErrorEvent>();
  /** An endpoint was disabled (410 Gone, or failing for `disableAfterMs`) by this process. */
  readonly onEndpointDisabled: Event<EndpointDisabledEvent> = this.disabledEvents.event;
  /** An attempt-log write failed (the delivery itself went on). */
  readonly onError: Event<SenderErrorEvent> = this.errors.event;

  constructor(o: WebhookSenderOptions) {
    if (typeof o !== 'object' || o === null) throw new InvalidOptionError('options', 'an options object', o);
    if (typeof o.queue?.enqueueMany !== 'function' || o.queue.store === undefined) throw new InvalidOptionError('queue', 'a Queue (createQueue(store))', o.queue);
    if (o.store !== undefined && o.store !== o.queue.store) throw new InvalidOptionError('store', "the queue's own store", 'another store');
    this.queue = o.queue;
    this.store = o.queue.store;
    this.topic = o.topic ?? SENDER_DEFAULTS.topic;
    if (typeof this.topic !== 'string' || this.topic.length === 0 || this.topic.length > 100) throw new InvalidOptionError('topic', 'a non-empty string of at most 100 characters', this.topic);
    this.clock = o.clock ?? systemClock;
    this.scheme = o.scheme ?? 'standard-webhooks';
    const schedule = o.schedule ?? DEFAULT_WEBHOOK_SCHEDULE;
    if (!Array.isArray(schedule) || schedule.length === 0) throw new InvalidOptionError('schedule', 'a non-empty array of durations', schedule);
    this.scheduleMs = schedule.map((d: Duration, i: number) => toMs(d, `schedule[${i}]`));
    this.jitter = finite(o.jitter ?? SENDER_DEFAULTS.jitter, 'jitter', 0, 1);
    this.maxPayloadBytes = integer(o.maxPayloadBytes ?? SENDER_DEFAULTS.maxPayloadBytes, 'maxPayloadBytes', 1);
    this.concurrency = integer(o.concurrency ?? SENDER_DEFAULTS.concurrency, 'concurrency', 1, 10_000);
    this.ordering = oneOf(o.ordering ?? SENDER_DEFAULTS.ordering, 'ordering', ['none', 'key'] as const);
    if (o.audit !== undefined && o.audit !== false) fn((o.audit as Partial<AuditSink>).record, 'audit.record');
    if (o.userAgent !== undefined && (typeof o.userAgent !== 'string' || o.userAgent.length === 0)) throw new InvalidOptionError('userAgent', 'a non-empty string', o.userAgent);
    this.kv = new EndpointKv(this.store.kv, this.topic);
    this.setEndpoints(o.endpoints);
    this.runtime = {
      endpoint: (id) => this.endpointsById.get(id),
      kv: this.kv,
      transport: o.transport === undefined ? undiciTransport() : fn<WebhookTransport>(o.transport, 'transport'),
      clock: this.clock,
      scheme: this.scheme,
      retryMs: this.scheduleMs.slice(1),
      disableAfterMs: integer(o.disableAfterMs ?? SENDER_DEFAULTS.disableAfterMs, 'disableAfterMs', 0),
      timeoutMs: integer(o.timeoutMs ?? SENDER_DEFAULTS.timeoutMs, 'timeoutMs', 1),
      maxResponseBytes: integer(o.maxResponseBytes ?? SENDER_DEFAULTS.maxResponseBytes, 'maxResponseBytes', 0),
      userAgent: o.userAgent ?? SENDER_DEFAULTS.userAgent,
      audit: o.audit ?? this.store.audit,
      disabled: (event) => this.disabledEvents.emit(event),
      auditFailed: (error) => this.errors.emit({ error }),
    };
  }

  /**
   * Replaces the endpoint list (a secret rotation, a new subscriber). Later attempts use the new
   * configuration; messages already queued for a removed endpoint are dead-lettered (`WEIR_NOT_FOUND`).
   * @throws InvalidOptionError naming `endpoints[i].<option>`; nothing changes then.
   */
  setEndpoints(endpoints: readonly WebhookEndpoint[]): void {
    if (!Array.isArray(endpoints)) throw new InvalidOptionError('endpoints', 'an array of endpoints', endpoints);
    const next = new Map<string, CompiledEndpoint>();
    endpoints.forEach((e: WebhookEndpoint, i: number) => {
      const c = compileEndpoint(e, `endpoints[${i}]`);
      if (next.has(c.id)) throw new InvalidOptionError(`endpoints[${i}].id`, 'an id no other endpoint has', c.id);
      this.checkSecrets(c, `endpoints[${i}].secrets`);
      next.set(c.id, c);
    });
    this.endpointsById = next;
  }

  /** Signs once with every secret, so a bad secret fails here and not at the first delivery. */
  private checkSecrets(c: CompiledEndpoint, at: string): void {
    try {
      sign(this.scheme, { secrets: c.secrets.map((s) => s.secret), rawBody: '', id: 'msg_check', now: 0 });
    } catch (err) {
      if (isWeirError(err, 'WEIR_INVALID_OPTION')) throw new InvalidOptionError(at, String(err.details.expected ?? 'valid signing secrets'), '<redacted>');
      throw err;
    }
  }

  /**
   * Enqueues one delivery per subscribed endpoint. With a transaction first, they commit or roll
   * back with it (the outbox): synchronous with a better-sqlite3 `Database` inside
   * `db.transaction()`, a promise with a `pg` client inside `BEGIN`. The body is serialised once here.
   * @throws WeirError `WEIR_PAYLOAD_TOO_LARGE` above `maxPayloadBytes`; InvalidOptionError naming `event.<field>`
   *   (synchronously with a SQLite transaction, else as a rejection).
   */
  send(event: WebhookEvent): Promise<SendResult>;
  send(tx: SqliteTransaction, event: WebhookEvent): SendResult;
  send(tx: PgTransaction, event: WebhookEvent): Promise<SendResult>;
  send(...args: unknown[]): Awaitable<SendResult> {
    const [tx, event] = (args.length >= 2 ? args : [undefined, args[0]]) as [Transaction | undefined, WebhookEvent];
    const run = (): Awaitable<SendResult> => {
      const { result, items } = this.build(event);
      if (items.length === 0) return result;
      const enqueueMany = this.queue.enqueueMany.bind(this.queue) as (...a: unknown[]) => Awaitable<string[]>;
      const out = tx === undefined ? enqueueMany(items) : enqueueMany(tx, items);
      return out instanceof Promise ? out.then(() => result) : result;
    };
    if (tx !== undefined && this.store.capabilities.transactions === 'sync') return run();
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private build(event: WebhookEvent): { result: SendResult; items: EnqueueItem<DeliveryPayload>[] } {
    if (typeof event !== 'object' || event === null) throw new InvalidOptionError('event', 'an event { type, data }', event);
    if (typeof event.type !== 'string' || event.type.length === 0 || event.type.length > 200) throw new InvalidOptionError('event.type', 'a non-empty string of at most 200 characters', event.type);
    const now = this.clock.now();
    const webhookId = event.id ?? `msg_${uuidv7(now).replaceAll('-', '')}`;
    if (typeof webhookId !== 'string' || !WEBHOOK_ID.test(webhookId)) throw new InvalidOptionError('event.id', "1 to 200 visible ASCII characters without '.'", webhookId);
    const at = event.timestamp === undefined ? now : event.timestamp instanceof Date ? event.timestamp.getTime() : event.timestamp;
    if (typeof at !== 'number' || !Number.isFinite(at)) throw new InvalidOptionError('event.timestamp', 'a Date or epoch ms', event.timestamp);
    let body: string | undefined;
    try {
      body = JSON.stringify({ type: event.type, timestamp: new Date(at).toISOString(), data: event.data ?? null });
    } catch (err) {
      throw new InvalidOptionError('event.data', 'a JSON-serialisable value', (err as Error).message);
    }
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > this.maxPayloadBytes) {
      throw new WeirError('WEIR_PAYLOAD_TOO_LARGE', `Webhook event of ${bytes} bytes is over the ${this.maxPayloadBytes}-byte limit.`, {
        details: { bytes, maxPayloadBytes: this.maxPayloadBytes, type: event.type },
      });
    }
    const endpoints = [...this.endpointsById.values()].filter((e) => e.matches(event.type));
    const items = endpoints.map((e) => ({
      topic: this.topic,
      id: this.messageId(e.id, webhookId),
      key: e.id,
      delay: this.scheduleMs[0] ?? 0,
      payload: { endpointId: e.id, webhookId, type: event.type, body },
    }));
    return { result: { webhookId, endpointIds: endpoints.map((e) => e.id), messageIds: items.map((i) => i.id) }, items };
  }

  private messageId(endpointId: string, webhookId: string): string {
    return `${this.topic}:${endpointId}:${webhookId}`;
  }

  /**
   * Starts delivering in this process: registers the topic's handler with the sender's schedule
   * (`retry.schedule` = the schedule after its first step, `immediate: 0`, the jitter, and
   * `maxRetryAfterMs` twice the longest step). Resolves once registered.
   */
  start(): Promise<void> {
    const retryMs = this.runtime.retryMs;
    return this.queue.handle<DeliveryPayload>(this.topic, (m, ctx) => deliver(this.runtime, m, ctx), {
      concurrency: this.concurrency,
      ordering: this.ordering,
      onExhausted: 'dead-letter',
      retry: { immediate: 0, schedule: retryMs, jitter: this.jitter, maxRetryAfterMs: 2 * Math.max(0, ...retryMs), classify: classifyDelivery },
    });
  }

  /**
   * Sends one event to its endpoints again under the same `webhook-id`: a dead-lettered delivery is
   * replayed in place (attempts reset), a delivered one is enqueued again as a new message, one
   * still pending is left alone.
   * @returns the queue message ids that will (again) be delivered.
   * @throws WeirError `WEIR_NOT_FOUND` when no delivery of `webhookId` is known (or retention purged it).
   */
  async replay(webhookId: string, options: { readonly endpointId?: string } = {}): Promise<readonly string[]> {
    const ids = options.endpointId !== undefined ? [options.endpointId] : [...this.endpointsById.keys()];
    const out: string[] = [];
    for (const endpointId of ids) {
      const id = this.messageId(endpointId, webhookId);
      const record = await this.store.queue.get(id);
      if (record === null || record === undefined) continue;
      if (record.state === 'dead' || record.state === 'blocked') out.push(...(await this.queue.deadLetters.replay({ ids: [id] })));
      else if (record.state === 'done') {
        const copy = `${id}:replay:${uuidv7(this.clock.now())}`;
        await this.queue.enqueue(this.topic, record.payload, { id: copy, key: record.key });
        out.push(copy);
      } else out.push(id);
    }
    if (out.length === 0) throw new WeirError('WEIR_NOT_FOUND', `No delivery of webhook ${webhookId} is known.`, { details: { webhookId } });
    return out;
  }

  /**
   * Replays every delivery dead-lettered at or after `since` (and before `until`), for one endpoint
   * or all, spread at `perSecond` (default 10). Enable a disabled endpoint first, or its deliveries
   * fail again at once. @returns the message ids replayed.
   */
  replayFailed(options: { readonly since: Date | number; readonly until?: Date | number; readonly endpointId?: string; readonly perSecond?: number }): Promise<readonly string[]> {
    return this.queue.deadLetters.replay(
      {
        topic: this.topic,
        since: epochMs(options.since, 'since'),
        ...(options.until === undefined ? {} : { until: epochMs(options.until, 'until') }),
        ...(options.endpointId === undefined ? {} : { key: options.endpointId }),
      },
      options.perSecond === undefined ? {} : { perSecond: options.perSecond },
    );
  }

  /** The attempt log of one event (every endpoint, every attempt, replays included), oldest first. Needs the default audit (or a flushed sink on the same store). */
  attempts(webhookId: string, options: { readonly limit?: number } = {}): Promise<readonly AuditRecord[]> {
    return this.store.audit.list({ correlationId: webhookId, direction: 'outbound', order: 'asc', limit: options.limit ?? 1000 });
  }

  /** The durable state of an endpoint (disabled, failing since). */
  endpointState(endpointId: string): Promise<EndpointState> {
    return this.kv.state(endpointId, this.clock.now());
  }

  /** Re-enables an endpoint and clears its failing run. Replay what failed meanwhile with `replayFailed`. */
  async enable(endpointId: string): Promise<void> {
    await this.kv.update(endpointId, this.clock.now(), (s) => (s === HEALTHY ? undefined : HEALTHY));
  }

  /** Disables an endpoint by hand: its deliveries are dead-lettered until `enable()`. */
  async disable(endpointId: string): Promise<void> {
    const now = this.clock.now();
    await this.kv.update(endpointId, now, (s) => (s.disabled ? undefined : { ...s, disabled: true, reason: 'manual', disabledAt: now }));
  }
}
