import { performance } from 'node:perf_hooks';
import { InvalidOptionError, isWeirError, TimeoutError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { uuidv7 } from '../internal/ids.js';
import { fn, integer } from '../internal/validate.js';
import type { AuditSink } from '../observability/audit.js';
import type { Queue } from '../queue/queue.js';
import { beforeOnly, handle } from '../server/compose.js';
import type { ServerContext } from '../server/context.js';
import { PROBLEM_TYPE_PREFIX, problem } from '../server/problem.js';
import type { AuditEntry } from '../store/audit.js';
import type { Awaitable, Store, Transaction } from '../store/types.js';
import { toVersion, WEBHOOK_VERSION_HEADER, type EventVersion } from './ordering.js';
import {
  DEFAULT_DEDUP,
  Delivery,
  fieldReader,
  payloadMode,
  payloadOf,
  readCapped,
  type ReceivedWebhook,
  TOO_LARGE,
  validId,
  type PayloadMode,
} from './receiver-input.js';
import { headerName } from './scheme.js';
import {
  type ReceiveOutcome,
  type ReceiverErrorEvent,
  type ReceiverOptions,
  WEBHOOK_ID_HEADER,
  WEBHOOK_RECEIVED_AT_HEADER,
  WEBHOOK_SCHEME_HEADER,
  type WebhookReceiver,
} from './receiver-options.js';
import { WebhookVerifier } from './verify.js';

const DEFAULT_MAX_BODY = 1_048_576;
const REJECTED: Record<string, { status: number; title: string }> = {
  'too-large': { status: 413, title: 'Content Too Large' },
  signature: { status: 401, title: 'Unauthorized' },
  'missing-id': { status: 400, title: 'Bad Request' },
  'malformed-body': { status: 400, title: 'Bad Request' },
  unreadable: { status: 400, title: 'Bad Request' },
};

/**
 * The webhook receiver: reads the raw body (capped: 413 above `maxBodyBytes`), verifies the
 * signature and replay window (401 with no effect), reads the delivery id, and in one store
 * transaction records the id in the inbox and enqueues the event, then answers 200 — the work
 * happens later in a queue handler, so the answer takes milliseconds whatever the state of the
 * systems downstream. A delivery seen before answers 200 without a second message. Every
 * delivery, valid, duplicate or rejected, gets an inbound audit entry (`request_id` = the
 * delivery id; outcome `ok`, `duplicate_ignored`, `rejected`, or `error` when the store failed and
 * the answer was 503).
 *
 * Mount it with any `weir/server` adapter, or call `fetch`. Import from `weir/webhooks`.
 * @throws InvalidOptionError (at once) naming the option.
 * @example
 * ```ts
 * const esp = receiver({ scheme: hmacScheme({ name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' }),
 *   secret: secret('ESP_WEBHOOK_SECRET'), queue, topic: 'esp-events', dedupBy: 'X-ESP-Delivery' });
 * app.post('/webhooks/esp', weir(esp));            // weir/server/hono or weir/server/express
 * await queue.handle('esp-events', (msg) => sync(msg.payload));
 * ```
 */
export function receiver(options: ReceiverOptions): WebhookReceiver {
  const core = new ReceiverCore(options);
  const middleware = beforeOnly(async function webhookReceiver(ctx: ServerContext): Promise<Response> {
    return core.receive(ctx);
  });
  return Object.assign(middleware, {
    topic: core.topic,
    fetch: (request: Request) => handle(request, middleware, notFound),
    onError: core.errors.event,
  });
}

const notFound = (): Response => new Response(null, { status: 404 });

class ReceiverCore {
  readonly topic: string;
  readonly errors = new Emitter<ReceiverErrorEvent>();
  private readonly verifier: WebhookVerifier;
  private readonly queue: Queue;
  private readonly store: Store;
  private readonly dedup: (w: ReceivedWebhook) => string | undefined;
  private readonly key: ((w: ReceivedWebhook) => string | undefined) | undefined;
  private readonly version: ((w: ReceivedWebhook) => EventVersion | undefined) | undefined;
  private readonly parse: PayloadMode;
  private readonly keep: readonly string[];
  private readonly maxBodyBytes: number;
  private readonly timeoutMs: number;
  private readonly system: string;
  private readonly sink: AuditSink | false | undefined;
  private readonly inbox: string;
  private readonly clock: Clock;
  private readonly once: (tx: Transaction, consumer: string, id: string) => Awaitable<boolean>;

  constructor(o: ReceiverOptions) {
    if (typeof o !== 'object' || o === null) throw new InvalidOptionError('options', 'an options object', o);
    this.verifier = o.verifier !== undefined ? verifierOption(o.verifier) : new WebhookVerifier(o.scheme, o);
    const queue = o.queue as Partial<Queue> | undefined;
    if (typeof queue?.enqueue !== 'function' || typeof queue.once !== 'function' || queue.store === undefined) {
      throw new InvalidOptionError('queue', 'a Queue (createQueue(store))', o.queue);
    }
    this.queue = o.queue;
    this.store = o.queue.store;
    if (typeof o.topic !== 'string' || o.topic.length === 0 || o.topic.length > 200) throw new InvalidOptionError('topic', 'a non-empty string of at most 200 characters', o.topic);
    this.topic = o.topic;
    const dedup = o.dedupBy === undefined ? DEFAULT_DEDUP[this.verifier.scheme] : fieldReader(o.dedupBy, 'dedupBy');
    if (dedup === undefined) throw new InvalidOptionError('dedupBy', `a header name or a function (the '${this.verifier.scheme}' format has no known delivery id)`, undefined);
    this.dedup = dedup;
    this.key = o.keyBy === undefined ? undefined : fieldReader(o.keyBy, 'keyBy');
    this.version = o.versionBy === undefined ? undefined : fieldReader(o.versionBy, 'versionBy');
    this.parse = payloadMode(o.parse);
    if (o.keepHeaders !== undefined && !Array.isArray(o.keepHeaders)) throw new InvalidOptionError('keepHeaders', 'an array of header names', o.keepHeaders);
    this.keep = (o.keepHeaders ?? []).map((h, i) => headerName(h, `keepHeaders[${i}]`).toLowerCase());
    this.maxBodyBytes = integer(o.maxBodyBytes ?? DEFAULT_MAX_BODY, 'maxBodyBytes', 0);
    this.timeoutMs = integer(o.timeoutMs ?? 1_500, 'timeoutMs', 1);
    if (o.system !== undefined && (typeof o.system !== 'string' || o.system.length === 0)) throw new InvalidOptionError('system', 'a non-empty string', o.system);
    this.system = o.system ?? this.verifier.scheme;
    if (o.audit !== undefined && o.audit !== false) fn((o.audit as Partial<AuditSink>).record, 'audit.record');
    this.sink = o.audit;
    this.inbox = o.inbox ?? `webhook:${o.topic}`;
    this.clock = o.clock ?? systemClock;
    this.once = this.queue.once.bind(this.queue) as (tx: Transaction, consumer: string, id: string) => Awaitable<boolean>;
  }

  async receive(ctx: ServerContext): Promise<Response> {
    const started = performance.now();
    const now = this.clock.now();
    try {
      return await this.process(ctx, started, now);
    } catch (error) {
      // Anything unexpected (extractors that throw are a malformed body, 400): still one audit entry, and a 500 the provider retries.
      this.errors.emit({ error, stage: 'unexpected', requestId: '' });
      await this.audit(ctx, started, now, `unidentified:${uuidv7(now)}`, 500, 'error', null, { scheme: this.verifier.scheme, code: isWeirError(error) ? error.code : null });
      return problem({ status: 500, title: 'Internal Server Error' });
    }
  }

  private async process(ctx: ServerContext, started: number, now: number): Promise<Response> {
    const lookup = (name: string): string | undefined => ctx.header(name);
    let body: Uint8Array | typeof TOO_LARGE;
    try {
      body = await readCapped({ header: lookup, stream: streamOf(ctx), body: () => ctx.body() }, this.maxBodyBytes);
    } catch {
      return this.reject(ctx, started, now, 'unreadable', undefined, {});
    }
    if (body === TOO_LARGE) return this.reject(ctx, started, now, 'too-large', undefined, { maxBodyBytes: this.maxBodyBytes });
    try {
      this.verifier.verify({ rawBody: body, headers: { get: (name: string) => lookup(name) ?? null }, now });
    } catch (err) {
      if (!isWeirError(err) || !err.code.startsWith('WEIR_SIGNATURE_')) throw err;
      return this.reject(ctx, started, now, 'signature', body, { code: err.code, failure: err.details.reason ?? null });
    }
    const w = new Delivery(body, lookup, true);
    let id: string | undefined;
    let message: { payload: unknown; key: string | null; headers: Record<string, string> };
    try {
      id = this.dedup(w);
      if (!validId(id)) return this.reject(ctx, started, now, 'missing-id', undefined, {});
      message = this.message(w, id, now);
    } catch {
      return this.reject(ctx, started, now, 'malformed-body', id === undefined || !validId(id) ? body : id, {});
    }
    const messageId = `${this.topic}:${id}`;
    let first: boolean;
    try {
      first = await this.commit(id, messageId, message);
    } catch (error) {
      this.errors.emit({ error, stage: 'commit', requestId: id });
      const res = problem({ type: `${PROBLEM_TYPE_PREFIX}webhook-unavailable`, title: 'Service Unavailable', status: 503 }, { 'retry-after': '5' });
      await this.audit(ctx, started, now, id, 503, 'error', null, { scheme: this.verifier.scheme, code: isWeirError(error) ? error.code : null });
      return res;
    }
    await this.audit(ctx, started, now, id, 200, first ? 'ok' : 'duplicate_ignored', messageId, { scheme: this.verifier.scheme });
    return new Response(null, { status: 200 });
  }

  private message(w: ReceivedWebhook, id: string, now: number): { payload: unknown; key: string | null; headers: Record<string, string> } {
    const headers: Record<string, string> = {
      [WEBHOOK_ID_HEADER]: id,
      [WEBHOOK_RECEIVED_AT_HEADER]: String(now),
      [WEBHOOK_SCHEME_HEADER]: this.verifier.scheme,
    };
    for (const name of this.keep) {
      const value = w.header(name);
      if (value !== undefined) headers[name] = value;
    }
    if (this.version !== undefined) {
      const v = this.version(w);
      if (v !== undefined) headers[WEBHOOK_VERSION_HEADER] = String(toVersion(v, 'versionBy'));
    }
    const key = this.key?.(w);
    if (key !== undefined && (typeof key !== 'string' || key.length === 0)) throw new InvalidOptionError('keyBy', 'a non-empty string', key);
    return { payload: payloadOf(this.parse, w), key: key ?? null, headers };
  }

  /** The inbox row and the message, in one transaction: true when the id was new (and the message is in). */
  private commit(id: string, messageId: string, m: { payload: unknown; key: string | null; headers: Record<string, string> }): Promise<boolean> {
    const options = { id: messageId, key: m.key, headers: m.headers };
    const enqueue = this.queue.enqueue.bind(this.queue) as (tx: Transaction, topic: string, payload: unknown, o: typeof options) => Awaitable<string>;
    const done = this.store.transaction((tx) => {
      const first = this.once(tx, this.inbox, id);
      if (first instanceof Promise) {
        return first.then(async (isFirst) => {
          if (isFirst) await enqueue(tx, this.topic, m.payload, options);
          return isFirst;
        });
      }
      if (first) enqueue(tx, this.topic, m.payload, options);
      return first;
    });
    return this.store.capabilities.transactions === 'sync' ? done : this.deadline(done);
  }

  /** Rejects with WEIR_TIMEOUT when an asynchronous commit takes longer than `timeoutMs` (the commit may still land: a retry is then a duplicate). */
  private deadline<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimer(this.timeoutMs, () => reject(new TimeoutError(this.timeoutMs)));
      work.then(
        (value) => {
          timer.close();
          resolve(value);
        },
        (error: unknown) => {
          timer.close();
          reject(error);
        },
      );
    });
  }

  private async reject(
    ctx: ServerContext,
    started: number,
    now: number,
    reason: keyof typeof REJECTED,
    idSource: Uint8Array | string | undefined,
    detail: Record<string, unknown>,
  ): Promise<Response> {
    const { status, title } = REJECTED[reason] as { status: number; title: string };
    const requestId = typeof idSource === 'string' ? { id: idSource, claimed: false } : this.claimedId(idSource, ctx);
    await this.audit(ctx, started, now, requestId.id, status, 'rejected', null, {
      scheme: this.verifier.scheme,
      reason,
      ...detail,
      ...(requestId.claimed ? { unverifiedId: true } : {}),
    });
    const code = reason === 'signature' ? detail.code : reason === 'too-large' ? 'WEIR_PAYLOAD_TOO_LARGE' : undefined;
    return problem({ type: `${PROBLEM_TYPE_PREFIX}webhook-${reason}`, title, status, ...(code === undefined ? {} : { code }) });
  }

  /** The id a rejected delivery claims (for its audit entry only), or a fresh one when it claims none. */
  private claimedId(body: Uint8Array | undefined, ctx: ServerContext): { id: string; claimed: boolean } {
    try {
      const id = this.dedup(new Delivery(body ?? new Uint8Array(0), (name) => ctx.header(name), false));
      if (validId(id)) return { id, claimed: true };
    } catch {
      // a forged or broken body: nothing to read
    }
    return { id: `unidentified:${uuidv7(this.clock.now())}`, claimed: false };
  }

  private async audit(
    ctx: ServerContext,
    started: number,
    ts: number,
    requestId: string,
    status: number,
    outcome: ReceiveOutcome,
    correlationId: string | null,
    detail: Record<string, unknown>,
  ): Promise<void> {
    if (this.sink === false) return;
    const entry: AuditEntry = {
      ts,
      direction: 'inbound',
      system: this.system,
      requestId,
      method: ctx.method,
      path: ctx.path,
      status,
      outcome,
      attempt: 1,
      durationMs: performance.now() - started,
      correlationId,
      idempotencyKey: null,
      detail,
    };
    try {
      if (this.sink === undefined) await this.store.audit.append([entry]);
      else this.sink.record(entry);
    } catch (error) {
      this.errors.emit({ error, stage: 'audit', requestId });
    }
  }
}

/** The request's body stream when the adapter hands a Web Request over (Hono, fetch runtimes), so it can be read with a cap. */
function streamOf(ctx: ServerContext): ReadableStream<Uint8Array> | null {
  try {
    const request = ctx.request;
    return request.body !== null && !request.bodyUsed ? request.body : null;
  } catch {
    return null;
  }
}

function verifierOption(value: unknown): WebhookVerifier {
  if (!(value instanceof WebhookVerifier)) throw new InvalidOptionError('verifier', 'a WebhookVerifier (webhookVerifier(scheme, { secrets }))', value);
  return value;
}
