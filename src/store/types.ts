import type { AuditStore } from './audit.js';
import type { DeadLetterStore } from './dead-letters.js';
import type { IdempotencyStore } from './idempotency.js';
import type { KvStore } from './kv.js';
import type { InboxStore, QueueStore, ScheduleStore } from './queue.js';
import type { SagaStore } from './sagas.js';
import type { SyncStore } from './sync.js';

/** The two built-in backends. */
export type StoreDialect = 'sqlite' | 'postgres';

/** A value, or a promise of one. SQLite stores answer synchronously where a caller's transaction needs it. */
export type Awaitable<T> = T | Promise<T>;

/**
 * What a backend can do, as data. The queue reads these instead of testing the dialect, so a
 * third-party store states its abilities here and gets the matching behaviour.
 */
export interface StoreCapabilities {
  readonly dialect: StoreDialect;
  /** Claims skip rows another claimer holds (`FOR UPDATE SKIP LOCKED`), so many claimers run in parallel. */
  readonly skipLocked: boolean;
  /** Commits wake listeners in other processes and on other machines (`LISTEN/NOTIFY`). */
  readonly listenNotify: boolean;
  /** Several writers commit at the same time (false: one writer at a time, as in SQLite). */
  readonly concurrentWriters: boolean;
  /** Where the processes that share one store may run: on one machine (`'host'`) or on many (`'network'`). */
  readonly sharing: 'host' | 'network';
  /**
   * The kind of caller transaction the store joins: `'sync'` (a better-sqlite3 `Database` inside
   * `db.transaction()`: operations given a transaction complete before they return) or `'async'`
   * (a `pg` client inside `BEGIN`: operations return promises).
   */
  readonly transactions: 'sync' | 'async';
  /** The backstop poll that suits this store, in ms (wake-ups make it a safety net, not the latency). */
  readonly backstopPollMs: number;
}

/**
 * A better-sqlite3 `Database` (or anything shaped like it) on the store's own file, used inside
 * `db.transaction(() => …)`. Weir prepares its statements on it, so the message commits or rolls
 * back with the caller's rows.
 */
export interface SqliteTransaction {
  prepare(source: string): SqliteStatementLike;
  readonly inTransaction: boolean;
  /** The file name; must be the store's file. */
  readonly name: string;
}

/** The part of a better-sqlite3 `Statement` Weir uses. */
export interface SqliteStatementLike {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/** A `pg` `Client` or `PoolClient` (or anything with the same `query`) inside `BEGIN … COMMIT`. */
export interface PgTransaction {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

/** A caller's open transaction: see {@link SqliteTransaction} and {@link PgTransaction}. */
export type Transaction = SqliteTransaction | PgTransaction;

/** One applied migration. */
export interface MigrationRecord {
  readonly version: number;
  readonly name: string;
}

/** What `migrate()` did. */
export interface MigrationReport {
  /** Schema version before. 0 for an empty database. */
  readonly from: number;
  /** Schema version after. */
  readonly to: number;
  /** Migrations applied by this call, in order (empty when already current). */
  readonly applied: readonly MigrationRecord[];
}

/**
 * Weir's durable state, split by concern. SQLite (`weir/store/sqlite`) and PostgreSQL
 * (`weir/store/postgres`) implement it; `storeContract()` from `weir/testing` checks any
 * implementation. Every time is an epoch-ms number passed in by the caller, so stores hold no clock.
 *
 * @example
 * ```ts
 * import { openStore } from 'weir/store';
 * const store = await openStore('sqlite:./weir.db');
 * console.log(store.capabilities.skipLocked); // false
 * await store.close();
 * ```
 */
export interface Store {
  readonly capabilities: StoreCapabilities;
  /** Messages, leases, holds, topics and workers. */
  readonly queue: QueueStore;
  /** Processed-message records for exactly-once effects. */
  readonly inbox: InboxStore;
  /** Cron schedules that enqueue messages. */
  readonly schedules: ScheduleStore;
  /** Messages that exhausted their retries: list, group, replay, discard, purge. */
  readonly deadLetters: DeadLetterStore;
  /** Stored outcomes of idempotent requests. */
  readonly idempotency: IdempotencyStore;
  /** The append-only audit trail. */
  readonly audit: AuditStore;
  /** Small versioned values: checkpoints, cursors, tokens. */
  readonly kv: KvStore;
  /** Saga runs and their step records. */
  readonly sagas: SagaStore;
  /** Sync identity links, conflicts and escalations (`weir/sync`). */
  readonly sync: SyncStore;
  /**
   * Applies pending migrations (done at open unless `migrate: false`). Safe to call from several
   * processes at once: one applies, the others wait and find nothing to do.
   * @throws WeirError `WEIR_STORE` when a migration fails (it is rolled back).
   */
  migrate(): Promise<MigrationReport>;
  /**
   * Runs `fn` in a transaction on the store's own connection: commits when it returns (or its
   * promise resolves), rolls back when it throws. Pass the `tx` to `queue.enqueue(tx, …)` and
   * `queue.once(tx, …)` to make them part of it. On a `'sync'` store `fn` must be synchronous
   * (better-sqlite3 transactions cannot span an `await`).
   * @throws whatever `fn` throws (after rolling back); InvalidOptionError when a sync store's `fn` returns a promise.
   */
  transaction<T>(fn: (tx: Transaction) => T): Promise<Awaited<T>>;
  /** The schema version in the database (0 before any migration). */
  version(): Promise<number>;
  /** Closes connections and stops background wake-up listeners. Idempotent. */
  close(): Promise<void>;
}

/** Options every store accepts. */
export interface StoreOptions {
  /** Apply pending migrations at open. Default true. */
  migrate?: boolean;
}
