import type { AppContext } from 'weir/app';
import type { Secret } from 'weir/security';
import type { Sync } from 'weir/sync';
import { hmacScheme, WEBHOOK_ID_HEADER } from 'weir/webhooks';
import type { Customer } from './crm.js';

/** `X-CRM-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, t + "." + rawBody)>`, refused beyond ±300 s. */
export const crmScheme = hmacScheme({ name: 'crm', signatureHeader: 'X-CRM-Signature', format: 'params', signedContent: '{timestamp}.{body}', toleranceSeconds: 300 });

/** `X-ESP-Signature: sha256=<hex HMAC-SHA256(secret, rawBody)>`; no timestamp, so deliveries dedupe on `X-ESP-Delivery`. */
export const espScheme = hmacScheme({ name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' });

/** A CRM webhook: the full customer (a fat event). */
export interface CrmEvent {
  readonly event_id: string;
  readonly type: 'customer.created' | 'customer.updated';
  readonly occurred_at: string;
  readonly data: Customer;
}

/** An ESP webhook: only the contact's id (a thin event); the sync fetches the contact. */
export interface EspEvent {
  readonly type: 'contact.unsubscribed' | 'contact.updated';
  readonly contact_id: string;
  readonly occurred_at: string;
}

/**
 * `POST /webhooks/crm` and `POST /webhooks/esp` on the hooks server (`WEIR_HOOK_PORT`).
 *
 * The receiver verifies the signature against the raw body (forged or stale: 401, nothing
 * enqueued), records the delivery id in the inbox and enqueues the event in one transaction, and
 * answers 200 at once, whatever the state of the other system; a delivery seen before answers 200
 * and does nothing. Every delivery, forged and duplicate ones included, gets one inbound audit
 * entry whose `request_id` is the `event_id` (CRM) or `X-ESP-Delivery` (ESP).
 *
 * The handlers run later from the queue, and only hand the change to the sync, which orders it
 * per customer and applies it (or finds it stale: R14).
 */
export function mountWebhooks(app: AppContext, sync: Sync, secrets: { readonly crm: Secret; readonly esp: Secret }): void {
  app.webhook<CrmEvent>('/webhooks/crm', {
    scheme: crmScheme,
    secret: secrets.crm,
    dedupBy: (w) => w.json<CrmEvent>().event_id,
    keyBy: (w) => w.json<CrmEvent>().data.id,
    handler: async (msg) => {
      await sync.intake.fromWebhook('left', msg.payload.data);
    },
  });
  app.webhook<EspEvent>('/webhooks/esp', {
    scheme: espScheme,
    secret: secrets.esp,
    dedupBy: 'X-ESP-Delivery',
    keyBy: (w) => w.json<EspEvent>().contact_id,
    handler: async (msg) => {
      // The delivery id makes a redelivered event enqueue the change once.
      await sync.intake.fromWebhook('right', msg.payload.contact_id, msg.headers[WEBHOOK_ID_HEADER]);
    },
  });
}
