/**
 * `weir/store/sqlite`: the embedded store on one SQLite file (better-sqlite3, WAL).
 * @packageDocumentation
 */
export { openSqliteStore, SqliteStore } from './store.js';
export type { SqliteDurability, SqliteStoreOptions } from './store.js';
