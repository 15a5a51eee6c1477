import { InvalidOptionError, WeirError } from '../errors.js';

/** A raw request body: the bytes as received, or a string taken as UTF-8. Never parsed. */
export type RawBody = Uint8Array | string;

/** A secret's value: a string (each scheme says how it becomes key bytes) or raw key bytes. */
export type SecretValue = string | Uint8Array;

/**
 * Request headers in any of the usual shapes: a Web `Headers`, Node's `IncomingHttpHeaders`
 * (lower-case names, `string | string[]`), or a plain object with any casing. Lookups ignore case.
 */
export type WebhookHeaders =
  | Headers
  | { readonly get: (name: string) => string | null }
  | { readonly [name: string]: string | readonly string[] | undefined };

/** Reads one header by lower-case name; `undefined` when absent or empty. */
export type HeaderLookup = (lowerCaseName: string) => string | undefined;

/** What a sender puts into the signed content besides the body. */
export interface SignInput {
  /** Message id (Standard Webhooks `webhook-id`; schemes without an id ignore it). */
  readonly id: string;
  /** Unix time in seconds. */
  readonly timestamp: number;
}

/**
 * A webhook signature format. Weir ships one per provider (`standardWebhooks()`, `stripe()`,
 * `github()`, `shopify()`, `slack()`, `convoy()`) and `hmacScheme(config)` describes any other
 * HMAC format in a few lines; a format that fits neither can implement this interface itself.
 * Import from `weir/webhooks`.
 *
 * `K` is the parsed key type: secrets are parsed once by {@link importKey}, then reused.
 */
export interface WebhookScheme<K = unknown> {
  /** Name used in error details, e.g. `'stripe'`. */
  readonly name: string;
  /** Default maximum age of a signed timestamp, in seconds (a verifier's option overrides it). */
  readonly toleranceSeconds: number;
  /** Default maximum distance of a signed timestamp into the future, in seconds (may be `Infinity`). */
  readonly futureToleranceSeconds: number;
  /**
   * Parses and validates one secret. Throws `InvalidOptionError` naming `option`, never showing the
   * secret. Must be pure: Weir caches the result per scheme and secret string.
   */
  importKey(secret: SecretValue, option: string): K;
  /**
   * Checks the signature of `body` against every key. Returns the signed Unix timestamp in seconds
   * (the caller checks its age), or `undefined` when the format signs none. Throws
   * `WEIR_SIGNATURE_MISSING` or `WEIR_SIGNATURE_INVALID`; never parses the body.
   */
  check(keys: readonly K[], body: Uint8Array, header: HeaderLookup): number | undefined;
  /** The headers that carry the signature(s) of `body`, one per key where the format allows. */
  sign(keys: readonly K[], body: Uint8Array, input: SignInput): Record<string, string>;
}

/** Why a signature was rejected, in `err.details.reason`. */
export type SignatureFailure =
  | 'missing-header'
  | 'duplicate-header'
  | 'malformed-header'
  | 'malformed-timestamp'
  | 'no-signature'
  | 'mismatch';

/**
 * A `WEIR_SIGNATURE_MISSING` (`reason: 'missing-header'`) or `WEIR_SIGNATURE_INVALID` error. Details
 * name the scheme, the reason and the header, never a header value or a secret.
 */
export function signatureError(scheme: string, reason: SignatureFailure, header: string): WeirError {
  if (reason === 'missing-header') {
    return new WeirError('WEIR_SIGNATURE_MISSING', `Webhook signature header "${header}" is missing (${scheme}).`, {
      details: { scheme, reason, header },
    });
  }
  return new WeirError('WEIR_SIGNATURE_INVALID', `Webhook signature is not valid (${scheme}: ${reason}, header "${header}").`, {
    details: { scheme, reason, header },
  });
}

type HeaderRecord = { readonly [name: string]: string | readonly string[] | undefined };

/**
 * A case-insensitive reader over any {@link WebhookHeaders}. Several values of one header (an
 * array) are accepted only when they are all equal; otherwise the request is ambiguous and
 * rejected as `WEIR_SIGNATURE_INVALID` (`duplicate-header`).
 */
export function headerLookup(headers: WebhookHeaders, scheme: string): HeaderLookup {
  if (typeof headers !== 'object' || headers === null) throw new InvalidOptionError('headers', 'a Headers or a header object', headers);
  const get = (headers as { get?: unknown }).get;
  if (typeof get === 'function') {
    const web = headers as { get(name: string): string | null };
    return (name) => {
      const value = web.get(name);
      return value === null || value === '' ? undefined : value;
    };
  }
  const record = headers as HeaderRecord;
  return (name) => {
    // Node's IncomingHttpHeaders are already lower-case: one property read in the common case.
    const value = Object.hasOwn(record, name) ? record[name] : scan(record, name);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value === '' ? undefined : value;
    const first = value[0];
    if (first === undefined) return undefined;
    for (const other of value) if (other !== first) throw signatureError(scheme, 'duplicate-header', name);
    return first === '' ? undefined : first;
  };
}

function scan(record: HeaderRecord, name: string): string | readonly string[] | undefined {
  for (const key of Object.keys(record)) {
    if (key.length === name.length && key.toLowerCase() === name) return record[key];
  }
  return undefined;
}

/** Parses a signed Unix timestamp strictly: 1 to 15 decimal digits, no sign, no leading zero, no spaces. */
export function parseTimestamp(text: string): number | undefined {
  const length = text.length;
  if (length === 0 || length > 15 || (length > 1 && text.charCodeAt(0) === 48)) return undefined;
  let value = 0;
  for (let i = 0; i < length; i += 1) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Validates an HTTP header name. */
export function headerName(value: unknown, option: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) throw new InvalidOptionError(option, 'an HTTP header name', value);
  return value;
}
