import type { DeadLetterFilter } from '../dead-letters.js';

/** SQL of PostgreSQL dead letters for schema `s` (quoted). */
const DEAD = `state IN ('dead', 'blocked')`;

/** WHERE clause and parameters for a filter; only present conditions appear, so the partial index applies. */
export function where(f: Omit<DeadLetterFilter, 'limit'>): { clause: string; params: unknown[] } {
  const terms = [DEAD];
  const params: unknown[] = [];
  const add = (column: string, op: string, value: unknown): void => {
    if (value === undefined) return;
    params.push(value);
    terms.push(`${column} ${op} $${params.length}`);
  };
  add('topic', '=', f.topic);
  add('signature', '=', f.signature);
  add('key', '=', f.key);
  add('finished_at', '>=', f.since);
  add('finished_at', '<', f.until);
  add('seq', '<', f.beforeSeq);
  return { clause: terms.join(' AND '), params };
}

export const sql = (s: string) =>
  ({
    list: (clause: string, limitParam: number) => `SELECT * FROM ${s}.messages WHERE ${clause} ORDER BY seq DESC LIMIT $${limitParam}`,
    count: (clause: string) => `SELECT count(*) AS n FROM ${s}.messages WHERE ${clause}`,
    groups: (clause: string) => `
SELECT topic, signature, count(*) AS n, min(finished_at) AS first_at, max(finished_at) AS last_at,
  min(error_code) AS code, min(error_message) AS message
FROM ${s}.messages WHERE ${clause}
GROUP BY topic, signature ORDER BY n DESC, topic, signature`,
    get: `SELECT * FROM ${s}.messages WHERE id = $1 AND ${DEAD}`,
    replay: `SELECT id FROM ${s}.replay($1::text[], $2, $3) AS id`,
    discard: `SELECT id FROM ${s}.discard($1::text[], $2) AS id`,
    /** Retention never deletes a blocked message: it holds its key until someone decides. */
    purge: `
DELETE FROM ${s}.messages WHERE id IN (
  SELECT id FROM ${s}.messages WHERE state = 'dead' AND finished_at < $1 LIMIT 5000)`,
  }) as const;
