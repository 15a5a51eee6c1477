import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { InvalidOptionError } from '../../errors.js';
import { Emitter } from '../../internal/events.js';
import { wake } from '../shared.js';
import type { SqliteStatementLike, SqliteTransaction, Transaction } from '../types.js';

/** How hard a commit is made durable (SQLite `synchronous` in WAL mode). */
export type SqliteDurability = 'full' | 'normal';

export interface ConnectionOptions {
  durability: SqliteDurability;
  busyTimeoutMs: number;
  crossProcessPollMs: number;
}

/** Statements prepared once per connection (the store's own, and each caller connection). */
const caches = new WeakMap<object, Map<string, SqliteStatementLike>>();

function prepared(db: SqliteTransaction, sql: string): SqliteStatementLike {
  let cache = caches.get(db);
  if (cache === undefined) {
    cache = new Map();
    caches.set(db, cache);
  }
  let stmt = cache.get(sql);
  if (stmt === undefined) {
    stmt = db.prepare(sql);
    cache.set(sql, stmt);
  }
  return stmt;
}

function canonical(file: string): string {
  if (file === ':memory:' || file === '') return file;
  try {
    return realpathSync(file);
  } catch {
    return resolve(file);
  }
}

/**
 * The store's connection: WAL, a busy timeout, the chosen durability, a statement cache, immediate
 * transactions, and in-process wake-ups (plus a cheap `PRAGMA data_version` check that notices
 * commits by other connections and processes).
 */
export class SqliteConnection {
  readonly db: Database.Database;
  readonly file: string;
  private readonly wakeups = new Emitter<string | null>();
  private dataVersion = 0;
  private pollTimer: NodeJS.Timeout | undefined = undefined;

  constructor(file: string, private readonly options: ConnectionOptions) {
    this.db = new Database(file, { timeout: options.busyTimeoutMs });
    this.file = canonical(file);
    if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
    // 'full': the WAL is synced at every commit (survives power loss); 'normal': synced at checkpoints
    // only (survives a process crash, may lose the last commits on power loss or an OS crash).
    this.db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
    this.db.pragma('foreign_keys = OFF');
  }

  /**
   * Runs the worker's own bookkeeping (claims, lease renewals, heartbeats, settlements) without
   * waiting for a sync under `'full'` durability: WAL frames are appended in order, so the next
   * synced commit (an enqueue, any caller's transaction) or checkpoint makes them durable too. A power
   * loss can only roll such a commit back, and every process sharing the file (one machine) dies with
   * it: the message is then delivered again, as after any crash. Accepted messages stay synced.
   * Inside an open transaction on this connection (a caller's) nothing is changed.
   */
  relaxed<T>(fn: () => T): T {
    if (this.options.durability !== 'full' || this.db.inTransaction) return fn();
    this.db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** A cached statement on the store's connection. */
  stmt(sql: string): SqliteStatementLike {
    return prepared(this.db as unknown as SqliteTransaction, sql);
  }

  /** A cached statement on a caller's connection (which must be on the same file). */
  stmtOn(tx: Transaction | undefined, sql: string): SqliteStatementLike {
    if (tx === undefined || tx === (this.db as unknown)) return this.stmt(sql);
    const candidate = tx as Partial<SqliteTransaction>;
    if (typeof candidate.prepare !== 'function' || typeof candidate.name !== 'string') {
      throw new InvalidOptionError('tx', "a better-sqlite3 Database on the store's file", tx);
    }
    if (this.file === ':memory:' || canonical(candidate.name) !== this.file) {
      throw new InvalidOptionError('tx', `a better-sqlite3 Database on the store's file (${this.file})`, candidate.name);
    }
    return prepared(candidate as SqliteTransaction, sql);
  }

  /**
   * Runs `fn` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so two processes
   * never deadlock upgrading a read to a write (the busy timeout then simply queues them). Nested
   * inside a caller's transaction it becomes a savepoint.
   */
  tx<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(fn)();
    return this.db.transaction(fn).immediate();
  }

  /**
   * Wakes in-process listeners once the current transaction of `db` has committed. better-sqlite3
   * transactions are synchronous, so a macrotask later the caller's `transaction()` has returned;
   * a connection still in a transaction (manual `BEGIN` across awaits) is checked again shortly.
   */
  wakeAfterCommit(topic: string, db: { readonly inTransaction: boolean } = this.db, tries = 0): void {
    if (this.wakeups.size === 0) return;
    setImmediate(() => {
      if (!db.inTransaction) wake(this.wakeups, topic);
      else if (tries < 2000) setTimeout(() => this.wakeAfterCommit(topic, db, tries + 1), 1).unref();
    });
  }

  /** Wakes listeners now (the write was committed by the store itself). */
  wakeNow(topic: string | null): void {
    wake(this.wakeups, topic);
  }

  subscribe(listener: (topic: string | null) => void): { dispose(): void; [Symbol.dispose](): void } {
    const sub = this.wakeups.event(listener);
    this.startPolling();
    const dispose = (): void => {
      sub.dispose();
      if (this.wakeups.size === 0) this.stopPolling();
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  /**
   * `PRAGMA data_version` changes when another connection (this process or another) commits. A
   * check costs microseconds, so a short interval gives other processes' enqueues a low latency.
   * The timer is unref'd on purpose: it is a secondary wake-up and must not keep a process alive.
   */
  private startPolling(): void {
    if (this.pollTimer !== undefined || this.file === ':memory:' || this.options.crossProcessPollMs <= 0) return;
    this.dataVersion = this.readDataVersion();
    this.pollTimer = setInterval(() => {
      const version = this.readDataVersion();
      if (version !== this.dataVersion) {
        this.dataVersion = version;
        wake(this.wakeups, null);
      }
    }, this.options.crossProcessPollMs);
    this.pollTimer.unref();
  }

  private stopPolling(): void {
    if (this.pollTimer !== undefined) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  private readDataVersion(): number {
    try {
      return this.db.pragma('data_version', { simple: true }) as number;
    } catch {
      return this.dataVersion;
    }
  }

  close(): void {
    this.stopPolling();
    if (this.db.open) this.db.close();
  }
}
