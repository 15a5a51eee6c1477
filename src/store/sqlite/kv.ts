import type { KvEntry, KvSetOptions, KvStore } from '../kv.js';
import { kvRow } from './rows.js';
import { pageSize } from '../shared.js';
import type { SqliteConnection } from './connection.js';
import * as sql from './kv.sql.js';

type Row = Record<string, unknown>;

/** Versioned key-value records in SQLite. */
export class SqliteKvStore implements KvStore {
  constructor(private readonly c: SqliteConnection) {}

  async get<T = unknown>(namespace: string, key: string, now: number): Promise<KvEntry<T> | null> {
    const row = this.c.stmt(sql.GET).get({ namespace, key, now }) as Row | undefined;
    return row === undefined ? null : kvRow<T>(row);
  }

  async set<T = unknown>(namespace: string, key: string, value: T, o: KvSetOptions): Promise<KvEntry<T> | null> {
    const params = {
      namespace,
      key,
      value: JSON.stringify(value ?? null),
      now: o.now,
      expiresAt: o.ttlMs === undefined ? null : o.now + o.ttlMs,
    };
    const statement = o.ifVersion === undefined ? sql.SET : o.ifVersion === 0 ? sql.CREATE : sql.REPLACE;
    const row = this.c.stmt(statement).get(o.ifVersion === undefined || o.ifVersion === 0 ? params : { ...params, ifVersion: o.ifVersion }) as
      | Row
      | undefined;
    return row === undefined ? null : kvRow<T>(row);
  }

  async delete(namespace: string, key: string, options: { readonly ifVersion?: number } = {}): Promise<boolean> {
    if (options.ifVersion === undefined) return this.c.stmt(sql.DELETE).run({ namespace, key }).changes > 0;
    return this.c.stmt(sql.DELETE_IF).run({ namespace, key, ifVersion: options.ifVersion }).changes > 0;
  }

  async list<T = unknown>(
    namespace: string,
    o: { readonly now: number; readonly prefix?: string; readonly afterKey?: string; readonly limit?: number },
  ): Promise<readonly KvEntry<T>[]> {
    const params = { namespace, now: o.now, prefix: o.prefix ?? '', afterKey: o.afterKey ?? '', limit: pageSize(o.limit) };
    return (this.c.stmt(sql.LIST).all(params) as Row[]).map((r) => kvRow<T>(r));
  }

  async purge(now: number): Promise<number> {
    return this.c.stmt(sql.PURGE).run(now).changes;
  }
}
