/** A small JSON value under `(namespace, key)` with a version for compare-and-set. */
export interface KvEntry<T = unknown> {
  readonly namespace: string;
  readonly key: string;
  readonly value: T;
  /** Starts at 1 and grows by one with every write. */
  readonly version: number;
  readonly updatedAt: number;
  /** Epoch ms after which the entry no longer exists, or null. */
  readonly expiresAt: number | null;
}

export interface KvSetOptions {
  readonly now: number;
  /** Lifetime in ms; omitted: forever. */
  readonly ttlMs?: number;
  /**
   * Compare-and-set: write only if the current version is this one (`0`: only if absent). Omitted:
   * write unconditionally.
   */
  readonly ifVersion?: number;
}

/** Versioned key-value records: sync checkpoints and cursors, rotating tokens, small state. */
export interface KvStore {
  /** The live entry, or null (absent or expired at `now`). */
  get<T = unknown>(namespace: string, key: string, now: number): Promise<KvEntry<T> | null>;
  /** Writes the value. @returns the new entry, or null when `ifVersion` did not match. */
  set<T = unknown>(namespace: string, key: string, value: T, options: KvSetOptions): Promise<KvEntry<T> | null>;
  /** @returns true when an entry was deleted (and, with `ifVersion`, only if it matched). */
  delete(namespace: string, key: string, options?: { readonly ifVersion?: number }): Promise<boolean>;
  /** Live entries of a namespace in key order, optionally by prefix, paged by `afterKey`. */
  list<T = unknown>(
    namespace: string,
    options: { readonly now: number; readonly prefix?: string; readonly afterKey?: string; readonly limit?: number },
  ): Promise<readonly KvEntry<T>[]>;
  /** Deletes expired entries. @returns how many. */
  purge(now: number): Promise<number>;
}
