import type { AuditEntry, AuditQuery, AuditRecord, AuditStore } from '../audit.js';
import { auditRow } from './rows.js';
import { num, pageSize } from '../shared.js';
import { sql } from './audit.sql.js';
import type { PgConnection } from './connection.js';

/**
 * The audit trail in PostgreSQL. `seq` comes from an identity column: strictly increasing, but
 * concurrent writers may commit out of seq order, so a tail by `afterSeq` should re-read a short window.
 */
export class PostgresAuditStore implements AuditStore {
  private readonly q: ReturnType<typeof sql>;

  constructor(private readonly c: PgConnection) {
    this.q = sql(`"${c.schema}"`);
  }

  async append(entries: readonly AuditEntry[]): Promise<readonly number[]> {
    if (entries.length === 0) return [];
    const rows = await this.c.query(this.q.append, [JSON.stringify(entries)]);
    // Identity values are drawn in insertion order, which follows the input order.
    return rows.map((r) => num(r.seq)).toSorted((a, b) => a - b);
  }

  async list(query: AuditQuery = {}): Promise<readonly AuditRecord[]> {
    const { text, params } = this.q.list(query, pageSize(query.limit));
    return (await this.c.query(text, params)).map(auditRow);
  }

  async purge(before: number): Promise<number> {
    return this.c.run(this.q.purge, [before]);
  }
}
