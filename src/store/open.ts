import { InvalidOptionError } from '../errors.js';
import type { PostgresStoreOptions } from './postgres/store.js';
import type { SqliteStoreOptions } from './sqlite/store.js';
import type { Store } from './types.js';

/** Options of {@link openStore}: those of the SQLite store and of the PostgreSQL store (each reads its own). */
export type OpenStoreOptions = SqliteStoreOptions & Omit<PostgresStoreOptions, 'connectionString'>;

/**
 * Opens a store from a URL and applies pending migrations:
 * - `sqlite:./weir.db`, `sqlite:/var/lib/app/weir.db`, `sqlite::memory:` — the embedded store
 *   (better-sqlite3, always installed);
 * - `postgres://user@host:5432/db` or `postgresql://…` — PostgreSQL (needs the optional peer `pg`,
 *   loaded only here).
 *
 * Import from `weir/store`.
 * @throws InvalidOptionError naming `url` for another scheme; WeirError `WEIR_STORE` when the store cannot be opened.
 * @example
 * ```ts
 * import { openStore } from 'weir/store';
 * const store = await openStore(process.env.WEIR_STORE ?? 'sqlite:./weir.db', { schema: 'weir' });
 * ```
 */
export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (typeof url === 'string' && url.startsWith('sqlite:')) {
    const { openSqliteStore } = await import('./sqlite/store.js');
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=[./]|:memory:)/, '');
    if (file.length === 0) throw new InvalidOptionError('url', "'sqlite:<path>'", url);
    const { schema: _schema, pool: _pool, ...sqlite } = options;
    return openSqliteStore(file, sqlite);
  }
  if (typeof url === 'string' && /^postgres(ql)?:\/\//.test(url)) {
    const { openPostgresStore } = await import('./postgres/store.js');
    const { durability: _d, busyTimeoutMs: _b, crossProcessPollMs: _c, ...pg } = options;
    return openPostgresStore({ ...pg, connectionString: url });
  }
  throw new InvalidOptionError('url', "'sqlite:<path>' or 'postgres://…'", url);
}
