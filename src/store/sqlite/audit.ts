import type { AuditEntry, AuditQuery, AuditRecord, AuditStore } from '../audit.js';
import { auditRow } from './rows.js';
import { num, pageSize } from '../shared.js';
import * as sql from './audit.sql.js';
import type { SqliteConnection } from './connection.js';

/** The audit trail in SQLite: `seq` is an AUTOINCREMENT key, so it never goes back even after a purge. */
export class SqliteAuditStore implements AuditStore {
  constructor(private readonly c: SqliteConnection) {}

  /**
   * Appends in one transaction, without waiting for a sync under `'full'` durability (as the queue's
   * own bookkeeping): the rows are in the WAL, so they survive a killed process; the next synced
   * commit makes them survive a power loss too.
   */
  async append(entries: readonly AuditEntry[]): Promise<readonly number[]> {
    return this.c.relaxed(() => this.c.tx(() =>
      entries.map((e) => {
        const row = this.c.stmt(sql.APPEND).get({
          ts: e.ts,
          direction: e.direction,
          system: e.system,
          requestId: e.requestId,
          method: e.method,
          path: e.path,
          status: e.status,
          outcome: e.outcome,
          attempt: e.attempt,
          durationMs: e.durationMs,
          correlationId: e.correlationId,
          idempotencyKey: e.idempotencyKey,
          detail: JSON.stringify(e.detail),
        }) as { seq: unknown };
        return num(row.seq);
      }),
    ));
  }

  async list(query: AuditQuery = {}): Promise<readonly AuditRecord[]> {
    const q = sql.list(query);
    return (this.c.stmt(q.sql).all({ ...q.params, limit: pageSize(query.limit) }) as Record<string, unknown>[]).map(auditRow);
  }

  async purge(before: number): Promise<number> {
    return this.c.stmt(sql.PURGE).run(before).changes;
  }
}
