import { CancelledError, type Classification, isWeirError, WeirError } from '../errors.js';
import { classifyStatus } from '../policy/classify.js';
import type { Redactor } from '../security/redact.js';
import type { RateLimitSignal } from './rate-limit-headers.js';

/**
 * The errors of `weir/http`, translated at the boundary from undici's: `WEIR_HTTP_STATUS` for an
 * unwanted status (with a bounded, redacted excerpt of the body), `WEIR_NETWORK` for a transport
 * failure. Every field is redacted: no credential, cookie or secret query value ever appears in a
 * message, a `details` field or `toJSON()`. Import from `weir/http`.
 */

/** Fields common to the errors of one exchange. */
export interface ExchangeInfo {
  /** Upper-case method. */
  readonly method: string;
  /** Path and query, sensitive query values redacted. */
  readonly path: string;
  /** The connection name, when known. */
  readonly system?: string | undefined;
  /** The `X-Request-Id` of the attempt, when one was sent. */
  readonly requestId?: string | undefined;
}

export interface HttpStatusErrorInit extends ExchangeInfo {
  readonly status: number;
  /** Response headers, already redacted. */
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** A bounded, redacted excerpt of the response body. */
  readonly body?: string | undefined;
  /** What the response said about rate limits. */
  readonly rateLimit?: RateLimitSignal | undefined;
  /** Local time the response arrived (epoch ms), to turn a hold into `retryAfterMs`. */
  readonly now: number;
}

/**
 * The server answered with a status the caller did not accept (by default any status >= 400).
 * Classified from the status: 429 (and GitHub's 403 with no quota left) `rate_limited` with
 * `retryAfterMs` from `Retry-After` / `RateLimit`; 408, 425 and 5xx `transient`; other 4xx `permanent`.
 *
 * @example
 * ```ts
 * try { await esp.get(`/v3/contacts/${id}`) } catch (err) {
 *   if (isWeirError(err, 'WEIR_HTTP_STATUS') && (err as HttpStatusError).status === 404) return undefined;
 *   throw err;
 * }
 * ```
 */
export class HttpStatusError extends WeirError<'WEIR_HTTP_STATUS'> {
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly system: string | undefined;
  readonly requestId: string | undefined;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** A bounded, redacted excerpt of the body (`undefined` when empty). */
  readonly body: string | undefined;
  readonly rateLimit: RateLimitSignal | undefined;
  /** Attempts made by the call that gave up with this error (set by the retry layer). */
  attempts = 1;

  constructor(init: HttpStatusErrorInit) {
    const hold = init.rateLimit?.holdUntil;
    const classification: Classification = init.rateLimit?.source === 'github' ? 'rate_limited' : classifyStatus(init.status);
    super('WEIR_HTTP_STATUS', `HTTP ${init.status} from ${init.system ?? 'the server'} for ${init.method} ${init.path}.`, {
      classification,
      ...(hold === undefined ? {} : { retryAfterMs: Math.max(0, hold - init.now) }),
      details: {
        status: init.status,
        method: init.method,
        path: init.path,
        ...(init.system === undefined ? {} : { system: init.system }),
        ...(init.requestId === undefined ? {} : { requestId: init.requestId }),
        ...(init.body === undefined ? {} : { body: init.body }),
      },
    });
    this.name = 'HttpStatusError';
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
    this.system = init.system;
    this.requestId = init.requestId;
    this.headers = init.headers;
    this.body = init.body;
    this.rateLimit = init.rateLimit;
  }
}

/** Codes of transport failures a retry cannot fix (certificates, bad requests built locally). */
const PERMANENT_CODES = /^(CERT_|ERR_TLS_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_|ERR_SSL_|UND_ERR_INVALID_ARG$|UND_ERR_NOT_SUPPORTED$|UND_ERR_REQ_CONTENT_LENGTH_MISMATCH$|ERR_INVALID_)/;

export interface NetworkErrorInit extends ExchangeInfo {
  /** The platform or undici code (`ECONNREFUSED`, `UND_ERR_SOCKET`, …). */
  readonly code: string | undefined;
  /** Whether the request was handed to a socket, so the server may have received it. */
  readonly sent: boolean;
  readonly cause: unknown;
}

/**
 * The exchange failed below HTTP: the connection was refused or reset, DNS failed, TLS failed, or
 * the socket closed before the response ended. `sent` says whether the request may have reached the
 * server (false for a connect failure), which decides whether a non-idempotent write may be retried.
 * Transient, except TLS/certificate and local argument errors (`permanent`).
 */
export class NetworkError extends WeirError<'WEIR_NETWORK'> {
  /** The platform or undici code. */
  readonly errorCode: string | undefined;
  readonly sent: boolean;
  readonly method: string;
  readonly path: string;
  readonly system: string | undefined;
  readonly requestId: string | undefined;
  /** Attempts made by the call that gave up with this error (set by the retry layer). */
  attempts = 1;

  constructor(init: NetworkErrorInit) {
    const code = init.code;
    super('WEIR_NETWORK', `Network failure${code === undefined ? '' : ` (${code})`} talking to ${init.system ?? 'the server'} for ${init.method} ${init.path}.`, {
      cause: init.cause,
      classification: code !== undefined && PERMANENT_CODES.test(code) ? 'permanent' : 'transient',
      details: {
        method: init.method,
        path: init.path,
        sent: init.sent,
        ...(code === undefined ? {} : { errorCode: code }),
        ...(init.system === undefined ? {} : { system: init.system }),
        ...(init.requestId === undefined ? {} : { requestId: init.requestId }),
      },
    });
    this.name = 'NetworkError';
    this.errorCode = code;
    this.sent = init.sent;
    this.method = init.method;
    this.path = init.path;
    this.system = init.system;
    this.requestId = init.requestId;
  }
}

/**
 * Turns whatever an attempt failed with into a Weir error: Weir errors pass through (a timeout's
 * own `WEIR_TIMEOUT`, a breaker's `WEIR_CIRCUIT_OPEN`), aborts become `WEIR_CANCELLED`, everything
 * else `WEIR_NETWORK`.
 */
export function toWeirError(error: unknown, info: ExchangeInfo & { readonly sent: boolean }): WeirError {
  if (isWeirError(error)) return error;
  const e = error as { name?: unknown; code?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (e?.name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return new CancelledError(error);
  return new NetworkError({ ...info, code, cause: error });
}

/** Whether an error means the time budget ran out (ours, or undici's own header/body timeouts). */
export function isTimeout(error: unknown): boolean {
  const code = (error as { code?: unknown; errorCode?: unknown } | null)?.code;
  if (code === 'WEIR_TIMEOUT') return true;
  const inner = code === 'WEIR_NETWORK' ? (error as NetworkError).errorCode : code;
  return typeof inner === 'string' && /TIMEOUT|ETIMEDOUT/.test(inner);
}

/**
 * A bounded, redacted excerpt of a body. Parsed JSON goes through the redactor's JSON rules (names
 * and paths). Then, whatever the body was (JSON, cut-off JSON, text), `"name": value` pairs with a
 * sensitive name are replaced at any escaping depth (JSON embedded in a JSON string, as APIs echo
 * request bodies), then `name=value` pairs, then the free-text rules. At most `maxChars` characters.
 */
export function redactExcerpt(raw: string, maxChars: number, redactor: Redactor, truncated: boolean): string {
  let out = raw;
  if (!truncated) {
    const parsed = parseJson(raw);
    if (parsed !== undefined) out = JSON.stringify(redactJsonDeep(parsed.value, redactor, 0));
  }
  const cache = new Map<string, boolean>();
  const sensitive = (name: string): boolean => {
    let hit = cache.get(name);
    if (hit === undefined) {
      hit = (redactor.json({ [name]: 1 }) as Record<string, unknown>)[name] !== 1;
      cache.set(name, hit);
    }
    return hit;
  };
  out = scrubPairs(out, sensitive).replace(/([A-Za-z0-9_.\-[\]]{1,64})=([^&\s"',;]+)/g, (m, k: string) => (sensitive(k) ? `${k}=[REDACTED]` : m));
  out = redactor.text(out);
  return out.length > maxChars || truncated ? `${out.slice(0, maxChars)}…` : out;
}

/** JSON documents embedded in string values (an API echoing a request body) are redacted as documents too, a few levels deep. */
function redactJsonDeep(value: unknown, redactor: Redactor, depth: number): unknown {
  const embed = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const inner = depth < 3 && /^\s*[[{]/.test(v) ? parseJson(v) : undefined;
      return inner === undefined ? v : JSON.stringify(redactJsonDeep(inner.value, redactor, depth + 1));
    }
    if (Array.isArray(v)) return v.map(embed);
    if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, embed(x)]));
    return v;
  };
  return redactor.json(embed(value));
}

function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

const KEY = /(\\*)"([A-Za-z0-9_.$@-]{1,64})\1"\s*:\s*/g;

/** Replaces the values of sensitive `"name": value` pairs, at any depth of `\"` escaping. */
function scrubPairs(text: string, sensitive: (name: string) => boolean): string {
  let out = '';
  let last = 0;
  KEY.lastIndex = 0;
  for (let m = KEY.exec(text); m !== null; m = KEY.exec(text)) {
    const esc = m[1] as string;
    if (!sensitive(m[2] as string)) continue;
    const start = KEY.lastIndex;
    const quote = `${esc}"`;
    let end: number;
    if (text.startsWith(quote, start)) {
      end = closingQuote(text, start + quote.length, esc.length);
      out += `${text.slice(last, start)}${quote}[REDACTED]${quote}`;
    } else {
      end = start + (/^[^,}\]\s\\]*/.exec(text.slice(start))?.[0].length ?? 0);
      out += `${text.slice(last, start)}"[REDACTED]"`;
    }
    last = end;
    KEY.lastIndex = end;
  }
  return out + text.slice(last);
}

/** The index after the quote closing a string opened at escape depth `depth` (its `"` preceded by exactly `depth` backslashes). */
function closingQuote(text: string, from: number, depth: number): number {
  for (let j = text.indexOf('"', from); j >= 0; j = text.indexOf('"', j + 1)) {
    let run = 0;
    while (text.charCodeAt(j - 1 - run) === 92 /* \ */) run++;
    if (run === depth) return j + 1;
  }
  return text.length; // cut off inside the value: redact to the end
}
