import type { WebhookScheme } from '../scheme.js';
import { hmacScheme } from './generic.js';

/** Options of {@link slack}. */
export interface SlackSchemeOptions {
  /** Maximum distance of `X-Slack-Request-Timestamp` from now, either way, in seconds. Default 300 (Slack's advice). */
  readonly toleranceSeconds?: number;
}

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret as UTF-8, "v0:" + timestamp + ":" + body)>`
 * with the timestamp in `X-Slack-Request-Timestamp`. Import from `weir/webhooks`; `'slack'` names the default.
 *
 * @example `verify('slack', { secret: process.env.SLACK_SIGNING_SECRET!, rawBody, headers })`
 */
export function slack(options: SlackSchemeOptions = {}): WebhookScheme<Buffer> {
  return hmacScheme({
    name: 'slack',
    signatureHeader: 'X-Slack-Signature',
    prefix: 'v0=',
    timestampHeader: 'X-Slack-Request-Timestamp',
    signedContent: 'v0:{timestamp}:{body}',
    encoding: 'hex',
    ...(options.toleranceSeconds === undefined ? {} : { toleranceSeconds: options.toleranceSeconds }),
  });
}
