import type { Awaitable, Transaction } from './types.js';

/** A stored idempotent request: in flight (locked by one caller) or completed with its response. */
export interface IdempotencyRecord {
  /** Who the key belongs to (a client id, a route), so two clients never share a key. */
  readonly scope: string;
  readonly key: string;
  /** A hash of the request (method, path, body) that first used the key. */
  readonly fingerprint: string;
  readonly state: 'in_flight' | 'completed';
  /** The stored response (any JSON), null while in flight. */
  readonly response: unknown;
  /** While in flight: the lock expires at this time, epoch ms. */
  readonly lockedUntil: number | null;
  readonly createdAt: number;
  /** The record is deleted after this time, epoch ms. */
  readonly expiresAt: number;
}

export interface IdempotencyBeginRequest {
  readonly scope: string;
  readonly key: string;
  readonly fingerprint: string;
  readonly now: number;
  /** How long the caller may hold the key before another caller may take it over, in ms. */
  readonly lockMs: number;
  /** How long the record lives, in ms. */
  readonly ttlMs: number;
}

/**
 * - `acquired`: the caller owns the key and must `complete()` or `release()` it;
 * - `in_flight`: another caller holds it (answer 409);
 * - `mismatch`: the key was used with another request (answer 422);
 * - `completed`: replay the stored response.
 */
export type IdempotencyBegin =
  | { readonly status: 'acquired' }
  | { readonly status: 'in_flight' | 'mismatch' | 'completed'; readonly record: IdempotencyRecord };

/**
 * A response that completes an in-flight key (see {@link IdempotencyStore.completeIn}).
 */
export interface IdempotencyCompletion {
  readonly scope: string;
  readonly key: string;
  /** The stored response (any JSON). */
  readonly response: unknown;
  readonly now: number;
  /** How long the completed record lives from `now`, in ms. */
  readonly ttlMs: number;
  /**
   * The fencing token of the caller's lock: the `now + lockMs` of the `begin()` that acquired the
   * key. When given, only an in-flight record still locked with this value is completed, so a
   * caller whose lock expired (and was taken over) cannot overwrite the new owner's record.
   */
  readonly lockedUntil?: number;
}

/**
 * Storage for idempotency keys (IETF Idempotency-Key semantics live in `weir/server`).
 *
 * A lock's fencing token is the `lockedUntil` the acquiring `begin()` set (`now + lockMs`): a
 * takeover happens only once the lock expired, so each new holder's value is strictly greater.
 */
export interface IdempotencyStore {
  /** Atomically takes the key, or reports why not. An expired record or an expired lock is taken over. */
  begin(request: IdempotencyBeginRequest): Promise<IdempotencyBegin>;
  /**
   * Stores the response and releases the lock.
   * @param lockedUntil the caller's fencing token; when given, completes only the caller's own in-flight lock.
   * @returns false when the record no longer exists (or, fenced, is no longer the caller's).
   */
  complete(scope: string, key: string, response: unknown, now: number, ttlMs: number, lockedUntil?: number): Promise<boolean>;
  /**
   * Forgets an in-flight key (the request failed in a way that may be retried).
   * @param lockedUntil the caller's fencing token; when given, releases only the caller's own lock.
   */
  release(scope: string, key: string, lockedUntil?: number): Promise<void>;
  /**
   * Completes the key inside the caller's open transaction (the same `tx` as `queue.enqueue(tx, …)`),
   * so the stored response commits or rolls back with the caller's own writes. Present on stores
   * that share the caller's database (SQLite, PostgreSQL); synchronous on a `'sync'` store.
   * @returns false when the record no longer exists (or, fenced, is no longer the caller's): roll back.
   */
  completeIn?(tx: Transaction, completion: IdempotencyCompletion): Awaitable<boolean>;
  get(scope: string, key: string): Promise<IdempotencyRecord | null>;
  /** Deletes records that expired before `now`. @returns how many. */
  purge(now: number): Promise<number>;
}
