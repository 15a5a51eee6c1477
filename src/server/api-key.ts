import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { hashApiKey, type HashApiKeyOptions } from '../security/api-key-hash.js';
import { constantTimeEqual } from '../security/hmac.js';
import { type AuthFailureReason, ForbiddenError, missingScopes, UnauthenticatedError } from './auth-errors.js';
import { beforeOnly, type Middleware } from './compose.js';

/** One accepted API key, as stored: its hash (from `hashApiKey`), never the key. Times are epoch ms or Dates. */
export interface AcceptedApiKey {
  /** A name for logs and rotation (`'billing-2026-03'`); never the key. Unique in the ring. */
  readonly id: string;
  /** `hashApiKey(key)` (`sha256:…`), or `hashApiKey(key, { pepper })` (`hmac-sha256:…`). */
  readonly hash: string;
  /** Who the key belongs to: becomes `ctx.client.id`. */
  readonly clientId: string;
  readonly scopes?: readonly string[];
  readonly tenant?: string;
  /** Refused before this time. */
  readonly notBefore?: number | Date;
  /** Refused from this time on. */
  readonly expiresAt?: number | Date;
  /** Refused from this time on (revocation). */
  readonly revokedAt?: number | Date;
}

/** The outcome of {@link ApiKeyVerifier.verify}. */
export type ApiKeyCheck =
  | { readonly ok: true; readonly key: AcceptedApiKey }
  | { readonly ok: false; readonly reason: Extract<AuthFailureReason, 'invalid' | 'revoked' | 'expired' | 'not_yet_valid'>; readonly id?: string };

/** What `requireApiKey()` asks: is this presented key acceptable now? */
export interface ApiKeyVerifier {
  verify(presented: string, now: number): ApiKeyCheck | Promise<ApiKeyCheck>;
}

interface Entry {
  readonly key: AcceptedApiKey;
  readonly digest: Buffer;
  readonly algorithm: string;
}

const HASHED = /^(sha256|hmac-sha256):([A-Za-z0-9_-]{43})$/;
const ms = (t: number | Date | undefined): number | undefined => (t === undefined ? undefined : typeof t === 'number' ? t : t.getTime());

/**
 * The server's ring of accepted API keys, hashed at rest: several keys may be active at once (per
 * client, and during a rotation), each with optional `notBefore`/`expiresAt`, and any may be revoked.
 * A presented key is hashed once and compared with *every* stored hash in constant time, without
 * stopping at a match, so neither the comparison nor the position of a key leaks through timing.
 * Import from `weir/server`.
 *
 * @throws InvalidOptionError for a malformed hash or a duplicate id.
 * @example
 * ```ts
 * const key = generateApiKey({ prefix: 'crm' });           // weir/security; show key.reveal() once
 * const ring = apiKeyVerifier([{ id: 'crm-1', hash: hashApiKey(key), clientId: 'crm', scopes: ['contacts:write'] }]);
 * ring.revoke('crm-1');
 * ```
 */
export function apiKeyVerifier(keys: readonly AcceptedApiKey[] = [], options: HashApiKeyOptions & { clock?: Clock } = {}): AcceptedApiKeyRing {
  return new AcceptedApiKeyRing(keys, options);
}

export class AcceptedApiKeyRing implements ApiKeyVerifier {
  private entries: Entry[] = [];
  private readonly clock: Clock;

  constructor(
    keys: readonly AcceptedApiKey[],
    private readonly options: HashApiKeyOptions & { clock?: Clock } = {},
  ) {
    this.clock = options.clock ?? systemClock;
    for (const k of keys) this.add(k);
  }

  /** Adds a key (rotation: add the new one, then revoke the old one once clients moved). */
  add(key: AcceptedApiKey): void {
    const m = typeof key?.hash === 'string' ? HASHED.exec(key.hash) : null;
    if (m === null) throw new InvalidOptionError(`apiKeyVerifier.keys[${key?.id}].hash`, "a hash from hashApiKey() ('sha256:…' or 'hmac-sha256:…')", '<redacted>');
    if (typeof key.id !== 'string' || key.id === '' || this.entries.some((e) => e.key.id === key.id)) {
      throw new InvalidOptionError('apiKeyVerifier.keys[].id', 'a unique, non-empty id', key.id);
    }
    if (typeof key.clientId !== 'string' || key.clientId === '') throw new InvalidOptionError(`apiKeyVerifier.keys[${key.id}].clientId`, 'a non-empty string', key.clientId);
    this.entries = [...this.entries, { key, digest: Buffer.from(m[2] as string, 'base64url'), algorithm: m[1] as string }];
  }

  /** Revokes a key from `at` (default now). @returns false when no key has this id. */
  revoke(id: string, at: number | Date = this.clock.now()): boolean {
    let found = false;
    this.entries = this.entries.map((e) => {
      if (e.key.id !== id) return e;
      found = true;
      return { ...e, key: { ...e.key, revokedAt: at } };
    });
    return found;
  }

  /** Removes a key entirely. */
  remove(id: string): boolean {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => e.key.id !== id);
    return this.entries.length < before;
  }

  /** The keys, without their hashes. */
  list(): Array<Omit<AcceptedApiKey, 'hash'>> {
    return this.entries.map(({ key: { hash: _hash, ...rest } }) => rest);
  }

  verify(presented: string, now: number): ApiKeyCheck {
    const algorithm = this.options.pepper === undefined ? 'sha256' : 'hmac-sha256';
    const digest = Buffer.from(hashApiKey(presented, this.options.pepper === undefined ? {} : { pepper: this.options.pepper }).slice(algorithm.length + 1), 'base64url');
    let match: Entry | undefined;
    // Every entry is compared, in constant time, whatever matched before.
    for (const e of this.entries) {
      const equal = constantTimeEqual(digest, e.digest) && e.algorithm === algorithm;
      if (equal && match === undefined) match = e;
    }
    if (match === undefined) return { ok: false, reason: 'invalid' };
    const k = match.key;
    const revokedAt = ms(k.revokedAt);
    if (revokedAt !== undefined && now >= revokedAt) return { ok: false, reason: 'revoked', id: k.id };
    const expiresAt = ms(k.expiresAt);
    if (expiresAt !== undefined && now >= expiresAt) return { ok: false, reason: 'expired', id: k.id };
    const notBefore = ms(k.notBefore);
    if (notBefore !== undefined && now < notBefore) return { ok: false, reason: 'not_yet_valid', id: k.id };
    return { ok: true, key: k };
  }
}

export interface RequireApiKeyOptions {
  /** The accepted keys: an {@link apiKeyVerifier} ring, or your own verifier (a database lookup by hash). */
  ring: ApiKeyVerifier;
  /**
   * Where the key is read: a header name. Default `'x-api-key'`. With `'authorization'`, the
   * `Bearer` or `ApiKey` scheme is expected.
   */
  header?: string;
  /** Scopes every request must carry. Default none. */
  scopes?: readonly string[];
  clock?: Clock;
}

/**
 * Requires an API key from the ring: missing, unknown, revoked, expired or not-yet-valid keys get a
 * typed 401 (`UnauthenticatedError`, `reason`), a key without the required scopes a 403. On
 * success `ctx.client` is the key's owner with its scopes. Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option.
 * @example `app.use(weir(requireApiKey({ ring, scopes: ['orders:write'] })))`
 */
export function requireApiKey(options: RequireApiKeyOptions): Middleware {
  if (typeof options?.ring?.verify !== 'function') throw new InvalidOptionError('requireApiKey.ring', 'an ApiKeyVerifier (apiKeyVerifier([...]))', options?.ring);
  const header = (options.header ?? 'x-api-key').toLowerCase();
  const required = [...(options.scopes ?? [])];
  const clock = options.clock ?? systemClock;
  const ring = options.ring;

  return beforeOnly(async function requireApiKeyMiddleware(ctx, next) {
    let presented = ctx.header(header);
    if (presented !== undefined && header === 'authorization') {
      const m = /^(?:Bearer|ApiKey)[ ]+(\S+)[ ]*$/i.exec(presented);
      presented = m === null ? '' : m[1];
    }
    if (presented === undefined) throw new UnauthenticatedError('missing', `An API key is required in ${header}.`, { challenge: `ApiKey header="${header}"` });
    const check = presented === '' || presented.length > 512 ? ({ ok: false, reason: 'invalid' } as const) : await ring.verify(presented.trim(), clock.now());
    if (!check.ok) throw new UnauthenticatedError(check.reason, `The API key was refused (${check.reason}).`, { challenge: `ApiKey header="${header}"` });
    const scopes = new Set(check.key.scopes ?? []);
    ctx.client = { id: check.key.clientId, via: 'api-key', scopes, tenant: check.key.tenant };
    const missing = missingScopes(scopes, required);
    if (missing.length > 0) throw new ForbiddenError('insufficient_scope', `Missing scope(s): ${missing.join(' ')}.`, missing);
    return next();
  });
}

