import { oneOf } from '../../internal/validate.js';
import type { WebhookScheme } from '../scheme.js';
import { hmacScheme } from './generic.js';

/** Options of {@link convoy}, named as in Convoy's endpoint settings. */
export interface ConvoySchemeOptions {
  /**
   * `true` (default): advanced signatures, `X-Convoy-Signature: t=<unix>,v1=<sig>[,v1=…]` over
   * `t + "," + body` (a comma, unlike Stripe's dot), keys in any order, replay-protected.
   * `false`: simple signatures, the header is `<sig>` over the body alone (no timestamp).
   */
  readonly advanced?: boolean;
  /** Default `'sha256'`. */
  readonly hash?: 'sha256' | 'sha512';
  /** Default `'hex'`. */
  readonly encoding?: 'hex' | 'base64';
  /** Maximum distance of `t` from now, either way, in seconds (advanced only). Default 300. */
  readonly toleranceSeconds?: number;
}

/**
 * Convoy (frain-dev/convoy): HMAC with the secret as UTF-8, in simple or advanced mode. Import from
 * `weir/webhooks`; `'convoy'` names the default (advanced, SHA-256, hex).
 *
 * @throws InvalidOptionError for an unknown `hash` or `encoding`.
 * @example `verify(convoy({ advanced: false, encoding: 'base64' }), { secret, rawBody, headers })`
 */
export function convoy(options: ConvoySchemeOptions = {}): WebhookScheme<Buffer> {
  const advanced = options.advanced ?? true;
  return hmacScheme({
    name: 'convoy',
    signatureHeader: 'X-Convoy-Signature',
    algorithm: options.hash === undefined ? 'sha256' : oneOf(options.hash, 'convoy.hash', ['sha256', 'sha512']),
    encoding: options.encoding === undefined ? 'hex' : oneOf(options.encoding, 'convoy.encoding', ['hex', 'base64']),
    ...(advanced ? { format: 'params', signedContent: '{timestamp},{body}' } : {}),
    ...(options.toleranceSeconds === undefined ? {} : { toleranceSeconds: options.toleranceSeconds }),
  });
}
