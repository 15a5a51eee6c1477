import { InvalidOptionError, WeirError } from '../../errors.js';
import { integer, oneOf } from '../../internal/validate.js';
import { pending, report } from '../migrations.js';
import { storeError } from '../shared.js';
import type { MigrationReport, Store, StoreCapabilities, StoreOptions, Transaction } from '../types.js';
import { SqliteAuditStore } from './audit.js';
import { SqliteConnection, type SqliteDurability } from './connection.js';
import { SqliteDeadLetterStore } from './dead-letters.js';
import { SqliteIdempotencyStore } from './idempotency.js';
import { SqliteKvStore } from './kv.js';
import { migrations } from './migrations.js';
import { SqliteQueueStore } from './queue.js';
import { SqliteSagaStore } from './sagas.js';
import { SqliteScheduleStore } from './schedules.js';
import { SqliteSyncStore } from './sync.js';

export type { SqliteDurability };

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions extends StoreOptions {
  /**
   * How durable a commit is. Default `'full'`.
   * - `'full'`: the WAL is synced to disk at every commit, so an accepted message survives a power
   *   loss or an OS crash (like PostgreSQL's default `synchronous_commit = on`). The queue worker's
   *   claims, lease renewals and settlements do not wait for the sync (the next synced commit covers
   *   them; one lost to a power loss means a redelivery, as after a crash).
   * - `'normal'`: synced at checkpoints only. Survives any process crash (`kill -9`), but the last
   *   commits before a power loss or OS crash may be lost. Faster on slow disks.
   */
  durability?: SqliteDurability;
  /** How long a writer waits for another process's write lock before failing, in ms. Default 5000. */
  busyTimeoutMs?: number;
  /**
   * How often to check whether another process committed (`PRAGMA data_version`, microseconds per
   * check), in ms, while a queue worker listens. Default 25. 0 disables it (the backstop poll remains).
   */
  crossProcessPollMs?: number;
}

const CAPABILITIES: StoreCapabilities = Object.freeze({
  dialect: 'sqlite',
  skipLocked: false,
  listenNotify: false,
  concurrentWriters: false,
  sharing: 'host',
  transactions: 'sync',
  backstopPollMs: 1000,
});

/**
 * The embedded store: one SQLite file (better-sqlite3, WAL). Import from `weir/store/sqlite`, or
 * use `openStore('sqlite:./weir.db')` from `weir/store`.
 *
 * Several processes on one machine may open the same file: writes take SQLite's write lock in turn
 * (waiting up to `busyTimeoutMs`), leases keep workers apart, and other processes' commits are
 * noticed within `crossProcessPollMs`. Not on network file systems (WAL needs shared memory).
 */
export class SqliteStore implements Store {
  readonly capabilities = CAPABILITIES;
  readonly queue: SqliteQueueStore;
  readonly inbox: SqliteQueueStore;
  readonly schedules: SqliteScheduleStore;
  readonly deadLetters: SqliteDeadLetterStore;
  readonly idempotency: SqliteIdempotencyStore;
  readonly audit: SqliteAuditStore;
  readonly kv: SqliteKvStore;
  readonly sagas: SqliteSagaStore;
  readonly sync: SqliteSyncStore;
  /** @internal */
  readonly connection: SqliteConnection;

  /** @internal use {@link openSqliteStore}. */
  constructor(connection: SqliteConnection) {
    this.connection = connection;
    this.queue = new SqliteQueueStore(connection);
    this.inbox = this.queue;
    this.schedules = new SqliteScheduleStore(connection, this.queue);
    this.deadLetters = new SqliteDeadLetterStore(connection);
    this.idempotency = new SqliteIdempotencyStore(connection);
    this.audit = new SqliteAuditStore(connection);
    this.kv = new SqliteKvStore(connection);
    this.sagas = new SqliteSagaStore(connection);
    this.sync = new SqliteSyncStore(connection);
  }

  /**
   * The better-sqlite3 `Database` of the store. Use it (or another connection to the same file) as
   * the `tx` of `queue.enqueue(tx, …)` inside `db.transaction(() => …)`.
   */
  get db(): SqliteConnection['db'] {
    return this.connection.db;
  }

  /** The canonical path of the file (`:memory:` for an in-memory store). */
  get file(): string {
    return this.connection.file;
  }

  /**
   * Runs `fn(db)` in a `BEGIN IMMEDIATE` transaction on the store's connection. `fn` must be
   * synchronous (better-sqlite3); pass `db` to `queue.enqueue(db, …)` and `queue.once(db, …)`.
   */
  async transaction<T>(fn: (db: SqliteConnection['db'] & Transaction) => T): Promise<Awaited<T>> {
    const db = this.connection.db;
    return this.connection.tx(() => {
      const result = fn(db as SqliteConnection['db'] & Transaction);
      if (typeof (result as { then?: unknown } | null)?.then === 'function') {
        throw new InvalidOptionError('fn', 'a synchronous function (better-sqlite3 transactions cannot span an await)', result);
      }
      return result as Awaited<T>;
    });
  }

  async version(): Promise<number> {
    this.ensureMigrationsTable();
    const row = this.connection.stmt('SELECT max(version) AS v FROM weir_migrations').get() as { v: number | null };
    return row.v ?? 0;
  }

  async migrate(): Promise<MigrationReport> {
    this.ensureMigrationsTable();
    try {
      return this.connection.tx(() => {
        const row = this.connection.db.prepare('SELECT max(version) AS v FROM weir_migrations').get() as { v: number | null };
        const from = row.v ?? 0;
        const todo = pending(migrations, from);
        for (const m of todo) {
          this.connection.db.exec(m.sql);
          this.connection.db
            .prepare('INSERT INTO weir_migrations (version, name, applied_at) VALUES (?, ?, ?)')
            .run(m.version, m.name, Date.now());
        }
        return report(from, todo);
      });
    } catch (err) {
      throw err instanceof WeirError ? err : storeError('SQLite migration failed; it was rolled back.', err);
    }
  }

  private ensureMigrationsTable(): void {
    this.connection.db.exec(
      'CREATE TABLE IF NOT EXISTS weir_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
  }

  async close(): Promise<void> {
    this.connection.close();
  }
}

/**
 * Opens (creating if needed) a SQLite store and applies pending migrations.
 * @param file a path, or `':memory:'` (one connection only: pass `store.db` as the transaction).
 * @throws InvalidOptionError naming the option; WeirError `WEIR_STORE` when the file cannot be opened or migrated.
 * @example
 * ```ts
 * import { openSqliteStore } from 'weir/store/sqlite';
 * const store = await openSqliteStore('./weir.db', { durability: 'full' });
 * ```
 */
export async function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
  const durability = oneOf(options.durability ?? 'full', 'durability', ['full', 'normal'] as const);
  const busyTimeoutMs = integer(options.busyTimeoutMs ?? 5000, 'busyTimeoutMs', 0);
  const crossProcessPollMs = integer(options.crossProcessPollMs ?? 25, 'crossProcessPollMs', 0);
  let connection: SqliteConnection;
  try {
    connection = new SqliteConnection(file, { durability, busyTimeoutMs, crossProcessPollMs });
  } catch (err) {
    throw storeError(`Cannot open SQLite file ${JSON.stringify(file)}.`, err);
  }
  const store = new SqliteStore(connection);
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (err) {
      connection.close();
      throw err;
    }
  }
  return store;
}
