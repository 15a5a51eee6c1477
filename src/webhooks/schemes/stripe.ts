import type { WebhookScheme } from '../scheme.js';
import { hmacScheme } from './generic.js';

/** Options of {@link stripe}. */
export interface StripeSchemeOptions {
  /** Maximum age of `t`, in seconds. Default 300 (stripe-node's `DEFAULT_TOLERANCE`). */
  readonly toleranceSeconds?: number;
  /**
   * Maximum distance of `t` into the future, in seconds. Default `Infinity`: stripe-node rejects
   * only timestamps that are too old, and Weir answers as it does. Set it to reject future ones too.
   */
  readonly futureToleranceSeconds?: number;
}

/**
 * Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>[,v1=…][,v0=…]`.
 * The key is the whole signing secret string as UTF-8 (`whsec_` included, not base64-decoded,
 * unlike Standard Webhooks). During a secret roll Stripe sends one `v1` per active secret; any
 * one matching is enough. `v0` is ignored. Import from `weir/webhooks`; `'stripe'` names the default.
 *
 * @example `verify(stripe({ toleranceSeconds: 600 }), { secret, rawBody, headers })`
 */
export function stripe(options: StripeSchemeOptions = {}): WebhookScheme<Buffer> {
  return hmacScheme({
    name: 'stripe',
    signatureHeader: 'Stripe-Signature',
    format: 'params',
    timestampParam: 't',
    signatureParam: 'v1',
    signedContent: '{timestamp}.{body}',
    encoding: 'hex',
    ...(options.toleranceSeconds === undefined ? {} : { toleranceSeconds: options.toleranceSeconds }),
    futureToleranceSeconds: options.futureToleranceSeconds ?? Number.POSITIVE_INFINITY,
  });
}
