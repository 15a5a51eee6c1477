import { finite } from '../../internal/validate.js';
import {
  signStandardWebhook,
  type StandardWebhooksKey,
  standardWebhooksKey,
  verifyStandardWebhookSignature,
} from '../../security/standard-webhooks.js';
import {
  type HeaderLookup,
  parseTimestamp,
  type SecretValue,
  type SignInput,
  signatureError,
  type WebhookScheme,
} from '../scheme.js';

/** Options of {@link standardWebhooks}. */
export interface StandardWebhooksSchemeOptions {
  /**
   * Maximum distance of `webhook-timestamp` from now, in seconds, in both directions (the spec
   * rejects too-old and too-new timestamps alike). Default 300, as the reference libraries.
   */
  readonly toleranceSeconds?: number;
}

const NAME = 'standard-webhooks';
const BRANDS = [
  ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
  ['svix-id', 'svix-timestamp', 'svix-signature'],
] as const;

/**
 * Standard Webhooks (and Svix, which sends the same format under `svix-*` header names):
 * `webhook-signature` lists `v1,<base64 HMAC-SHA256>` and/or `v1a,<base64 Ed25519>` entries over
 * `${webhook-id}.${webhook-timestamp}.${body}`.
 *
 * Secrets: `whsec_…` (HMAC; prefix optional), `whpk_…` (Ed25519 public key, verifies `v1a`),
 * `whsk_…` (Ed25519 secret key, signs `v1a`). Several secrets verify during a rotation; signing with
 * several puts one entry per secret in the header. Import from `weir/webhooks`; `'standard-webhooks'`
 * names the default.
 *
 * @example
 * ```ts
 * const headers = sign('standard-webhooks', { secrets: [oldSecret, newSecret], id: 'msg_1', rawBody });
 * verify('standard-webhooks', { secret: newSecret, rawBody, headers });
 * ```
 */
export function standardWebhooks(options: StandardWebhooksSchemeOptions = {}): WebhookScheme<StandardWebhooksKey> {
  const tolerance = options.toleranceSeconds === undefined ? 300 : finite(options.toleranceSeconds, 'standardWebhooks.toleranceSeconds', 0);
  return {
    name: NAME,
    toleranceSeconds: tolerance,
    futureToleranceSeconds: tolerance,
    importKey: (secret: SecretValue, option: string) => standardWebhooksKey(secret, option),
    check(keys: readonly StandardWebhooksKey[], body: Uint8Array, header: HeaderLookup): number | undefined {
      // One family of headers, never a mix: webhook-* when its signature header is present, else svix-*.
      let names: (typeof BRANDS)[number] = BRANDS[0];
      let signature = header(names[2]);
      if (signature === undefined) {
        signature = header(BRANDS[1][2]);
        if (signature === undefined) throw signatureError(NAME, 'missing-header', names[2]);
        names = BRANDS[1];
      }
      const [idName, timestampName, signatureName] = names;
      const id = header(idName);
      if (id === undefined) throw signatureError(NAME, 'missing-header', idName);
      const timestampText = header(timestampName);
      if (timestampText === undefined) throw signatureError(NAME, 'missing-header', timestampName);
      const timestamp = parseTimestamp(timestampText);
      if (timestamp === undefined) throw signatureError(NAME, 'malformed-timestamp', timestampName);
      if (!verifyStandardWebhookSignature(keys, id, timestampText, body, signature)) throw signatureError(NAME, 'mismatch', signatureName);
      return timestamp;
    },
    sign(keys: readonly StandardWebhooksKey[], body: Uint8Array, input: SignInput): Record<string, string> {
      return {
        'webhook-id': input.id,
        'webhook-timestamp': String(input.timestamp),
        'webhook-signature': signStandardWebhook(keys, input.id, input.timestamp, body),
      };
    },
  };
}
