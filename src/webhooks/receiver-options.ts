import type { Clock } from '../internal/clock.js';
import type { Event } from '../internal/events.js';
import type { AuditSink } from '../observability/audit.js';
import type { Queue } from '../queue/queue.js';
import type { Middleware } from '../server/compose.js';
import type { EventVersion } from './ordering.js';
import type { PayloadMode, WebhookField } from './receiver-input.js';
import type { SchemeInput, SecretOptions, ToleranceOptions, WebhookVerifier } from './verify.js';

/** Message headers the receiver sets on every message it enqueues. */
export const WEBHOOK_ID_HEADER = 'weir-webhook-id';
export const WEBHOOK_RECEIVED_AT_HEADER = 'weir-webhook-received-at';
export const WEBHOOK_SCHEME_HEADER = 'weir-webhook-scheme';

/** Options of {@link receiver}. Secrets as for `webhookVerifier` (`secret`, or `secrets` during a rotation), or a ready `verifier`. */
export type ReceiverOptions = (
  | (SecretOptions &
      ToleranceOptions & {
        /** The signature format: a built-in name, a scheme, or an `hmacScheme` config. */
        readonly scheme: SchemeInput;
        readonly verifier?: never;
      })
  | { readonly verifier: WebhookVerifier; readonly scheme?: never; readonly secret?: never; readonly secrets?: never }
) & {
    /** Where accepted deliveries go: its store holds the inbox row and the message, in one transaction. */
    readonly queue: Queue;
    /** The topic to enqueue on. */
    readonly topic: string;
    /**
     * The delivery's id, for deduplication: a header name (`'X-ESP-Delivery'`) or a function over the
     * verified delivery (`(w) => w.json<{ event_id: string }>().event_id`). Default for the built-in
     * formats: `webhook-id` (Standard Webhooks), `X-GitHub-Delivery`, `X-Shopify-Webhook-Id`, Stripe's
     * event `id`; required for any other format.
     */
    readonly dedupBy?: WebhookField<string>;
    /** The message key (per-key order, e.g. the customer id): a header name or a function. Default none. */
    readonly keyBy?: WebhookField<string>;
    /** The event's own version or timestamp, recorded in the message header `weir-webhook-version`. Default none. */
    readonly versionBy?: WebhookField<EventVersion>;
    /** The message payload: `'json'` (default; a body that is not JSON is refused with 400), `'text'`, `'base64'`, or a function. */
    readonly parse?: PayloadMode;
    /** Request headers copied into the message headers, lower-cased (e.g. `['X-GitHub-Event']`). Default none. */
    readonly keepHeaders?: readonly string[];
    /** Largest body accepted, in bytes; a larger one gets 413. Default 1_048_576 (1 MiB). */
    readonly maxBodyBytes?: number;
    /** Budget of the inbox + enqueue commit on an asynchronous store (PostgreSQL), in ms; past it the answer is 503. Default 1_500. */
    readonly timeoutMs?: number;
    /** The `system` of the audit entries. Default: the scheme's name (`'crm'` for `hmacScheme({ name: 'crm', … })`). */
    readonly system?: string;
    /** Where the inbound audit entries go: a sink (`auditTrail({ store })`), or `false`. Default: appended to the queue's store before answering. */
    readonly audit?: AuditSink | false;
    /** Inbox consumer name under which delivery ids are recorded. Default `webhook:<topic>`. */
    readonly inbox?: string;
    /** Default: the system clock (timestamps, replay window). */
    readonly clock?: Clock;
  };

/** The audit outcome of one delivery. */
export type ReceiveOutcome = 'ok' | 'duplicate_ignored' | 'rejected' | 'error';

/** Reported by {@link WebhookReceiver.onError}: the store failed (503), an audit write failed, or something unexpected threw (500). */
export interface ReceiverErrorEvent {
  readonly error: unknown;
  readonly stage: 'commit' | 'audit' | 'unexpected';
  readonly requestId: string;
}

/** A mounted receiver: a `weir/server` middleware that answers by itself, plus `fetch` for fetch-style runtimes. */
export interface WebhookReceiver extends Middleware {
  readonly topic: string;
  /** Answers one Web `Request` (Bun, Deno, Cloudflare, tests). */
  fetch(request: Request): Promise<Response>;
  /** Store failures (answered 503) and failed audit writes. */
  readonly onError: Event<ReceiverErrorEvent>;
}
