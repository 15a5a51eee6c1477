import { createHash } from 'node:crypto';
import { InvalidOptionError, isWeirError, WeirError } from '../errors.js';
import { uuidv7 } from '../internal/ids.js';
import { integer } from '../internal/validate.js';
import type { KvEntry } from '../store/kv.js';
import type { Store } from '../store/types.js';
import { joinList, OAuth2Client } from './oauth2.js';
import { type CachedToken, DEFAULT_REFRESH_AHEAD_MS, type TokenCacheOptions } from './oauth2-token-cache.js';
import { endpointFrom, failure, type OAuth2EndpointOptions, requestToken, type TokenEndpoint, type TokenSet, toSecret } from './oauth2-token-request.js';
import { Secret } from './secret.js';

/** The store namespace holding refresh-token chains (`key` = `storeKey`). */
export const OAUTH2_KV_NAMESPACE = 'weir.oauth2';
/** The store namespace of the cross-process refresh locks (`key` = `storeKey`). */
export const OAUTH2_LOCK_NAMESPACE = 'weir.oauth2.lock';

/** @internal Test hook: runs right after the new tokens are durably stored, before the access token is used. */
export const kAfterPersist = Symbol('weir.oauth2.afterPersist');

/** Options of {@link oauth2RefreshToken}. */
export interface OAuth2RefreshTokenOptions extends OAuth2EndpointOptions, TokenCacheOptions {
  /** Where the chain of refresh tokens lives: any Weir store (only `store.kv` is used). */
  store: Pick<Store, 'kv'>;
  /** The chain's key in the store, e.g. `'crm'`: one key per credential, stable across deployments. */
  storeKey: string;
  /**
   * The refresh token to start from, usually `secret('CRM_REFRESH_TOKEN')`. Used only while the store
   * has no chain for `storeKey`, or when its value is one the chain has never used (an operator
   * re-seeding): a value already used is spent, and the stored token wins. Default: none (the store
   * must hold the chain).
   */
  initialRefreshToken?: Secret | string;
  /** Narrows the scope on refresh (RFC 6749 §6). Default: none (the originally granted scope). */
  scope?: string | readonly string[];
  /**
   * How long a process may hold the cross-process refresh lock, in ms; a crashed holder blocks others
   * this long at most. Must exceed `timeoutMs`. Default `timeoutMs + 5000`.
   */
  lockTtlMs?: number;
  /** How often a process waiting for another's refresh looks again, in ms. Default 100. */
  lockPollMs?: number;
  /** @internal */
  [kAfterPersist]?: () => Promise<void> | void;
}

/** The stored chain. Plain JSON in `store.kv`: protect the store as you would any credential file. */
interface StoredChain {
  readonly v: 1;
  readonly refreshToken: string;
  /** Shared so other processes (and the next start) use it instead of spending another refresh. */
  readonly accessToken: string | null;
  readonly expiresAt: number | null;
  readonly obtainedAt: number;
  readonly scope: string | null;
  /** Fingerprints of the configured initial tokens this chain has already used (latest last, at most 8). */
  readonly seeds: readonly string[];
}

interface Pending {
  readonly value: StoredChain;
  readonly ifVersion: number;
  readonly set: TokenSet;
  readonly lock: KvEntry<LockValue>;
}

interface LockValue {
  readonly owner: string | null;
  readonly until: number;
}

/**
 * The refresh-token grant (RFC 6749 §6) with single-use, rotating refresh tokens, crash-safe:
 *
 * 1. One refresh at a time: concurrent callers in a process share one request, and processes
 *    sharing the store take a lock in `store.kv` (others wait, then use the token it stored).
 * 2. Each new refresh token (with the access token) is written to `store.kv` by compare-and-set on
 *    the version it was read at, **before** the access token is handed out. A crash after that
 *    write loses nothing: the next start reads the stored token. (A crash between the server's
 *    answer and the write, a few ms, cannot be helped: the server has spent the old token.)
 * 3. Stored vs configured: the stored token wins over `initialRefreshToken` once the chain has used
 *    that value (its SHA-256 fingerprint is stored, never the value), so a restart never falls back
 *    to a spent environment value. Setting a *new* value re-seeds the chain.
 *
 * Import from `weir/security`.
 *
 * @throws {InvalidOptionError} at once for a bad option.
 * @example
 * ```ts
 * const auth = oauth2RefreshToken({
 *   tokenUrl: 'https://crm.example.com/oauth/token',
 *   clientId: 'weir', clientSecret: secret('CRM_CLIENT_SECRET'), authMethod: 'client_secret_post',
 *   initialRefreshToken: secret('CRM_REFRESH_TOKEN'),
 *   store, storeKey: 'crm',
 * });
 * ```
 */
export function oauth2RefreshToken(options: OAuth2RefreshTokenOptions): OAuth2RefreshToken {
  return new OAuth2RefreshToken(options);
}

/** The rotating refresh-token grant; create with {@link oauth2RefreshToken}. */
export class OAuth2RefreshToken extends OAuth2Client {
  readonly kind = 'oauth2-refresh-token';

  constructor(options: OAuth2RefreshTokenOptions) {
    const prefix = 'oauth2RefreshToken';
    const endpoint = endpointFrom(options, prefix, 'oauth2-refresh-token', ['client_secret_basic', 'client_secret_post', 'none']);
    const chain = new Chain(endpoint, options, prefix);
    super(endpoint, options, prefix, () => chain.fetch());
  }
}

/** The store side of the grant: reading, locking, rotating and persisting one chain. */
class Chain {
  readonly #ep: TokenEndpoint;
  readonly #kv: Store['kv'];
  readonly #key: string;
  readonly #initial: Secret | undefined;
  readonly #initialSeed: string | undefined;
  readonly #scope: string | undefined;
  readonly #aheadMs: number;
  readonly #lockTtlMs: number;
  readonly #lockPollMs: number;
  readonly #afterPersist: (() => Promise<void> | void) | undefined;
  readonly #owner = uuidv7();
  /** The store version our current access token came from. */
  #version: number | undefined = undefined;
  /** Tokens the server issued that the store refused to take (it failed): written first thing next time. */
  #pending: Pending | undefined = undefined;
  /** The fingerprint of a refresh token the server refused, and that refusal: not sent again. */
  #dead: { seed: string; error: WeirError } | undefined = undefined;

  constructor(ep: TokenEndpoint, o: OAuth2RefreshTokenOptions, prefix: string) {
    this.#ep = ep;
    if (typeof o.store?.kv?.set !== 'function') throw new InvalidOptionError(`${prefix}.store`, 'a Weir store (with kv)', o.store);
    if (typeof o.storeKey !== 'string' || o.storeKey === '') throw new InvalidOptionError(`${prefix}.storeKey`, 'a non-empty string', o.storeKey);
    this.#kv = o.store.kv;
    this.#key = o.storeKey;
    this.#initial = o.initialRefreshToken === undefined ? undefined : toSecret(o.initialRefreshToken, `${prefix}.initialRefreshToken`, 'oauth2_refresh_token');
    this.#initialSeed = this.#initial === undefined ? undefined : fingerprint(this.#initial.reveal());
    this.#scope = joinList(o.scope, `${prefix}.scope`, ' ');
    this.#aheadMs = o.refreshAheadMs ?? DEFAULT_REFRESH_AHEAD_MS;
    this.#lockTtlMs = o.lockTtlMs === undefined ? ep.timeoutMs + 5_000 : integer(o.lockTtlMs, `${prefix}.lockTtlMs`, ep.timeoutMs + 1);
    this.#lockPollMs = o.lockPollMs === undefined ? 100 : integer(o.lockPollMs, `${prefix}.lockPollMs`, 1);
    this.#afterPersist = o[kAfterPersist];
  }

  async fetch(): Promise<CachedToken> {
    const clock = this.#ep.clock;
    if (this.#pending !== undefined) {
      // The last refresh got tokens the store failed to take: store them first (the server has spent the old one).
      const { set, lock } = this.#pending;
      const written = await this.#writePending();
      await this.#unlock(lock).catch(() => undefined);
      if (written && (set.expiresAt === undefined || clock.now() < set.expiresAt)) return { ...set, source: 'server' };
    }
    const giveUpAt = clock.now() + this.#lockTtlMs + this.#ep.timeoutMs;
    for (;;) {
      const adopted = this.#adoptable(await this.#read());
      if (adopted !== undefined) return adopted;
      const lock = await this.#lock();
      if (lock !== null) {
        let keepLock = false;
        try {
          // Read again under the lock: another process may have finished between the read and the lock.
          const entry = await this.#read();
          return this.#adoptable(entry) ?? (await this.#rotate(entry, lock));
        } catch (err) {
          keepLock = this.#pending !== undefined; // the store failed to take new tokens: kept until they are written
          throw err;
        } finally {
          if (!keepLock) await this.#unlock(lock).catch(() => undefined);
        }
      }
      if (clock.now() >= giveUpAt) {
        throw failure(this.#ep, 'WEIR_AUTH_UNAVAILABLE', `another process held the refresh lock of "${this.#key}" too long`, { reason: 'busy' });
      }
      await clock.sleep(this.#lockPollMs);
    }
  }

  async #rotate(entry: KvEntry<StoredChain> | null, lock: KvEntry<LockValue>): Promise<CachedToken> {
    const fromConfig = entry === null || this.#unusedInitial(entry.value);
    const token = fromConfig ? this.#initial : Secret.of('oauth2_refresh_token', entry.value.refreshToken);
    if (token === undefined) {
      throw new WeirError('WEIR_AUTH_NO_CREDENTIAL', `No refresh token for "${this.#key}": the store holds none and no initialRefreshToken is configured.`, {
        details: { kind: this.#ep.kind, storeKey: this.#key, reason: 'no_refresh_token' },
      });
    }
    const seed = fingerprint(token.reveal());
    if (this.#dead?.seed === seed) throw this.#dead.error;
    const seeds = entry === null ? [] : entry.value.seeds;
    const params: Record<string, string> = { grant_type: 'refresh_token', refresh_token: token.reveal() };
    if (this.#scope !== undefined) params.scope = this.#scope;
    let set: TokenSet;
    try {
      set = await requestToken(this.#ep, params, [token]);
    } catch (err) {
      if (isWeirError(err, 'WEIR_AUTH_INVALID_GRANT')) {
        const error = this.#refused(err, fromConfig);
        this.#dead = { seed, error };
        throw error;
      }
      throw err;
    }
    const value: StoredChain = {
      v: 1,
      // A server that does not rotate sends no new refresh token: the old one stays valid (RFC 6749 §6).
      refreshToken: (set.refreshToken ?? token).reveal(),
      accessToken: set.accessToken.reveal(),
      expiresAt: set.expiresAt ?? null,
      obtainedAt: set.obtainedAt,
      scope: set.scope ?? null,
      seeds: fromConfig && this.#initialSeed !== undefined ? [...seeds, this.#initialSeed].slice(-8) : seeds,
    };
    this.#pending = { value, ifVersion: entry?.version ?? 0, set, lock };
    if (!(await this.#writePending())) {
      // Only when the lock was lost (a pause longer than lockTtlMs) and another process stored a chain: it wins.
      throw failure(this.#ep, 'WEIR_AUTH_UNAVAILABLE', `the stored chain "${this.#key}" changed during the refresh`, { reason: 'conflict' });
    }
    return { ...set, source: 'server' };
  }

  /**
   * Writes the pending tokens by compare-and-set on the version they were read at. Returns false on
   * a conflict; throws, keeping them pending, when the store fails.
   */
  async #writePending(): Promise<boolean> {
    const p = this.#pending as Pending;
    const written = await this.#kv.set<StoredChain>(OAUTH2_KV_NAMESPACE, this.#key, p.value, { now: this.#ep.clock.now(), ifVersion: p.ifVersion });
    this.#pending = undefined;
    if (written === null) return false;
    this.#version = written.version;
    if (this.#afterPersist !== undefined) await this.#afterPersist();
    return true;
  }

  async #read(): Promise<KvEntry<StoredChain> | null> {
    const entry = await this.#kv.get<StoredChain>(OAUTH2_KV_NAMESPACE, this.#key, this.#ep.clock.now());
    if (entry === null) return null;
    const v = entry.value as Partial<StoredChain> | null;
    if (v?.v !== 1 || typeof v.refreshToken !== 'string' || !Array.isArray(v.seeds)) {
      throw new WeirError('WEIR_AUTH_NO_CREDENTIAL', `The stored OAuth 2.0 chain "${this.#key}" is not readable.`, {
        details: { kind: this.#ep.kind, storeKey: this.#key, reason: 'corrupt' },
      });
    }
    return entry;
  }

  /** The stored access token, when it is newer than ours and good for a while (another process, or the last run, got it). */
  #adoptable(entry: KvEntry<StoredChain> | null): CachedToken | undefined {
    if (entry === null || entry.version === this.#version || entry.value.accessToken === null || this.#unusedInitial(entry.value)) return undefined;
    const { accessToken, expiresAt, obtainedAt, scope, refreshToken } = entry.value;
    if (expiresAt !== null && this.#ep.clock.now() >= expiresAt - Math.min(this.#aheadMs, (expiresAt - obtainedAt) / 2)) return undefined;
    this.#version = entry.version;
    return {
      accessToken: Secret.of('oauth2_access_token', accessToken),
      tokenType: 'Bearer',
      expiresAt: expiresAt ?? undefined,
      obtainedAt,
      refreshToken: Secret.of('oauth2_refresh_token', refreshToken),
      scope: scope ?? undefined,
      source: 'store',
    };
  }

  /** True when a configured initial token exists that this chain has never used: an operator re-seeded it. */
  #unusedInitial(chain: StoredChain): boolean {
    return this.#initialSeed !== undefined && !chain.seeds.includes(this.#initialSeed);
  }

  async #lock(): Promise<KvEntry<LockValue> | null> {
    const now = this.#ep.clock.now();
    const current = await this.#kv.get<LockValue>(OAUTH2_LOCK_NAMESPACE, this.#key, now);
    if (current !== null && current.value.owner !== null && current.value.until > now) return null;
    // The lock row is never deleted, so its version only grows and compare-and-set on it is exact.
    const value: LockValue = { owner: this.#owner, until: now + this.#lockTtlMs };
    return this.#kv.set<LockValue>(OAUTH2_LOCK_NAMESPACE, this.#key, value, { now, ifVersion: current?.version ?? 0 });
  }

  async #unlock(lock: KvEntry<LockValue>): Promise<void> {
    await this.#kv.set<LockValue>(OAUTH2_LOCK_NAMESPACE, this.#key, { owner: null, until: 0 }, { now: this.#ep.clock.now(), ifVersion: lock.version });
  }

  #refused(err: WeirError, fromConfig: boolean): WeirError {
    const where = fromConfig
      ? `the configured initial refresh token${this.#initial?.name === 'oauth2_refresh_token' ? '' : ` (${this.#initial?.name})`}`
      : `the stored refresh token of "${this.#key}"`;
    const fix = this.#initial !== undefined && this.#initial.name !== 'oauth2_refresh_token' ? `set ${this.#initial.name} to it` : 'pass it as initialRefreshToken';
    const { kind: _kind, tokenUrl: _url, ...details } = err.details;
    return failure(this.#ep, 'WEIR_AUTH_INVALID_GRANT', `HTTP 400 invalid_grant for ${where}`, {
      ...details,
      reason: 'refused',
      source: fromConfig ? 'configured' : 'store',
      storeKey: this.#key,
    }, `It is spent, revoked or expired: obtain a new refresh token and ${fix} (a value the chain has not used replaces it).`);
  }
}

/** A SHA-256 fingerprint of a refresh token: refresh tokens are long random strings, so it reveals nothing usable. */
function fingerprint(token: string): string {
  return createHash('sha256').update('weir.oauth2.seed\0').update(token).digest('base64url');
}
