import { performance } from 'node:perf_hooks';
import { type Classification, RateLimitedError, WeirError, isWeirError } from '../errors.js';
import { parseRetryAfter } from '../http/rate-limit-headers.js';
import type { Clock } from '../internal/clock.js';
import { uuidv7 } from '../internal/ids.js';
import type { AuditSink } from '../observability/audit.js';
import type { HandlerContext, Message } from '../queue/types.js';
import { createRedactor } from '../security/redact.js';
import type { AuditEntry, AuditStore } from '../store/audit.js';
import { activeSecrets, type CompiledEndpoint, type EndpointKv, type EndpointState } from './endpoints.js';
import type { WebhookResponse, WebhookTransport } from './transport.js';
import { type SchemeInput, sign } from './verify.js';

/**
 * One delivery attempt of the webhook sender, run as the queue handler: sign afresh, POST, log
 * the attempt, and turn the answer into the queue's next step (done, retry at the schedule or at
 * a clamped Retry-After, dead-letter and disable).
 */

/** The payload of one delivery message: everything needed to send it again, byte for byte. */
export interface DeliveryPayload {
  readonly endpointId: string;
  /** The `webhook-id` header: the same on every attempt and every replay. */
  readonly webhookId: string;
  readonly type: string;
  /** The exact body, serialised once at `send()`. */
  readonly body: string;
}

/** Emitted when an endpoint is disabled. */
export interface EndpointDisabledEvent {
  readonly endpointId: string;
  readonly reason: 'gone' | 'failing';
  /** Epoch ms. */
  readonly at: number;
  /** When the failures began (sustained failure). */
  readonly failingSince: number | null;
}

/** What the delivery handler needs from its sender. */
export interface DeliveryRuntime {
  readonly endpoint: (id: string) => CompiledEndpoint | undefined;
  readonly kv: EndpointKv;
  readonly transport: WebhookTransport;
  readonly clock: Clock;
  readonly scheme: SchemeInput;
  /** Delays before deliveries 2, 3, … in ms (the queue's `retry.schedule`). */
  readonly retryMs: readonly number[];
  readonly disableAfterMs: number;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly userAgent: string;
  readonly audit: AuditSink | AuditStore | false;
  readonly disabled: (event: EndpointDisabledEvent) => void;
  readonly auditFailed: (error: unknown) => void;
}

/** A delivery that got an answer other than 2xx. Classified by the sender: 410 permanent, anything else transient. */
export class WebhookStatusError extends WeirError<'WEIR_HTTP_STATUS'> {
  readonly status: number;
  constructor(status: number, endpointId: string, classification: Classification, retryAfterMs: number | undefined) {
    super('WEIR_HTTP_STATUS', `Webhook endpoint ${endpointId} answered HTTP ${status}.`, {
      classification,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      details: { status, endpointId },
    });
    this.name = 'WebhookStatusError';
    this.status = status;
  }
}

const redactor = createRedactor();

/** The queue handler of the sender's topic. */
export async function deliver(rt: DeliveryRuntime, message: Message<DeliveryPayload>, ctx: HandlerContext): Promise<void> {
  const p = message.payload;
  const ep = rt.endpoint(p.endpointId);
  const now = rt.clock.now();
  if (ep === undefined) {
    throw new WeirError('WEIR_NOT_FOUND', `Webhook endpoint ${p.endpointId} is not configured.`, { details: { endpointId: p.endpointId } });
  }
  const state = await rt.kv.state(ep.id, now);
  if (state.disabled) {
    await log(rt, ep, message, { ts: now, status: null, outcome: 'skipped', durationMs: 0, detail: { reason: `endpoint disabled (${state.reason ?? 'manual'})` } });
    throw new WeirError('WEIR_WEBHOOK_ENDPOINT_DISABLED', `Webhook endpoint ${ep.id} is disabled.`, { details: { endpointId: ep.id, reason: state.reason } });
  }
  if (ep.rate !== undefined) {
    const waitMs = await rt.kv.take(ep.id, ep.rate, now);
    if (waitMs > 0) {
      // Not an attempt: hold this endpoint's deliveries until a slot is free; the delivery is refunded.
      await ctx.hold(waitMs, 'key');
      throw new RateLimitedError(waitMs, { details: { endpointId: ep.id, reason: 'endpoint rate limit' } });
    }
  }
  const headers: Record<string, string> = {
    ...ep.headers,
    'content-type': 'application/json',
    'user-agent': rt.userAgent,
    ...lowerCase(sign(rt.scheme, { secrets: activeSecrets(ep, now), id: p.webhookId, rawBody: p.body, now })),
  };
  const started = performance.now();
  let res: WebhookResponse | undefined;
  let failure: unknown;
  try {
    res = await rt.transport({ url: ep.url, headers, body: p.body, timeoutMs: rt.timeoutMs, signal: ctx.signal, maxResponseBytes: rt.maxResponseBytes });
  } catch (error) {
    failure = error;
  }
  const durationMs = performance.now() - started;
  if (res === undefined) {
    const code = isWeirError(failure) ? failure.code : null;
    if (code === 'WEIR_CANCELLED') throw failure;
    const outcome = code === 'WEIR_TIMEOUT' ? 'timeout' : 'network_error';
    await log(rt, ep, message, { ts: now, status: null, outcome, durationMs, detail: { error: code ?? 'unknown' } });
    if (!(await failed(rt, ep, state, now))) throw failure;
    throw new WeirError('WEIR_WEBHOOK_ENDPOINT_DISABLED', `Webhook endpoint ${ep.id} was disabled after sustained failure.`, { cause: failure, details: { endpointId: ep.id, reason: 'failing' } });
  }
  const excerpt = redactor.text(res.excerpt);
  if (res.status >= 200 && res.status < 300) {
    await log(rt, ep, message, { ts: now, status: res.status, outcome: 'ok', durationMs, detail: { response: excerpt } });
    if (state.failingSince !== null) await rt.kv.update(ep.id, now, (s) => (s.failingSince === null || s.disabled ? undefined : { ...s, failingSince: null }));
    return;
  }
  if (res.status === 410) {
    await log(rt, ep, message, { ts: now, status: 410, outcome: 'http_error', durationMs, detail: { response: excerpt, disabled: 'gone' } });
    await disable(rt, ep.id, now, 'gone', state.failingSince);
    throw new WebhookStatusError(410, ep.id, 'permanent', undefined);
  }
  const retryAfterMs = clampedRetryAfter(rt, res, message.delivery, now);
  await log(rt, ep, message, {
    ts: now,
    status: res.status,
    outcome: 'http_error',
    durationMs,
    detail: { response: excerpt, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  });
  const disabledNow = await failed(rt, ep, state, now);
  throw new WebhookStatusError(res.status, ep.id, disabledNow ? 'permanent' : 'transient', retryAfterMs);
}

/**
 * Retry-After, measured from the response's `Date`, clamped to [scheduled, 2 × scheduled] where
 * scheduled is the schedule's next step: never sooner than planned (a receiver asking for 1 s
 * does not speed retries up), never more than twice as late. Undefined without the header or
 * when this was the last delivery.
 */
export function clampedRetryAfter(rt: Pick<DeliveryRuntime, 'retryMs'>, res: WebhookResponse, delivery: number, now: number): number | undefined {
  const step = rt.retryMs[delivery - 1];
  if (step === undefined) return undefined;
  const date = header(res, 'date');
  const parsed = parseRetryAfter(header(res, 'retry-after'), { now, ...(date === undefined ? {} : { date }), maxMs: Number.MAX_SAFE_INTEGER });
  if (parsed === undefined) return undefined;
  return Math.min(Math.max(parsed.delayMs, step), 2 * step);
}

/** Records a failure: starts the failing run, or disables the endpoint once it has failed for `disableAfterMs`. True when it disabled it. */
async function failed(rt: DeliveryRuntime, ep: CompiledEndpoint, state: EndpointState, now: number): Promise<boolean> {
  if (state.failingSince === null) {
    await rt.kv.update(ep.id, now, (s) => (s.failingSince === null ? { ...s, failingSince: now } : undefined));
    return false;
  }
  if (now - state.failingSince < rt.disableAfterMs) return false;
  return disable(rt, ep.id, now, 'failing', state.failingSince);
}

async function disable(rt: DeliveryRuntime, id: string, now: number, reason: 'gone' | 'failing', failingSince: number | null): Promise<boolean> {
  const written = await rt.kv.update(id, now, (s) => (s.disabled ? undefined : { disabled: true, reason, disabledAt: now, failingSince: s.failingSince ?? failingSince }));
  if (written !== undefined) rt.disabled({ endpointId: id, reason, at: now, failingSince: written.failingSince });
  return true;
}

interface AttemptLog {
  readonly ts: number;
  readonly status: number | null;
  readonly outcome: 'ok' | 'http_error' | 'timeout' | 'network_error' | 'skipped';
  readonly durationMs: number;
  readonly detail: Record<string, unknown>;
}

/** One outbound audit entry per attempt: status, latency, response excerpt; correlated by `webhook-id`. */
async function log(rt: DeliveryRuntime, ep: CompiledEndpoint, m: Message<DeliveryPayload>, a: AttemptLog): Promise<void> {
  if (rt.audit === false) return;
  const entry: AuditEntry = {
    ts: a.ts,
    direction: 'outbound',
    system: ep.system,
    requestId: uuidv7(a.ts),
    method: 'POST',
    path: redactor.url(ep.url),
    status: a.status,
    outcome: a.outcome,
    attempt: m.delivery,
    durationMs: a.durationMs,
    correlationId: m.payload.webhookId,
    idempotencyKey: null,
    detail: { endpointId: ep.id, messageId: m.id, eventType: m.payload.type, ...a.detail },
  };
  try {
    if ('record' in rt.audit) rt.audit.record(entry);
    else await rt.audit.append([entry]);
  } catch (error) {
    rt.auditFailed(error);
  }
}

function header(res: WebhookResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function lowerCase(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}
