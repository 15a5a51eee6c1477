import { type Dispatcher, request } from 'undici';
import { InvalidOptionError, WeirError } from '../errors.js';
import { parseRetryAfter } from '../http/rate-limit-headers.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { fn, integer, oneOf } from '../internal/validate.js';
import { redactUrl } from './redact.js';
import { isSecret, Secret } from './secret.js';

/**
 * How the client authenticates at the token endpoint (RFC 6749 §2.3.1):
 * - `client_secret_basic`: `Authorization: Basic base64(urlencode(id):urlencode(secret))`; every
 *   server must accept it, so it is the default.
 * - `client_secret_post`: `client_id` and `client_secret` in the form body (the CRM of the flagship
 *   example wants this).
 * - `none`: a public client, only `client_id` in the body (refresh-token grant only).
 */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

/** Options shared by both OAuth 2.0 grants. */
export interface OAuth2EndpointOptions {
  /** The token endpoint, e.g. `https://auth.example.com/oauth/token`. Must be `https:` unless the host is loopback or `allowInsecureHttp` is set. */
  tokenUrl: string | URL;
  clientId: string;
  /** A {@link Secret} (from `secret('NAME')`), or a string, wrapped into one at once. Not needed with `authMethod: 'none'`. */
  clientSecret?: Secret | string;
  /** Default `'client_secret_basic'`. */
  authMethod?: ClientAuthMethod;
  /** Time budget of one token request, in ms. Default 10 000. */
  timeoutMs?: number;
  /** An undici dispatcher for token requests (a proxy, an mTLS `Agent` for RFC 8705). Default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
  /** Allow a plain `http:` token endpoint on a non-loopback host (credentials then cross the network in clear). Default false. */
  allowInsecureHttp?: boolean;
  /** Default: the system clock. */
  clock?: Clock;
}

/** A token response, with the access token already unprintable. */
export interface TokenSet {
  readonly accessToken: Secret;
  /** Always `'Bearer'` (other token types are refused). */
  readonly tokenType: 'Bearer';
  /** Epoch ms; undefined when the server gave no `expires_in` (then only a 401 renews it). */
  readonly expiresAt: number | undefined;
  /** Epoch ms when the request was sent: lifetimes count from here, so they are never overestimated. */
  readonly obtainedAt: number;
  readonly refreshToken: Secret | undefined;
  readonly scope: string | undefined;
}

/** @internal A validated token endpoint. */
export interface TokenEndpoint {
  readonly kind: string;
  readonly tokenUrl: URL;
  readonly clientId: string;
  readonly clientSecret: Secret | undefined;
  readonly authMethod: ClientAuthMethod;
  readonly timeoutMs: number;
  readonly dispatcher: Dispatcher | undefined;
  readonly clock: Clock;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
/** RFC 6749 §5.2: error codes use these characters only; anything else is not echoed. */
const ERROR_CODE = /^[\x20\x21\x23-\x5B\x5D-\x7E]{1,80}$/;
const MAX_BODY_CHARS = 1_000_000;

/** @internal Validates the endpoint options eagerly, naming each option under `prefix`. */
export function endpointFrom(o: OAuth2EndpointOptions, prefix: string, kind: string, methods: readonly ClientAuthMethod[]): TokenEndpoint {
  if (typeof o !== 'object' || o === null) throw new InvalidOptionError(prefix, 'an options object', o);
  let tokenUrl: URL;
  try {
    tokenUrl = new URL(o.tokenUrl);
  } catch {
    throw new InvalidOptionError(`${prefix}.tokenUrl`, 'an absolute URL', o.tokenUrl);
  }
  if (tokenUrl.username !== '' || tokenUrl.password !== '') {
    throw new InvalidOptionError(`${prefix}.tokenUrl`, 'a URL without user:password (use clientId and clientSecret)', redactUrl(tokenUrl));
  }
  const insecureOk = o.allowInsecureHttp === true || LOOPBACK.has(tokenUrl.hostname);
  if (tokenUrl.protocol !== 'https:' && !(tokenUrl.protocol === 'http:' && insecureOk)) {
    throw new InvalidOptionError(`${prefix}.tokenUrl`, 'an https: URL (http: only on loopback or with allowInsecureHttp)', tokenUrl.href);
  }
  if (typeof o.clientId !== 'string' || o.clientId === '') throw new InvalidOptionError(`${prefix}.clientId`, 'a non-empty string', o.clientId);
  const authMethod = oneOf(o.authMethod ?? 'client_secret_basic', `${prefix}.authMethod`, methods);
  let clientSecret: Secret | undefined;
  if (authMethod !== 'none') {
    clientSecret = toSecret(o.clientSecret, `${prefix}.clientSecret`, 'oauth2_client_secret');
  } else if (o.clientSecret !== undefined) {
    throw new InvalidOptionError(`${prefix}.clientSecret`, "no secret with authMethod 'none'", '<redacted>');
  }
  if (o.clock !== undefined) fn(o.clock.now, `${prefix}.clock.now`);
  if (o.dispatcher !== undefined) fn((o.dispatcher as { dispatch?: unknown }).dispatch, `${prefix}.dispatcher.dispatch`);
  return {
    kind,
    tokenUrl,
    clientId: o.clientId,
    clientSecret,
    authMethod,
    timeoutMs: o.timeoutMs === undefined ? 10_000 : integer(o.timeoutMs, `${prefix}.timeoutMs`, 1),
    dispatcher: o.dispatcher,
    clock: o.clock ?? systemClock,
  };
}

/** @internal A required secret option: a {@link Secret}, or a non-empty string wrapped into one. */
export function toSecret(value: unknown, option: string, label: string): Secret {
  if (isSecret(value)) return value;
  if (typeof value === 'string' && value !== '') return Secret.of(label, value);
  throw new InvalidOptionError(option, 'a Secret (secret(NAME)) or a non-empty string', value === undefined ? undefined : '<redacted>');
}

/** application/x-www-form-urlencoded, as RFC 6749 §2.3.1 wants for the Basic credentials too. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+');
}

/**
 * @internal Sends one token request (`grant_type` and its parameters) and parses the answer.
 * @param sent every secret value in the request, so none can leak back through an error description.
 * @throws WeirError `WEIR_AUTH_INVALID_GRANT` (400 `invalid_grant`), `WEIR_AUTH_FAILED` (any other
 *   4xx), `WEIR_AUTH_UNAVAILABLE` (network, timeout, 408/429/5xx, malformed answer; `details.reason`).
 */
export async function requestToken(ep: TokenEndpoint, params: Record<string, string> | URLSearchParams, sent: readonly Secret[]): Promise<TokenSet> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
  };
  const secrets = ep.clientSecret === undefined ? sent : [...sent, ep.clientSecret];
  if (ep.authMethod === 'client_secret_basic' && ep.clientSecret !== undefined) {
    const pair = `${formEncode(ep.clientId)}:${formEncode(ep.clientSecret.reveal())}`;
    headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
  } else {
    form.set('client_id', ep.clientId);
    if (ep.authMethod === 'client_secret_post' && ep.clientSecret !== undefined) form.set('client_secret', ep.clientSecret.reveal());
  }

  const obtainedAt = ep.clock.now();
  const controller = new AbortController();
  const timer = ep.clock.setTimer(ep.timeoutMs, () => controller.abort());
  let status: number;
  let responseHeaders: Record<string, string | string[] | undefined>;
  let text: string;
  try {
    const res = await request(ep.tokenUrl, {
      method: 'POST',
      headers,
      body: form.toString(),
      signal: controller.signal,
      ...(ep.dispatcher === undefined ? {} : { dispatcher: ep.dispatcher }),
    });
    status = res.statusCode;
    responseHeaders = res.headers;
    text = await res.body.text();
  } catch (err) {
    const timedOut = controller.signal.aborted;
    // The cause is kept for its name and code; undici errors never carry the request body.
    throw failure(ep, 'WEIR_AUTH_UNAVAILABLE', timedOut ? `timed out after ${ep.timeoutMs} ms` : 'network error', {
      reason: timedOut ? 'timeout' : 'network',
      ...(timedOut ? {} : { cause: err }),
    });
  } finally {
    timer.close();
  }

  // A JSON.parse error quotes the text it choked on, which may hold a token: it is never kept.
  let body: Record<string, unknown> | undefined;
  if (text.length <= MAX_BODY_CHARS) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      body = undefined;
    }
  }

  if (status >= 200 && status < 300) return parseTokenSet(ep, body, obtainedAt);

  const error = typeof body?.error === 'string' && ERROR_CODE.test(body.error) ? body.error : undefined;
  const description = safeDescription(body?.error_description, secrets);
  const facts = { status, ...(error === undefined ? {} : { error }), ...(description === undefined ? {} : { description }) };
  const summary = `HTTP ${status}${error === undefined ? '' : ` ${error}`}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retry = parseRetryAfter(first(responseHeaders['retry-after']), { now: ep.clock.now(), date: first(responseHeaders.date) });
    throw failure(ep, 'WEIR_AUTH_UNAVAILABLE', summary, {
      reason: 'status',
      ...facts,
      ...(status === 429 ? { classification: 'rate_limited' as const } : {}),
      ...(retry === undefined ? {} : { retryAfterMs: retry.delayMs }),
    });
  }
  if (status === 400 && error === 'invalid_grant') throw failure(ep, 'WEIR_AUTH_INVALID_GRANT', summary, { reason: 'refused', ...facts });
  throw failure(ep, 'WEIR_AUTH_FAILED', summary, { reason: 'refused', ...facts });
}

function parseTokenSet(ep: TokenEndpoint, body: Record<string, unknown> | undefined, obtainedAt: number): TokenSet {
  if (body === undefined) throw failure(ep, 'WEIR_AUTH_UNAVAILABLE', 'the answer is not a JSON object', { reason: 'malformed' });
  const { access_token: access, token_type: type, expires_in: expiresIn, refresh_token: refresh, scope } = body;
  if (typeof access !== 'string' || access === '') {
    throw failure(ep, 'WEIR_AUTH_UNAVAILABLE', 'the answer has no access_token', { reason: 'malformed' });
  }
  // RFC 6749 §7.1: a client must not use a token type it does not understand. Absent means Bearer (some APIs omit it).
  if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'bearer')) {
    const shown = typeof type === 'string' && ERROR_CODE.test(type) ? type : 'unknown';
    throw failure(ep, 'WEIR_AUTH_UNAVAILABLE', `unsupported token_type ${shown}`, { reason: 'malformed', tokenType: shown });
  }
  const seconds = typeof expiresIn === 'string' && /^\d+$/.test(expiresIn) ? Number(expiresIn) : expiresIn;
  const expiresAt = typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? obtainedAt + seconds * 1000 : undefined;
  return {
    accessToken: Secret.of('oauth2_access_token', access),
    tokenType: 'Bearer',
    expiresAt,
    obtainedAt,
    refreshToken: typeof refresh === 'string' && refresh !== '' ? Secret.of('oauth2_refresh_token', refresh) : undefined,
    scope: typeof scope === 'string' ? scope : undefined,
  };
}

/** What a token-endpoint error carries: `reason` and other details, plus the error's own fields. */
interface FailureFacts {
  readonly reason: string;
  readonly cause?: unknown;
  readonly classification?: 'rate_limited';
  readonly retryAfterMs?: number;
  readonly [detail: string]: unknown;
}

/** @internal A token-endpoint error: the message and details name the endpoint and the OAuth error, never a credential. */
export function failure(
  ep: Pick<TokenEndpoint, 'kind' | 'tokenUrl'>,
  code: 'WEIR_AUTH_FAILED' | 'WEIR_AUTH_INVALID_GRANT' | 'WEIR_AUTH_UNAVAILABLE',
  what: string,
  facts: FailureFacts,
  hint = '',
): WeirError {
  const { cause, classification, retryAfterMs, ...details } = facts;
  const url = redactUrl(ep.tokenUrl);
  return new WeirError(code, `OAuth 2.0 token request to ${url} failed: ${what}.${hint === '' ? '' : ` ${hint}`}`, {
    ...(cause === undefined ? {} : { cause }),
    ...(classification === undefined ? {} : { classification }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    details: { kind: ep.kind, tokenUrl: url, ...details },
  });
}

/** An `error_description` is kept only when short and free of any 8-character run of a secret we sent. */
function safeDescription(value: unknown, secrets: readonly Secret[]): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const text = value.slice(0, 300);
  for (const s of secrets) {
    const v = s.reveal();
    if (v.length < 8 ? text.includes(v) : windows(v).some((w) => text.includes(w))) return '[redacted]';
  }
  return text;
}

function windows(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 8 <= value.length; i++) out.push(value.slice(i, i + 8));
  return out;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
