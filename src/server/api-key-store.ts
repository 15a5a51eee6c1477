import { InvalidOptionError, WeirError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { integer } from '../internal/validate.js';
import { generateApiKey, hashApiKey, type HashApiKeyOptions } from '../security/api-key-hash.js';
import type { Secret } from '../security/secret.js';
import type { KvStore } from '../store/kv.js';
import { type AcceptedApiKey, type ApiKeyCheck, type ApiKeyVerifier, apiKeyVerifier } from './api-key.js';

/** One key of a stored ring, as kept in the store: its hash, never the key. Times are epoch ms. */
export interface StoredApiKey {
  readonly id: string;
  /** `hashApiKey(key)`; never shown by {@link StoredApiKeys.list}. */
  readonly hash: string;
  readonly clientId: string;
  readonly scopes?: readonly string[];
  readonly createdAt: number;
  readonly expiresAt?: number;
  readonly revokedAt?: number;
}

/** A stored key as listed: everything but the hash, with its state now. */
export interface StoredApiKeyInfo extends Omit<StoredApiKey, 'hash'> {
  readonly state: 'active' | 'expired' | 'revoked';
}

/** Options of {@link StoredApiKeys.rotate}. */
export interface RotateApiKeyOptions {
  /** How long the keys active before the rotation stay valid, ms (0: they stop at once). Default 86 400 000 (24 h). */
  readonly graceMs?: number;
  /** Owner of the new key (`ctx.client.id`). Default: the owner of the newest active key, else the ring's name. */
  readonly clientId?: string;
  /** Scopes of the new key. Default: those of the newest active key, else none. */
  readonly scopes?: readonly string[];
  /** Lifetime of the new key, ms. Default: no expiry (until the next rotation). */
  readonly expiresInMs?: number;
  /** Prefix of the generated key (`<prefix>_…`). Default `'wk'`. */
  readonly prefix?: string;
}

/** What {@link StoredApiKeys.rotate} did. `key` is the only copy of the new key: show it once. */
export interface RotatedApiKey {
  readonly ring: string;
  readonly id: string;
  readonly key: Secret;
  readonly createdAt: number;
  readonly expiresAt: number | undefined;
  /** Keys that were active, with the time they now stop working. */
  readonly previous: ReadonlyArray<{ readonly id: string; readonly expiresAt: number }>;
}

export interface StoredApiKeysOptions extends HashApiKeyOptions {
  /** How long a loaded ring is reused by `verify`, ms: a rotation or revocation by another process is seen within this time. Default 5000. */
  readonly cacheMs?: number;
  readonly clock?: Clock;
}

interface RingValue {
  readonly keys: readonly StoredApiKey[];
}

const KV = 'weir.api-keys';
const RING = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
/** Compare-and-set attempts before a concurrent rotation is reported. */
const ATTEMPTS = 10;

/**
 * A ring of accepted API keys kept in the store (kv namespace `weir.api-keys`), so keys can be
 * rotated while the app runs (`weir keys rotate <ring>`) and every process sees the change within
 * `cacheMs`. Keys are hashed at rest; a new key is returned once, as a `Secret`. The previous keys
 * stay valid for a grace period, so clients move over without downtime. Use it as the ring of
 * `requireApiKey()`. Import from `weir/server`.
 *
 * @throws InvalidOptionError for a bad ring name or option.
 * @example
 * ```ts
 * const keys = storedApiKeys(app.store, 'partners');
 * const api = createHandler([requireApiKey({ ring: keys })], handler);
 * // elsewhere: weir keys rotate partners --grace 24h
 * ```
 */
export function storedApiKeys(store: { readonly kv: KvStore }, ring: string, options: StoredApiKeysOptions = {}): StoredApiKeys {
  return new StoredApiKeys(store, ring, options);
}

export class StoredApiKeys implements ApiKeyVerifier {
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #hash: HashApiKeyOptions;
  #cached: { readonly at: number; readonly verifier: ApiKeyVerifier } | undefined;

  constructor(
    private readonly store: { readonly kv: KvStore },
    readonly ring: string,
    options: StoredApiKeysOptions = {},
  ) {
    if (typeof ring !== 'string' || !RING.test(ring)) throw new InvalidOptionError('storedApiKeys.ring', 'a ring name of [a-z0-9_.-] (at most 64)', ring);
    this.#clock = options.clock ?? systemClock;
    this.#cacheMs = options.cacheMs === undefined ? 5000 : integer(options.cacheMs, 'storedApiKeys.cacheMs', 0);
    this.#hash = options.pepper === undefined ? {} : { pepper: options.pepper };
  }

  /** Checks a presented key against the ring (reloaded at most every `cacheMs`). */
  async verify(presented: string, now: number): Promise<ApiKeyCheck> {
    const at = this.#clock.now();
    if (this.#cached === undefined || at - this.#cached.at >= this.#cacheMs) {
      const keys: AcceptedApiKey[] = (await this.#load()).value.keys.map((k) => ({ ...k }));
      this.#cached = { at, verifier: apiKeyVerifier(keys, this.#hash) };
    }
    return this.#cached.verifier.verify(presented, now);
  }

  /** The ring's keys, newest first, with their state now; never a key or its hash. */
  async list(): Promise<StoredApiKeyInfo[]> {
    const now = this.#clock.now();
    return (await this.#load()).value.keys
      .map(({ hash: _hash, ...k }) => ({ ...k, state: state(k, now) }))
      .toSorted((a, b) => b.createdAt - a.createdAt);
  }

  /**
   * Adds a new generated key and makes every key active until now expire after `graceMs`.
   * @throws WeirError `WEIR_PRECONDITION_FAILED` when other rotations kept winning the race (try again).
   */
  async rotate(options: RotateApiKeyOptions = {}): Promise<RotatedApiKey> {
    const graceMs = integer(options.graceMs ?? 86_400_000, 'rotate.graceMs', 0);
    const expiresInMs = options.expiresInMs === undefined ? undefined : integer(options.expiresInMs, 'rotate.expiresInMs', 1);
    if (options.clientId !== undefined && (typeof options.clientId !== 'string' || options.clientId === '')) throw new InvalidOptionError('rotate.clientId', 'a non-empty string', options.clientId);
    const key = generateApiKey(options.prefix === undefined ? {} : { prefix: options.prefix });
    const hash = hashApiKey(key, this.#hash);
    return this.#update((keys, now) => {
      const active = keys.filter((k) => state(k, now) === 'active');
      const until = now + graceMs;
      const previous = active.map((k) => ({ id: k.id, expiresAt: Math.min(k.expiresAt ?? until, until) }));
      const newest = active.toSorted((a, b) => b.createdAt - a.createdAt)[0];
      const clientId = options.clientId ?? newest?.clientId ?? this.ring;
      const scopes = options.scopes ?? newest?.scopes;
      const expiresAt = expiresInMs === undefined ? undefined : now + expiresInMs;
      const added: StoredApiKey = { id: newId(this.ring, now, keys), hash, clientId, createdAt: now, ...(scopes === undefined ? {} : { scopes: [...scopes] }), ...(expiresAt === undefined ? {} : { expiresAt }) };
      const next = keys.map((k) => {
        const p = previous.find((x) => x.id === k.id);
        return p === undefined ? k : { ...k, expiresAt: p.expiresAt };
      });
      return { keys: [...next, added], result: { ring: this.ring, id: added.id, key, createdAt: now, expiresAt, previous } };
    });
  }

  /** Revokes a key now. @returns false when the ring has no key with this id (or it was revoked already). */
  async revoke(id: string): Promise<boolean> {
    return this.#update((keys, now) => {
      const found = keys.some((k) => k.id === id && k.revokedAt === undefined);
      return { keys: found ? keys.map((k) => (k.id === id ? { ...k, revokedAt: now } : k)) : keys, result: found };
    });
  }

  async #load(): Promise<{ value: RingValue; version: number }> {
    const entry = await this.store.kv.get<RingValue>(KV, this.ring, this.#clock.now());
    return entry === null ? { value: { keys: [] }, version: 0 } : { value: entry.value, version: entry.version };
  }

  /** Read, change, compare-and-set; retried when another process wrote in between. */
  async #update<T>(change: (keys: readonly StoredApiKey[], now: number) => { keys: readonly StoredApiKey[]; result: T }): Promise<T> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const { value, version } = await this.#load();
      const now = this.#clock.now();
      const { keys, result } = change(value.keys, now);
      if (keys === value.keys) return result;
      const written = await this.store.kv.set<RingValue>(KV, this.ring, { keys }, { now, ifVersion: version });
      if (written !== null) {
        this.#cached = undefined;
        return result;
      }
    }
    throw new WeirError('WEIR_PRECONDITION_FAILED', `The key ring ${this.ring} kept changing while it was updated; try again.`, { classification: 'transient' });
  }
}

function state(k: Omit<StoredApiKey, 'hash'>, now: number): StoredApiKeyInfo['state'] {
  if (k.revokedAt !== undefined && now >= k.revokedAt) return 'revoked';
  if (k.expiresAt !== undefined && now >= k.expiresAt) return 'expired';
  return 'active';
}

/** `<ring>-<YYYYMMDD>-<HHMMSS>` (UTC), with `-2`, `-3`, … when taken. */
function newId(ring: string, now: number, keys: readonly StoredApiKey[]): string {
  const base = `${ring}-${new Date(now).toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`;
  let id = base;
  for (let n = 2; keys.some((k) => k.id === id); n++) id = `${base}-${n}`;
  return id;
}
