import type { AuditQuery } from '../audit.js';

/** SQL of the PostgreSQL audit trail for schema `s` (quoted). */
export const sql = (s: string) =>
  ({
    append: `
INSERT INTO ${s}.audit (ts, direction, system, request_id, method, path, status, outcome, attempt, duration_ms,
  correlation_id, idempotency_key, detail)
SELECT (e->>'ts')::bigint, e->>'direction', e->>'system', e->>'requestId', e->>'method', e->>'path',
  (e->>'status')::integer, e->>'outcome', (e->>'attempt')::integer, (e->>'durationMs')::double precision,
  e->>'correlationId', e->>'idempotencyKey', e->'detail'
FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord) ORDER BY ord
RETURNING seq`,
    purge: `DELETE FROM ${s}.audit WHERE ts < $1`,
    list(q: AuditQuery, limit: number): { text: string; params: unknown[] } {
      const terms: string[] = [];
      const params: unknown[] = [];
      const add = (column: string, op: string, value: unknown): void => {
        if (value === undefined) return;
        params.push(value);
        terms.push(`${column} ${op} $${params.length}`);
      };
      add('seq', '>', q.afterSeq);
      add('seq', '<', q.beforeSeq);
      add('ts', '>=', q.since);
      add('ts', '<', q.until);
      add('system', '=', q.system);
      add('direction', '=', q.direction);
      add('correlation_id', '=', q.correlationId);
      add('request_id', '=', q.requestId);
      add('outcome', '=', q.outcome);
      const order = (q.order ?? (q.afterSeq === undefined ? 'desc' : 'asc')) === 'asc' ? 'ASC' : 'DESC';
      params.push(limit);
      const where = terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`;
      return { text: `SELECT * FROM ${s}.audit ${where} ORDER BY seq ${order} LIMIT $${params.length}`, params };
    },
  }) as const;
