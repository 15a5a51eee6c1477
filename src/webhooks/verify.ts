import { InvalidOptionError, WeirError } from '../errors.js';
import { uuidv7 } from '../internal/ids.js';
import { finite } from '../internal/validate.js';
import { isSecret, type Secret } from '../security/secret.js';
import { headerLookup, type RawBody, type SecretValue, type WebhookHeaders, type WebhookScheme } from './scheme.js';
import { convoy } from './schemes/convoy.js';
import { type HmacSchemeConfig, hmacScheme } from './schemes/generic.js';
import { github } from './schemes/github.js';
import { shopify } from './schemes/shopify.js';
import { slack } from './schemes/slack.js';
import { standardWebhooks } from './schemes/standard-webhooks.js';
import { stripe } from './schemes/stripe.js';

/** Names of the built-in formats, each with its default options. */
export type SchemeName = 'standard-webhooks' | 'stripe' | 'github' | 'shopify' | 'slack' | 'convoy';

/** A format: a built-in name, a scheme value (`stripe({...})`, `hmacScheme({...})`, your own), or a generic HMAC config. */
export type SchemeInput = SchemeName | WebhookScheme | HmacSchemeConfig;

/** A signing secret: its value, or a `Secret` from `weir/security` (`secret('STRIPE_WEBHOOK_SECRET')`). */
export type SigningSecret = SecretValue | Secret;

/** One secret, or several during a rotation (any one matching is enough; signing uses each). */
export type SecretOptions =
  | { readonly secret: SigningSecret; readonly secrets?: never }
  | { readonly secrets: readonly SigningSecret[]; readonly secret?: never };

/** Replay window. Both default to the scheme's own (300 s; Stripe accepts any future timestamp). */
export interface ToleranceOptions {
  /** Maximum age of the signed timestamp, in seconds. A finite number ≥ 0. */
  readonly toleranceSeconds?: number;
  /** Maximum distance of the signed timestamp into the future, in seconds (`Infinity` accepts any). Default `toleranceSeconds`. */
  readonly futureToleranceSeconds?: number;
}

/** Options of {@link webhookVerifier}: the secrets and the replay window, fixed once. */
export type WebhookVerifierOptions = SecretOptions & ToleranceOptions;

/** One request to verify. */
export interface VerifyInput {
  /** The body exactly as received (a string is UTF-8). Never parse and re-serialize it first. */
  readonly rawBody: RawBody;
  /** The request headers: a `Headers`, Node's `IncomingHttpHeaders` or a plain object (any case). */
  readonly headers: WebhookHeaders;
  /** The current time: a `Date` or Unix milliseconds (`Date.now()`, `clock.now()`). Default `Date.now()`. */
  readonly now?: Date | number;
}

/** Options of {@link verify}. */
export type VerifyOptions = WebhookVerifierOptions & VerifyInput;

/** Options of {@link sign}. */
export type SignOptions = SecretOptions & {
  /** The exact bytes that will be sent (a string is UTF-8). */
  readonly rawBody: RawBody;
  /** Message id for formats that sign one (Standard Webhooks). Default `msg_` + a UUIDv7 in hex. No `.` or whitespace. */
  readonly id?: string;
  /** The time to sign, a `Date` or Unix milliseconds. Default `Date.now()`. */
  readonly now?: Date | number;
};

const factories: Record<SchemeName, () => WebhookScheme> = {
  'standard-webhooks': () => standardWebhooks(),
  stripe: () => stripe(),
  github: () => github(),
  shopify: () => shopify(),
  slack: () => slack(),
  convoy: () => convoy(),
};
const byName = new Map<string, WebhookScheme>();
const byConfig = new WeakMap<object, WebhookScheme>();
/** Parsed keys per scheme and secret string, so one-shot verify() does not re-parse a secret per request. */
const keyCache = new WeakMap<WebhookScheme, Map<string, unknown>>();
const KEY_CACHE_SIZE = 32;

/**
 * The {@link WebhookScheme} for a name, a scheme or a generic config (compiled once per config
 * object). Import from `weir/webhooks`.
 * @throws InvalidOptionError for an unknown name or an invalid config.
 */
export function resolveScheme(scheme: SchemeInput): WebhookScheme {
  if (typeof scheme === 'string') {
    let resolved = byName.get(scheme);
    if (resolved === undefined) {
      if (!Object.hasOwn(factories, scheme)) throw new InvalidOptionError('scheme', `one of ${Object.keys(factories).join(', ')}, a scheme or an HMAC config`, scheme);
      resolved = factories[scheme]();
      byName.set(scheme, resolved);
    }
    return resolved;
  }
  if (typeof scheme !== 'object' || scheme === null) throw new InvalidOptionError('scheme', 'a scheme name, a scheme or an HMAC config', scheme);
  if (typeof (scheme as WebhookScheme).check === 'function') return scheme as WebhookScheme;
  let resolved = byConfig.get(scheme);
  if (resolved === undefined) {
    resolved = hmacScheme(scheme as HmacSchemeConfig);
    byConfig.set(scheme, resolved);
  }
  return resolved;
}

/**
 * A verifier with its scheme, secrets and replay window parsed and validated once: the form to
 * keep in a receiver (the body is hashed in place, nothing else is allocated per request but the
 * digests). Create it with {@link webhookVerifier}.
 */
export class WebhookVerifier {
  /** The scheme's name, e.g. `'stripe'`. */
  readonly scheme: string;
  readonly #scheme: WebhookScheme;
  readonly #keys: readonly unknown[];
  readonly #toleranceSeconds: number;
  readonly #futureToleranceSeconds: number;

  constructor(scheme: SchemeInput, options: WebhookVerifierOptions) {
    this.#scheme = resolveScheme(scheme);
    this.scheme = this.#scheme.name;
    this.#keys = importKeys(this.#scheme, options);
    this.#toleranceSeconds =
      options.toleranceSeconds === undefined ? this.#scheme.toleranceSeconds : finite(options.toleranceSeconds, 'toleranceSeconds', 0);
    const future = options.futureToleranceSeconds;
    if (future !== undefined) {
      this.#futureToleranceSeconds = future === Number.POSITIVE_INFINITY ? future : finite(future, 'futureToleranceSeconds', 0);
    } else {
      // A symmetric scheme stays symmetric under a new tolerance; Stripe's unbounded future stays unbounded.
      const symmetric = this.#scheme.futureToleranceSeconds === this.#scheme.toleranceSeconds;
      this.#futureToleranceSeconds = symmetric ? this.#toleranceSeconds : this.#scheme.futureToleranceSeconds;
    }
  }

  /**
   * Verifies one request and returns its raw body as bytes (the same `Uint8Array` when bytes were
   * given; a string is encoded once). Checks the signature first, then the signed timestamp, so a
   * stale or future error always concerns an authentic message (a replay or clock skew, not a forgery).
   *
   * @throws WeirError `WEIR_SIGNATURE_MISSING` (a required header is absent), `WEIR_SIGNATURE_INVALID`
   *   (malformed, or no signature matches any secret; `details.reason` says which),
   *   `WEIR_SIGNATURE_STALE` (older than `toleranceSeconds`), `WEIR_SIGNATURE_FUTURE` (further ahead
   *   than `futureToleranceSeconds`). Details never hold a secret or a header value.
   */
  verify(input: VerifyInput): Uint8Array {
    const body = toBytes(input.rawBody);
    const nowMs = toMs(input.now);
    const timestamp = this.#scheme.check(this.#keys, body, headerLookup(input.headers, this.scheme));
    if (timestamp === undefined) return body;
    const now = Math.floor(nowMs / 1000);
    if (now - timestamp > this.#toleranceSeconds) {
      throw new WeirError('WEIR_SIGNATURE_STALE', `Webhook timestamp is ${now - timestamp} s old, over the ${this.#toleranceSeconds} s tolerance (${this.scheme}).`, {
        details: { scheme: this.scheme, reason: 'stale', timestamp, now, toleranceSeconds: this.#toleranceSeconds },
      });
    }
    if (timestamp - now > this.#futureToleranceSeconds) {
      throw new WeirError('WEIR_SIGNATURE_FUTURE', `Webhook timestamp is ${timestamp - now} s in the future, over the ${this.#futureToleranceSeconds} s tolerance (${this.scheme}).`, {
        details: { scheme: this.scheme, reason: 'future', timestamp, now, toleranceSeconds: this.#futureToleranceSeconds },
      });
    }
    return body;
  }
}

/**
 * A reusable verifier for one scheme and its secrets. Import from `weir/webhooks`.
 *
 * @throws InvalidOptionError (at once) for an unknown scheme, a bad secret or tolerance.
 * @example
 * ```ts
 * const stripeHooks = webhookVerifier('stripe', { secrets: [current, previous] });
 * const bytes = stripeHooks.verify({ rawBody, headers: req.headers, now: clock.now() });
 * const event = JSON.parse(Buffer.from(bytes).toString('utf8')); // parsing is yours
 * ```
 */
export function webhookVerifier(scheme: SchemeInput, options: WebhookVerifierOptions): WebhookVerifier {
  return new WebhookVerifier(scheme, options);
}

/**
 * Verifies one webhook request: synchronous, returns the verified raw body bytes, never parses
 * them. See {@link WebhookVerifier.verify} for the checks and errors. Import from `weir/webhooks`.
 *
 * @throws InvalidOptionError for bad options; WeirError `WEIR_SIGNATURE_*` for a rejected request.
 * @example
 * ```ts
 * const bytes = verify('github', { secret, rawBody, headers: req.headers });
 * const bytes2 = verify({ signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' }, { secret, rawBody, headers });
 * ```
 */
export function verify(scheme: SchemeInput, options: VerifyOptions): Uint8Array {
  return new WebhookVerifier(scheme, options).verify(options);
}

/**
 * The signature headers for a body, as the provider would send them (for senders, simulators
 * and tests). With several secrets, formats that carry several signatures get one per secret
 * (Standard Webhooks, Stripe, Convoy advanced), which is how a rotation's overlap works. Import
 * from `weir/webhooks`.
 *
 * @throws InvalidOptionError for bad options, or several secrets for a one-signature format.
 * @example
 * ```ts
 * const headers = sign('standard-webhooks', { secrets: [oldSecret, newSecret], id: message.id, rawBody });
 * // { 'webhook-id': 'msg_…', 'webhook-timestamp': '1700000000', 'webhook-signature': 'v1,… v1,…' }
 * ```
 */
export function sign(scheme: SchemeInput, options: SignOptions): Record<string, string> {
  const resolved = resolveScheme(scheme);
  const keys = importKeys(resolved, options);
  const body = toBytes(options.rawBody);
  const timestamp = Math.floor(toMs(options.now) / 1000);
  const id = options.id === undefined ? `msg_${uuidv7().replaceAll('-', '')}` : messageId(options.id);
  return resolved.sign(keys, body, { id, timestamp });
}

function importKeys(scheme: WebhookScheme, options: SecretOptions): unknown[] {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'an options object', options);
  const { secret, secrets } = options as { secret?: SigningSecret; secrets?: readonly SigningSecret[] };
  if (secret !== undefined && secrets !== undefined) throw new InvalidOptionError('secrets', 'either secret or secrets, not both', 'both');
  if (secret !== undefined) return [importKey(scheme, secret, 'secret')];
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new InvalidOptionError('secrets', 'a secret, or a non-empty array of secrets', Array.isArray(secrets) ? 'an empty array' : secrets);
  }
  return secrets.map((s: SigningSecret, i: number) => importKey(scheme, s, `secrets[${i}]`));
}

function importKey(scheme: WebhookScheme, secret: SigningSecret, option: string): unknown {
  const value = isSecret(secret) ? secret.reveal() : secret;
  if (typeof value !== 'string') return scheme.importKey(value, option);
  let cache = keyCache.get(scheme);
  if (cache === undefined) {
    cache = new Map();
    keyCache.set(scheme, cache);
  }
  let key = cache.get(value);
  if (key === undefined) {
    key = scheme.importKey(value, option);
    if (cache.size >= KEY_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    cache.set(value, key);
  }
  return key;
}

function toBytes(body: RawBody): Uint8Array {
  if (body instanceof Uint8Array) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  throw new InvalidOptionError('rawBody', 'the raw body as a Uint8Array, Buffer or string (not parsed JSON)', body);
}

function toMs(now: Date | number | undefined): number {
  if (now === undefined) return Date.now();
  const ms = now instanceof Date ? now.getTime() : now;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new InvalidOptionError('now', 'a valid Date or Unix milliseconds', now);
  return ms;
}

const MESSAGE_ID = /^[\x21-\x2d\x2f-\x7e]{1,256}$/;

function messageId(id: unknown): string {
  // A '.' in the id would make `id.timestamp.body` ambiguous (another split could sign another body).
  if (typeof id !== 'string' || !MESSAGE_ID.test(id)) throw new InvalidOptionError('id', "1 to 256 visible ASCII characters without '.'", id);
  return id;
}
