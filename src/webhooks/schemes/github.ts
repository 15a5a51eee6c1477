import type { HeaderLookup, SignInput, WebhookScheme } from '../scheme.js';
import { hmacScheme } from './generic.js';

/** Options of {@link github}. */
export interface GitHubSchemeOptions {
  /**
   * Also accept the legacy `X-Hub-Signature: sha1=<hex HMAC-SHA1>` when a request carries no
   * `X-Hub-Signature-256` (and add it when signing). Default `false`: GitHub sends both headers
   * and recommends SHA-256, so new receivers need not trust SHA-1. When the SHA-256 header is
   * present it alone decides.
   */
  readonly allowSha1?: boolean;
}

/**
 * GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret as UTF-8, body)>`. The format signs no
 * timestamp: deduplicate on `X-GitHub-Delivery`. Import from `weir/webhooks`; `'github'` names the default.
 *
 * @example `verify('github', { secret: process.env.GITHUB_WEBHOOK_SECRET!, rawBody, headers })`
 */
export function github(options: GitHubSchemeOptions = {}): WebhookScheme<Buffer> {
  const sha256 = hmacScheme({ name: 'github', signatureHeader: 'X-Hub-Signature-256', prefix: 'sha256=' });
  if (options.allowSha1 !== true) return sha256;
  const sha1 = hmacScheme({ name: 'github', signatureHeader: 'X-Hub-Signature', prefix: 'sha1=', algorithm: 'sha1' });
  return {
    name: 'github',
    toleranceSeconds: sha256.toleranceSeconds,
    futureToleranceSeconds: sha256.futureToleranceSeconds,
    importKey: (secret, option) => sha256.importKey(secret, option),
    check(keys: readonly Buffer[], body: Uint8Array, header: HeaderLookup): number | undefined {
      const legacyOnly = header('x-hub-signature-256') === undefined && header('x-hub-signature') !== undefined;
      return (legacyOnly ? sha1 : sha256).check(keys, body, header);
    },
    sign(keys: readonly Buffer[], body: Uint8Array, input: SignInput): Record<string, string> {
      return { ...sha256.sign(keys, body, input), ...sha1.sign(keys, body, input) };
    },
  };
}
