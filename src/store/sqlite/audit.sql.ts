import type { AuditQuery } from '../audit.js';

/** SQL of the SQLite audit trail. */
export const APPEND = `
INSERT INTO weir_audit (ts, direction, system, request_id, method, path, status, outcome, attempt, duration_ms,
  correlation_id, idempotency_key, detail)
VALUES (@ts, @direction, @system, @requestId, @method, @path, @status, @outcome, @attempt, @durationMs,
  @correlationId, @idempotencyKey, @detail)
RETURNING seq`;

/** A query with only the conditions present. */
export function list(q: AuditQuery): { sql: string; params: Record<string, unknown> } {
  const terms: string[] = [];
  const params: Record<string, unknown> = {};
  const add = (term: string, name: string, value: unknown): void => {
    if (value === undefined) return;
    terms.push(term);
    params[name] = value;
  };
  add('seq > @afterSeq', 'afterSeq', q.afterSeq);
  add('seq < @beforeSeq', 'beforeSeq', q.beforeSeq);
  add('ts >= @since', 'since', q.since);
  add('ts < @until', 'until', q.until);
  add('system = @system', 'system', q.system);
  add('direction = @direction', 'direction', q.direction);
  add('correlation_id = @correlationId', 'correlationId', q.correlationId);
  add('request_id = @requestId', 'requestId', q.requestId);
  add('outcome = @outcome', 'outcome', q.outcome);
  const order = (q.order ?? (q.afterSeq === undefined ? 'desc' : 'asc')) === 'asc' ? 'ASC' : 'DESC';
  const where = terms.length === 0 ? '' : `WHERE ${terms.join(' AND ')}`;
  return { sql: `SELECT * FROM weir_audit ${where} ORDER BY seq ${order} LIMIT @limit`, params };
}

export const PURGE = `DELETE FROM weir_audit WHERE ts < ?`;
