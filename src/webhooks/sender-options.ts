import type { Clock } from '../internal/clock.js';
import type { Duration } from '../internal/duration.js';
import type { AuditSink } from '../observability/audit.js';
import type { Queue } from '../queue/queue.js';
import type { Store } from '../store/types.js';
import type { WebhookEndpoint } from './endpoints.js';
import type { WebhookTransport } from './transport.js';
import type { SchemeInput } from './verify.js';

/** The delivery schedule: delay before attempt 1, 2, … (8 attempts over about 27.5 hours, as Svix). */
export const DEFAULT_WEBHOOK_SCHEDULE: readonly Duration[] = ['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h'];

/** Defaults of {@link webhookSender}, in one place. */
export const SENDER_DEFAULTS = {
  topic: 'weir.webhooks',
  jitter: 0.2,
  disableAfterMs: 5 * 86_400_000,
  maxPayloadBytes: 262_144,
  timeoutMs: 15_000,
  maxResponseBytes: 1_024,
  concurrency: 10,
  ordering: 'none',
  userAgent: 'weir-webhooks',
} as const;

/** Options of {@link webhookSender}. */
export interface WebhookSenderOptions {
  /** The queue deliveries travel on (its store holds them, the endpoint states and the attempt log). */
  readonly queue: Queue;
  /** Must be the queue's store when given. Default `queue.store`. */
  readonly store?: Store;
  readonly endpoints: readonly WebhookEndpoint[];
  /** One topic for every delivery; the message key is the endpoint id. Default `'weir.webhooks'`. At most 100 characters. */
  readonly topic?: string;
  /** Signature format. Default `'standard-webhooks'` (`webhook-id`, `webhook-timestamp`, `webhook-signature`). */
  readonly scheme?: SchemeInput;
  /** Delay before each attempt, the first included. Default {@link DEFAULT_WEBHOOK_SCHEDULE}. */
  readonly schedule?: readonly Duration[];
  /** Spread of each retry delay, ± this fraction (the queue's `random` draws it). Default 0.2. */
  readonly jitter?: number;
  /** An endpoint failing without a success for this long is disabled, in ms. Default 432_000_000 (5 days). */
  readonly disableAfterMs?: number;
  /** Largest serialised event accepted by `send()`, in bytes; above it `send()` throws `WEIR_PAYLOAD_TOO_LARGE`. Default 262_144 (256 KiB). */
  readonly maxPayloadBytes?: number;
  /** Budget of one attempt (connect, headers, response excerpt), in ms, wall-clock. Default 15_000. */
  readonly timeoutMs?: number;
  /** Bytes of each response kept in the attempt log. Default 1_024. */
  readonly maxResponseBytes?: number;
  /** Deliveries in flight at once in this process. Default 10. */
  readonly concurrency?: number;
  /**
   * `'none'` (default): an endpoint's deliveries are independent, so one failing event does not hold
   * back the next (receivers must order by the event itself). `'key'`: strict per-endpoint FIFO, at
   * the price of head-of-line blocking for up to the whole schedule.
   */
  readonly ordering?: 'none' | 'key';
  /** Where the attempt log goes: a sink, or `false`. Default: appended to the store's audit trail after each attempt. */
  readonly audit?: AuditSink | false;
  /** The network seam. Default {@link undiciTransport}. */
  readonly transport?: WebhookTransport;
  /** Default: the system clock (signing time, schedule, failing-since). Give the queue's clock. */
  readonly clock?: Clock;
  /** Default `'weir-webhooks'`. */
  readonly userAgent?: string;
}

/** One event to deliver to every subscribed endpoint. */
export interface WebhookEvent {
  /** The event type endpoints subscribe to, e.g. `'customer.updated'`. */
  readonly type: string;
  /** Any JSON value: the body is `{"type", "timestamp", "data"}` (the Standard Webhooks shape). */
  readonly data: unknown;
  /** The `webhook-id`. Default `msg_` + a UUIDv7. Sending the same id again enqueues nothing new. */
  readonly id?: string;
  /** The event time in the body. Default now. */
  readonly timestamp?: Date | number;
}

/** What `send()` enqueued. */
export interface SendResult {
  readonly webhookId: string;
  /** Subscribed endpoints, in configuration order. */
  readonly endpointIds: readonly string[];
  /** One queue message per endpoint. */
  readonly messageIds: readonly string[];
}

/** Reported by `onError`: an attempt-log write failed. */
export interface SenderErrorEvent {
  readonly error: unknown;
}
