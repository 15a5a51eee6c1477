import { InvalidOptionError } from '../../errors.js';
import { integer } from '../../internal/validate.js';
import { pending, report } from '../migrations.js';
import { sqlIdentifier, storeError } from '../shared.js';
import type { MigrationReport, Store, StoreCapabilities, StoreOptions } from '../types.js';
import { PostgresAuditStore } from './audit.js';
import { PgConnection, type PgClientLike, type PgPoolLike } from './connection.js';
import { PostgresDeadLetterStore } from './dead-letters.js';
import { PostgresIdempotencyStore } from './idempotency.js';
import { PostgresKvStore } from './kv.js';
import { migrations } from './migrations.js';
import { PostgresQueueStore } from './queue.js';
import { PostgresSagaStore } from './sagas.js';
import { PostgresScheduleStore } from './schedules.js';
import { PostgresSyncStore } from './sync.js';

export type { PgClientLike, PgPoolLike };

/** Options of {@link openPostgresStore}. Give `connectionString` or `pool`. */
export interface PostgresStoreOptions extends StoreOptions {
  /** `postgres://user:password@host:5432/database`. */
  connectionString?: string;
  /** An existing `pg.Pool` to use instead (the caller keeps owning it: `close()` leaves it open). */
  pool?: PgPoolLike;
  /**
   * The schema holding Weir's tables and functions, created if missing. Default `'weir'`. Give each
   * test file its own schema to run tests in parallel.
   */
  schema?: string;
  /** Pool size when Weir creates the pool. Default 10. One more connection is used for `LISTEN`. */
  max?: number;
  /** `application_name` of Weir's connections. Default `'weir'`. */
  applicationName?: string;
  /**
   * Run the queue's hot statements (claim, settle, enqueue, renew) as named prepared statements,
   * parsed and planned once per connection. Default true. Set false behind a pooler that cannot
   * keep prepared statements (PgBouncer in transaction mode before 1.21).
   */
  preparedStatements?: boolean;
}

const CAPABILITIES: StoreCapabilities = Object.freeze({
  dialect: 'postgres',
  skipLocked: true,
  listenNotify: true,
  concurrentWriters: true,
  sharing: 'network',
  transactions: 'async',
  backstopPollMs: 5000,
});

/**
 * PostgreSQL store: any number of processes on any number of machines share one schema (claims use
 * `FOR UPDATE SKIP LOCKED`, wake-ups `LISTEN/NOTIFY`). Import from `weir/store/postgres`, or use
 * `openStore('postgres://…')` from `weir/store`. Needs the optional peer dependency `pg`.
 */
export class PostgresStore implements Store {
  readonly capabilities = CAPABILITIES;
  readonly queue: PostgresQueueStore;
  readonly inbox: PostgresQueueStore;
  readonly schedules: PostgresScheduleStore;
  readonly deadLetters: PostgresDeadLetterStore;
  readonly idempotency: PostgresIdempotencyStore;
  readonly audit: PostgresAuditStore;
  readonly kv: PostgresKvStore;
  readonly sagas: PostgresSagaStore;
  readonly sync: PostgresSyncStore;
  /** @internal */
  readonly connection: PgConnection;

  /** @internal use {@link openPostgresStore}. */
  constructor(connection: PgConnection) {
    this.connection = connection;
    this.queue = new PostgresQueueStore(connection);
    this.inbox = this.queue;
    this.schedules = new PostgresScheduleStore(connection, this.queue);
    this.deadLetters = new PostgresDeadLetterStore(connection);
    this.idempotency = new PostgresIdempotencyStore(connection);
    this.audit = new PostgresAuditStore(connection);
    this.kv = new PostgresKvStore(connection);
    this.sagas = new PostgresSagaStore(connection);
    this.sync = new PostgresSyncStore(connection);
  }

  /** The pool: take a client from it for `queue.enqueue(client, …)` inside your own `BEGIN … COMMIT`. */
  get pool(): PgPoolLike {
    return this.connection.pool;
  }

  get schema(): string {
    return this.connection.schema;
  }

  /** Runs `fn(client)` inside BEGIN … COMMIT on a pooled client; pass `client` to `queue.enqueue(client, …)`. */
  async transaction<T>(fn: (client: PgClientLike) => T): Promise<Awaited<T>> {
    return this.connection.tx(async (client): Promise<Awaited<T>> => {
      const result: Awaited<T> = await fn(client);
      return result;
    });
  }

  async version(): Promise<number> {
    const rows = await this.connection.query(
      `SELECT to_regclass($1) IS NOT NULL AS present`,
      [`"${this.schema}".migrations`],
    );
    if (rows[0]?.present !== true) return 0;
    const v = await this.connection.query(`SELECT max(version) AS v FROM "${this.schema}".migrations`);
    return Number(v[0]?.v ?? 0);
  }

  /**
   * Under a session advisory lock (so concurrent openers take turns): creates the schema and the
   * migrations table, then applies each pending migration in its own transaction.
   */
  async migrate(): Promise<MigrationReport> {
    const s = `"${this.schema}"`;
    const client = await this.connection.checkout();
    const lockKey = `weir.migrate.${this.schema}`;
    let broken: Error | undefined;
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    try {
      await client.query('SELECT pg_advisory_lock(hashtext($1))', [lockKey]);
      try {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
        );
        const { rows } = await client.query(`SELECT max(version) AS v FROM ${s}.migrations`);
        const from = Number((rows[0] as { v: unknown } | undefined)?.v ?? 0);
        const todo = pending(migrations(this.schema), from);
        for (const m of todo) {
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw err;
          }
        }
        return report(from, todo);
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]);
      }
    } catch (err) {
      broken = err as Error;
      throw storeError(`PostgreSQL migration failed; it was rolled back: ${(err as Error).message}`, err);
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * Opens a PostgreSQL store (loading `pg` lazily) and applies pending migrations.
 * @throws InvalidOptionError naming the option; WeirError `WEIR_STORE` when `pg` is not installed or the database is unreachable.
 * @example
 * ```ts
 * import { openPostgresStore } from 'weir/store/postgres';
 * const store = await openPostgresStore({ connectionString: 'postgres://postgres@127.0.0.1/app', schema: 'weir' });
 * ```
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const schema = sqlIdentifier(options.schema ?? 'weir', 'schema');
  if (schema.length > 50) throw new InvalidOptionError('schema', 'at most 50 characters (it names a NOTIFY channel)', schema);
  const max = integer(options.max ?? 10, 'max', 1);
  const prepare = options.preparedStatements ?? true;
  if (typeof prepare !== 'boolean') throw new InvalidOptionError('preparedStatements', 'a boolean', prepare);
  let pool = options.pool;
  const owns = pool === undefined;
  if (pool === undefined) {
    if (typeof options.connectionString !== 'string') {
      throw new InvalidOptionError('connectionString', "a URL such as 'postgres://user@host/db' (or give `pool`)", options.connectionString);
    }
    let Pool: new (config: Record<string, unknown>) => unknown;
    try {
      const pg = (await import('pg')) as unknown as { default?: { Pool: typeof Pool }; Pool?: typeof Pool };
      Pool = (pg.default?.Pool ?? pg.Pool) as typeof Pool;
    } catch (err) {
      throw storeError("The PostgreSQL store needs the optional peer dependency 'pg' (npm install pg).", err);
    }
    pool = new Pool({
      connectionString: options.connectionString,
      max,
      application_name: options.applicationName ?? 'weir',
    }) as unknown as PgPoolLike;
  }
  const store = new PostgresStore(new PgConnection(pool, schema, owns, prepare));
  if (options.migrate !== false) {
    try {
      await store.migrate();
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  return store;
}
