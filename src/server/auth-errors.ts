import type { ServerContext } from './context.js';
import { HttpError } from './problem.js';

/**
 * Why a request was not authenticated (401), in `err.reason` and the problem body:
 * - `missing`: no credentials; `malformed`: not a well-formed token or key;
 * - `algorithm`: an algorithm outside the allow-list (`none`, HS256 against an RSA key, …);
 * - `signature`: the signature does not verify (a tampered token);
 * - `unknown_key`: no key matches the token's `kid`;
 * - `expired` / `not_yet_valid` / `issued_at`: time claims (beyond the clock tolerance);
 * - `issuer` / `audience` / `type` / `claims`: a claim does not match;
 * - `invalid` (unknown API key) / `revoked` / `certificate` (no or untrusted client certificate).
 */
export type AuthFailureReason =
  | 'missing'
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'unknown_key'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_at'
  | 'issuer'
  | 'audience'
  | 'type'
  | 'claims'
  | 'invalid'
  | 'revoked'
  | 'certificate';

/** Why an authenticated client was refused (403). */
export type ForbiddenReason = 'insufficient_scope' | 'not_allowed' | 'no_route_policy';

/**
 * The request carries no valid credentials: 401, `code: 'WEIR_UNAUTHENTICATED'`, `reason` says why.
 * For bearer tokens the response has `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
 */
export class UnauthenticatedError extends HttpError<'WEIR_UNAUTHENTICATED'> {
  constructor(
    readonly reason: AuthFailureReason,
    message: string,
    options: { challenge?: string; cause?: unknown } = {},
  ) {
    super('WEIR_UNAUTHENTICATED', 401, message, {
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      ...(options.challenge === undefined ? {} : { headers: { 'www-authenticate': options.challenge } }),
      extensions: { reason },
    });
    this.name = 'UnauthenticatedError';
  }
}

/** The client is known but not allowed: 403, `code: 'WEIR_FORBIDDEN'`; `missing` lists absent scopes. */
export class ForbiddenError extends HttpError<'WEIR_FORBIDDEN'> {
  constructor(
    readonly reason: ForbiddenReason,
    message: string,
    readonly missing: readonly string[] = [],
    challenge?: string,
  ) {
    super('WEIR_FORBIDDEN', 403, message, {
      ...(challenge === undefined ? {} : { headers: { 'www-authenticate': challenge } }),
      extensions: { reason, ...(missing.length > 0 ? { missingScopes: missing } : {}) },
    });
    this.name = 'ForbiddenError';
  }
}

/** Scopes from a claims set: `scope` (space-separated, RFC 8693/9068) and/or `scp` (string or array). */
export function scopesOf(claims: Readonly<Record<string, unknown>>): Set<string> {
  const out = new Set<string>();
  const add = (v: unknown): void => {
    const list: unknown[] = typeof v === 'string' ? v.split(' ') : Array.isArray(v) ? v : [];
    for (const s of list) if (typeof s === 'string' && s !== '') out.add(s);
  };
  add(claims.scope);
  add(claims.scp);
  return out;
}

/** The scopes of `required` the client lacks. */
export function missingScopes(granted: ReadonlySet<string>, required: readonly string[]): string[] {
  return required.filter((s) => !granted.has(s));
}

/** The token of an `Authorization: Bearer …` header, `undefined` when absent, `''` when malformed. */
export function bearerToken(ctx: ServerContext): string | undefined {
  const header = ctx.header('authorization');
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)[ ]*$/i.exec(header);
  return m === null ? '' : (m[1] as string);
}

/** An RFC 6750 challenge; `realm` and the error attributes are quoted strings. */
export function bearerChallenge(realm: string | undefined, error?: string, description?: string, scope?: string): string {
  const parts: string[] = [];
  if (realm !== undefined) parts.push(`realm="${quote(realm)}"`);
  if (error !== undefined) parts.push(`error="${error}"`);
  if (description !== undefined) parts.push(`error_description="${quote(description)}"`);
  if (scope !== undefined) parts.push(`scope="${quote(scope)}"`);
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.join(', ')}`;
}

function quote(value: string): string {
  return value.replace(/[\\"]/g, '').replace(/[^\x20-\x7e]/g, '');
}
