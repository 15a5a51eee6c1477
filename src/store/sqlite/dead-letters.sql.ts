import type { DeadLetterFilter } from '../dead-letters.js';

/** SQL of SQLite dead letters (messages in state `dead` or `blocked`). */
const DEAD = `state IN ('dead', 'blocked')`;

/** WHERE clause and parameters for a filter; only present conditions appear, so the partial index applies. */
export function where(f: Omit<DeadLetterFilter, 'limit'>): { clause: string; params: Record<string, unknown> } {
  const terms = [DEAD];
  const params: Record<string, unknown> = {};
  const add = (term: string, name: string, value: unknown): void => {
    if (value === undefined) return;
    terms.push(term);
    params[name] = value;
  };
  add('topic = @topic', 'topic', f.topic);
  add('signature = @signature', 'signature', f.signature);
  add('key = @key', 'key', f.key);
  add('finished_at >= @since', 'since', f.since);
  add('finished_at < @until', 'until', f.until);
  add('seq < @beforeSeq', 'beforeSeq', f.beforeSeq);
  return { clause: terms.join(' AND '), params };
}

export const list = (clause: string): string => `SELECT * FROM weir_messages WHERE ${clause} ORDER BY seq DESC LIMIT @limit`;

export const count = (clause: string): string => `SELECT count(*) AS n FROM weir_messages WHERE ${clause}`;

export const groups = (clause: string): string => `
SELECT topic, signature, count(*) AS n, min(finished_at) AS first_at, max(finished_at) AS last_at,
  min(error_code) AS code, min(error_message) AS message
FROM weir_messages WHERE ${clause}
GROUP BY topic, signature ORDER BY n DESC, topic, signature`;

export const GET = `SELECT * FROM weir_messages WHERE id = ? AND ${DEAD}`;

/**
 * Back to the queue under the same id. A blocked message still heads its key, so it is ready; a
 * dead keyed message waits if its key is occupied now (it is the oldest, so it is promoted next).
 * The old error and history move to `previous`; attempts start again.
 */
export const REPLAY = `
UPDATE weir_messages SET
  state = CASE
    WHEN state = 'blocked' OR key IS NULL THEN 'ready'
    WHEN EXISTS (SELECT 1 FROM weir_topics t WHERE t.topic = weir_messages.topic AND t.ordering = 'none') THEN 'ready'
    WHEN EXISTS (
      SELECT 1 FROM weir_messages o
      WHERE o.topic = weir_messages.topic AND o.key = weir_messages.key
        AND o.state IN ('ready', 'waiting', 'active', 'blocked')) THEN 'waiting'
    ELSE 'ready'
  END,
  previous = json_insert(previous, '$[#]', json_object('deadAt', finished_at, 'error', json(error), 'history', json(history))),
  history = '[]', attempts = 0, run_at = @runAt, finished_at = NULL, replays = replays + 1,
  lease_owner = NULL, lease_until = NULL
WHERE id = @id AND ${DEAD}
RETURNING topic, state, run_at`;

export const DISCARD = `DELETE FROM weir_messages WHERE id = ? AND ${DEAD} RETURNING topic, key, state`;

/** Retention never deletes a blocked message: it holds its key until someone decides. */
export const PURGE = `
DELETE FROM weir_messages WHERE seq IN (
  SELECT seq FROM weir_messages WHERE state IN ('done', 'dead', 'blocked') AND state = 'dead' AND finished_at < ? LIMIT 5000)`;
