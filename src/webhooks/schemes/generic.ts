import { InvalidOptionError } from '../../errors.js';
import { finite, oneOf } from '../../internal/validate.js';
import {
  constantTimeEqual,
  decodeSignature,
  encodeSignature,
  HMAC_DIGEST_BYTES,
  hmac,
  type HmacAlgorithm,
  type SecretEncoding,
  secretBytes,
  type SignatureEncoding,
} from '../../security/hmac.js';
import {
  type HeaderLookup,
  headerName,
  parseTimestamp,
  type SecretValue,
  type SignInput,
  signatureError,
  type WebhookScheme,
} from '../scheme.js';

/**
 * Describes an HMAC webhook format in a few lines, so any provider can be verified (and
 * simulated) without code. Every built-in HMAC provider (Stripe, GitHub, Shopify, Slack, Convoy)
 * is one of these.
 *
 * @example CRM `X-CRM-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`
 * ```ts
 * const crm = hmacScheme({ name: 'crm', signatureHeader: 'X-CRM-Signature', format: 'params', signedContent: '{timestamp}.{body}' });
 * ```
 * @example ESP `X-ESP-Signature: sha256=<hex HMAC-SHA256(secret, body)>`
 * ```ts
 * const esp = hmacScheme({ name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' });
 * ```
 */
export interface HmacSchemeConfig {
  /** Name used in error details. Default `'hmac'`. */
  readonly name?: string;
  /** The header that carries the signature (any case). */
  readonly signatureHeader: string;
  /**
   * - `'value'` (default): the header is one signature, after {@link prefix}.
   * - `'params'`: comma-separated `key=value` pairs in any order (Stripe style): the
   *   {@link timestampParam} holds the timestamp and every {@link signatureParam} a signature
   *   (several during a secret rotation; any one matching is enough).
   */
  readonly format?: 'value' | 'params';
  /** Text before the signature in `'value'` format, e.g. `'sha256='`. Required to be present when set. Default none. */
  readonly prefix?: string;
  /** Key of the timestamp in `'params'` format. Default `'t'`. */
  readonly timestampParam?: string;
  /** Key of each signature in `'params'` format. Default `'v1'`. */
  readonly signatureParam?: string;
  /** A header carrying the Unix timestamp in seconds (Slack style), instead of a param. */
  readonly timestampHeader?: string;
  /** A header carrying a message id, for `{id}` in {@link signedContent}. */
  readonly idHeader?: string;
  /**
   * What is signed: `{body}` (exactly once, the raw bytes), optionally with `{timestamp}` and
   * `{id}` and literal text around them. Default `'{body}'`. A timestamp is checked against the
   * clock only when it is signed, i.e. when the template has `{timestamp}`.
   * @example `'{timestamp}.{body}'` (Stripe), `'v0:{timestamp}:{body}'` (Slack), `'{timestamp},{body}'` (Convoy)
   */
  readonly signedContent?: string;
  /** Default `'sha256'`. */
  readonly algorithm?: HmacAlgorithm;
  /** How the signature is written. Default `'hex'` (case-insensitive when verifying). */
  readonly encoding?: SignatureEncoding;
  /** How a string secret becomes the key. Default `'utf8'` (the whole string, as most providers use it). */
  readonly secretEncoding?: SecretEncoding;
  /** Default maximum age of the timestamp, in seconds. Default 300. */
  readonly toleranceSeconds?: number;
  /** Default maximum distance into the future, in seconds; `Infinity` accepts any. Default: `toleranceSeconds`. */
  readonly futureToleranceSeconds?: number;
}

type Piece = string | { readonly field: 'timestamp' | 'id' };

/** Signatures of one header looked at; a longer list is cut there. */
const MAX_SIGNATURES = 20;

/**
 * Compiles an {@link HmacSchemeConfig} into a {@link WebhookScheme}, validating it eagerly.
 * Import from `weir/webhooks`.
 *
 * @throws InvalidOptionError naming the option (`scheme.signatureHeader`, `scheme.signedContent`, …).
 * @example
 * ```ts
 * const esp = hmacScheme({ name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' });
 * const body = verify(esp, { secret, rawBody, headers });
 * ```
 */
export function hmacScheme(config: HmacSchemeConfig): WebhookScheme<Buffer> {
  if (typeof config !== 'object' || config === null) throw new InvalidOptionError('scheme', 'an HMAC scheme config', config);
  return new HmacScheme(config);
}

class HmacScheme implements WebhookScheme<Buffer> {
  readonly name: string;
  readonly toleranceSeconds: number;
  readonly futureToleranceSeconds: number;
  private readonly signatureHeader: string;
  private readonly format: 'value' | 'params';
  private readonly prefix: string;
  private readonly timestampParam: string;
  private readonly signatureParam: string;
  private readonly timestampHeader: string | undefined;
  private readonly idHeader: string | undefined;
  private readonly before: readonly Piece[];
  private readonly after: readonly Piece[];
  private readonly signsTimestamp: boolean;
  private readonly signsId: boolean;
  private readonly algorithm: HmacAlgorithm;
  private readonly digestBytes: number;
  private readonly encoding: SignatureEncoding;
  private readonly secretEncoding: SecretEncoding;

  constructor(c: HmacSchemeConfig) {
    this.name = c.name === undefined ? 'hmac' : nonEmpty(c.name, 'scheme.name');
    this.signatureHeader = headerName(c.signatureHeader, 'scheme.signatureHeader');
    this.format = c.format === undefined ? 'value' : oneOf(c.format, 'scheme.format', ['value', 'params']);
    this.prefix = c.prefix === undefined ? '' : nonEmpty(c.prefix, 'scheme.prefix');
    if (this.prefix !== '' && this.format === 'params') throw new InvalidOptionError('scheme.prefix', "no prefix with format 'params'", c.prefix);
    this.timestampParam = c.timestampParam === undefined ? 't' : nonEmpty(c.timestampParam, 'scheme.timestampParam');
    this.signatureParam = c.signatureParam === undefined ? 'v1' : nonEmpty(c.signatureParam, 'scheme.signatureParam');
    this.timestampHeader = c.timestampHeader === undefined ? undefined : headerName(c.timestampHeader, 'scheme.timestampHeader');
    this.idHeader = c.idHeader === undefined ? undefined : headerName(c.idHeader, 'scheme.idHeader');
    [this.before, this.after] = template(c.signedContent ?? '{body}');
    const fields = [...this.before, ...this.after].filter((p): p is Exclude<Piece, string> => typeof p !== 'string');
    this.signsTimestamp = fields.some((p) => p.field === 'timestamp');
    this.signsId = fields.some((p) => p.field === 'id');
    if (this.signsTimestamp && this.format === 'value' && this.timestampHeader === undefined) {
      throw new InvalidOptionError('scheme.timestampHeader', "a header name when {timestamp} is signed and format is 'value'", undefined);
    }
    if (!this.signsTimestamp && this.timestampHeader !== undefined) {
      // An unsigned timestamp protects nothing: anyone can rewrite it.
      throw new InvalidOptionError('scheme.signedContent', 'a template with {timestamp} when timestampHeader is set', c.signedContent);
    }
    if (this.signsId && this.idHeader === undefined) throw new InvalidOptionError('scheme.idHeader', 'a header name when {id} is signed', undefined);
    if (!this.signsId && this.idHeader !== undefined) throw new InvalidOptionError('scheme.signedContent', 'a template with {id} when idHeader is set', c.signedContent);
    this.algorithm = c.algorithm === undefined ? 'sha256' : oneOf(c.algorithm, 'scheme.algorithm', ['sha256', 'sha512', 'sha1']);
    this.digestBytes = HMAC_DIGEST_BYTES[this.algorithm];
    this.encoding = c.encoding === undefined ? 'hex' : oneOf(c.encoding, 'scheme.encoding', ['hex', 'base64', 'base64url']);
    this.secretEncoding = c.secretEncoding === undefined ? 'utf8' : oneOf(c.secretEncoding, 'scheme.secretEncoding', ['utf8', 'base64', 'hex']);
    this.toleranceSeconds = c.toleranceSeconds === undefined ? 300 : finite(c.toleranceSeconds, 'scheme.toleranceSeconds', 0);
    this.futureToleranceSeconds =
      c.futureToleranceSeconds === undefined ? this.toleranceSeconds : nonNegative(c.futureToleranceSeconds, 'scheme.futureToleranceSeconds');
  }

  importKey(secret: SecretValue, option: string): Buffer {
    return secretBytes(secret, option, this.secretEncoding);
  }

  check(keys: readonly Buffer[], body: Uint8Array, header: HeaderLookup): number | undefined {
    const name = this.signatureHeader;
    const value = header(name.toLowerCase());
    if (value === undefined) throw signatureError(this.name, 'missing-header', name);
    let signatures: string[];
    let timestampText: string | undefined;
    if (this.format === 'params') {
      signatures = [];
      for (const item of value.split(',')) {
        const eq = item.indexOf('=');
        if (eq <= 0) continue;
        const key = item.slice(0, eq).trim();
        const text = item.slice(eq + 1).trim();
        if (key === this.signatureParam) {
          if (signatures.length < MAX_SIGNATURES) signatures.push(text);
        } else if (key === this.timestampParam && this.timestampHeader === undefined && this.signsTimestamp) {
          if (timestampText !== undefined && timestampText !== text) throw signatureError(this.name, 'malformed-header', name);
          timestampText = text;
        }
      }
    } else if (value.startsWith(this.prefix)) {
      signatures = [value.slice(this.prefix.length)];
    } else {
      throw signatureError(this.name, 'no-signature', name);
    }
    let timestamp: number | undefined;
    if (this.signsTimestamp) {
      if (this.timestampHeader !== undefined) {
        timestampText = header(this.timestampHeader.toLowerCase());
        if (timestampText === undefined) throw signatureError(this.name, 'missing-header', this.timestampHeader);
      }
      if (timestampText === undefined) throw signatureError(this.name, 'malformed-header', name);
      timestamp = parseTimestamp(timestampText);
      if (timestamp === undefined) throw signatureError(this.name, 'malformed-timestamp', this.timestampHeader ?? name);
    }
    let id: string | undefined;
    if (this.signsId) {
      id = header((this.idHeader as string).toLowerCase());
      if (id === undefined) throw signatureError(this.name, 'missing-header', this.idHeader as string);
    }
    if (signatures.length === 0) throw signatureError(this.name, 'no-signature', name);
    const received: Buffer[] = [];
    for (const text of signatures) {
      const bytes = decodeSignature(text, this.encoding, this.digestBytes);
      if (bytes !== undefined) received.push(bytes);
    }
    if (received.length > 0) {
      const before = this.fill(this.before, timestampText, id);
      const after = this.fill(this.after, timestampText, id);
      for (const key of keys) {
        const digest = after === '' ? hmac(this.algorithm, key, before, body) : hmac(this.algorithm, key, before, body, after);
        for (const bytes of received) if (constantTimeEqual(bytes, digest)) return timestamp;
      }
    }
    throw signatureError(this.name, 'mismatch', name);
  }

  sign(keys: readonly Buffer[], body: Uint8Array, input: SignInput): Record<string, string> {
    const timestamp = String(input.timestamp);
    const before = this.fill(this.before, timestamp, input.id);
    const after = this.fill(this.after, timestamp, input.id);
    const signatures = keys.map((key) => encodeSignature(hmac(this.algorithm, key, before, body, after), this.encoding));
    const headers: Record<string, string> = {};
    if (this.format === 'params') {
      const params = signatures.map((s) => `${this.signatureParam}=${s}`);
      if (this.signsTimestamp && this.timestampHeader === undefined) params.unshift(`${this.timestampParam}=${timestamp}`);
      headers[this.signatureHeader] = params.join(',');
    } else {
      if (signatures.length !== 1) {
        throw new InvalidOptionError('secrets', `one secret (${this.name} carries a single signature)`, `${signatures.length} secrets`);
      }
      headers[this.signatureHeader] = this.prefix + (signatures[0] as string);
    }
    if (this.timestampHeader !== undefined) headers[this.timestampHeader] = timestamp;
    if (this.idHeader !== undefined) headers[this.idHeader] = input.id;
    return headers;
  }

  private fill(pieces: readonly Piece[], timestamp: string | undefined, id: string | undefined): string {
    let out = '';
    for (const piece of pieces) out += typeof piece === 'string' ? piece : piece.field === 'timestamp' ? (timestamp as string) : (id as string);
    return out;
  }
}

/** Splits a template around its one `{body}` into literal text and `{timestamp}`/`{id}` fields. */
function template(text: unknown): [Piece[], Piece[]] {
  const option = 'scheme.signedContent';
  if (typeof text !== 'string') throw new InvalidOptionError(option, 'a template string with {body}', text);
  const parts: [Piece[], Piece[]] = [[], []];
  let side = 0;
  let bodies = 0;
  let last = 0;
  for (const match of text.matchAll(/\{([a-z]*)\}/g)) {
    if (match.index > last) parts[side]?.push(text.slice(last, match.index));
    last = match.index + match[0].length;
    const field = match[1];
    if (field === 'body') {
      bodies += 1;
      side = 1;
    } else if (field === 'timestamp' || field === 'id') {
      parts[side]?.push({ field });
    } else {
      throw new InvalidOptionError(option, 'only {body}, {timestamp} and {id} placeholders', text);
    }
  }
  if (last < text.length) parts[side]?.push(text.slice(last));
  if (bodies !== 1) throw new InvalidOptionError(option, 'a template with {body} exactly once', text);
  return parts;
}

function nonEmpty(value: unknown, option: string): string {
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(option, 'a non-empty string', value);
  return value;
}

function nonNegative(value: unknown, option: string): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  return finite(value, option, 0);
}
