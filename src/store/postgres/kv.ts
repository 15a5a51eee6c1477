import type { KvEntry, KvSetOptions, KvStore } from '../kv.js';
import { kvRow } from './rows.js';
import { pageSize } from '../shared.js';
import type { PgConnection } from './connection.js';
import { sql } from './kv.sql.js';

/** Versioned key-value records in PostgreSQL. */
export class PostgresKvStore implements KvStore {
  private readonly q: ReturnType<typeof sql>;

  constructor(private readonly c: PgConnection) {
    this.q = sql(`"${c.schema}"`);
  }

  async get<T = unknown>(namespace: string, key: string, now: number): Promise<KvEntry<T> | null> {
    const row = (await this.c.query(this.q.get, [namespace, key, now]))[0];
    return row === undefined ? null : kvRow<T>(row);
  }

  async set<T = unknown>(namespace: string, key: string, value: T, o: KvSetOptions): Promise<KvEntry<T> | null> {
    const params: unknown[] = [namespace, key, JSON.stringify(value ?? null), o.now, o.ttlMs === undefined ? null : o.now + o.ttlMs];
    const text = o.ifVersion === undefined ? this.q.set : o.ifVersion === 0 ? this.q.create : this.q.replace;
    if (o.ifVersion !== undefined && o.ifVersion !== 0) params.push(o.ifVersion);
    const row = (await this.c.query(text, params))[0];
    return row === undefined ? null : kvRow<T>(row);
  }

  async delete(namespace: string, key: string, options: { readonly ifVersion?: number } = {}): Promise<boolean> {
    if (options.ifVersion === undefined) return (await this.c.run(this.q.delete, [namespace, key])) > 0;
    return (await this.c.run(this.q.deleteIf, [namespace, key, options.ifVersion])) > 0;
  }

  async list<T = unknown>(
    namespace: string,
    o: { readonly now: number; readonly prefix?: string; readonly afterKey?: string; readonly limit?: number },
  ): Promise<readonly KvEntry<T>[]> {
    const rows = await this.c.query(this.q.list, [namespace, o.afterKey ?? '', o.prefix ?? '', o.now, pageSize(o.limit)]);
    return rows.map((r) => kvRow<T>(r));
  }

  async purge(now: number): Promise<number> {
    return this.c.run(this.q.purge, [now]);
  }
}
