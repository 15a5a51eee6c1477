/**
 * `weir/store/postgres`: the PostgreSQL store (optional peer dependency `pg`, loaded lazily).
 * @packageDocumentation
 */
export { openPostgresStore, PostgresStore } from './store.js';
export type { PgClientLike, PgPoolLike, PostgresStoreOptions } from './store.js';
