import type { WebhookScheme } from '../scheme.js';
import { hmacScheme } from './generic.js';

/**
 * Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(app client secret as UTF-8, body)>`. The
 * format signs no timestamp (there is no replay window to check): deduplicate on
 * `X-Shopify-Webhook-Id` / `X-Shopify-Event-Id`. Import from `weir/webhooks`; `'shopify'` names it.
 *
 * @example `verify('shopify', { secret: process.env.SHOPIFY_CLIENT_SECRET!, rawBody, headers })`
 */
export function shopify(): WebhookScheme<Buffer> {
  return hmacScheme({ name: 'shopify', signatureHeader: 'X-Shopify-Hmac-Sha256', encoding: 'base64' });
}
