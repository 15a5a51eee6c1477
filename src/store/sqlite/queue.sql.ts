/**
 * SQL of the SQLite queue. SQLite has one writer at a time, so keyed order needs no locks: every
 * statement that decides a key's head runs inside the single write transaction.
 *
 * Partial indexes are used only when the query repeats the index's WHERE terms, so queries on keys
 * repeat `OCCUPIED` (the `weir_messages_key` predicate) next to their narrower condition.
 */
const OCCUPIED = `state IN ('ready', 'waiting', 'active', 'blocked')`;

/** A delivery's lease to worker @worker until @until (claim, key hand-off; ENQUEUE_LEASED inserts the same): counted as a delivery, new fencing token. */
const LEASE = `state = 'active', attempts = attempts + 1, lease_token = lease_token + 1, lease_owner = @worker, lease_until = @until`;

/**
 * A keyed message is `ready` only when nothing else occupies its key (and its topic is key-ordered);
 * otherwise it `waits` until its predecessor is done or dead-lettered.
 */
const NEW_STATE = `CASE
    WHEN @key IS NULL THEN 'ready'
    WHEN EXISTS (SELECT 1 FROM weir_topics WHERE topic = @topic AND ordering = 'none') THEN 'ready'
    WHEN EXISTS (SELECT 1 FROM weir_messages WHERE topic = @topic AND key = @key AND ${OCCUPIED}) THEN 'waiting'
    ELSE 'ready'
  END`;

export const ENQUEUE = `
INSERT INTO weir_messages (id, topic, key, payload, headers, state, run_at, created_at)
VALUES (@id, @topic, @key, @payload, @headers, ${NEW_STATE}, @runAt, @now)
ON CONFLICT (id) DO NOTHING
RETURNING state`;

/**
 * An enqueue whose message a local worker takes in the same transaction: inserted already leased to
 * @worker until @until (as a claim would lease it: one delivery, fencing token 1) when it would be
 * ready, is due, and neither its topic nor its key is held; otherwise inserted as ENQUEUE would.
 * (`WHERE true`: SQLite's parser needs a WHERE before ON CONFLICT in an INSERT … SELECT.)
 */
export const ENQUEUE_LEASED = `
INSERT INTO weir_messages (id, topic, key, payload, headers, state, run_at, created_at, attempts, lease_token, lease_owner, lease_until)
SELECT @id, @topic, @key, @payload, @headers, s.state, @runAt, @now, s.state = 'active', s.state = 'active',
  CASE WHEN s.state = 'active' THEN @worker END, CASE WHEN s.state = 'active' THEN @until END
FROM (SELECT CASE
    WHEN ${NEW_STATE} = 'waiting' THEN 'waiting'
    WHEN @runAt <= @now AND NOT EXISTS (SELECT 1 FROM weir_holds h WHERE h.topic = @topic AND h.key IN ('', ifnull(@key, '')) AND h.until > @now) THEN 'active'
    ELSE 'ready'
  END AS state) s
WHERE true
ON CONFLICT (id) DO NOTHING
RETURNING *`;

/**
 * One statement, so it takes the write lock before reading (no read-to-write upgrade, no
 * SQLITE_BUSY_SNAPSHOT between processes). Held topics and held keys are skipped.
 */
export const CLAIM = `
UPDATE weir_messages
SET ${LEASE}
WHERE seq IN (
  SELECT m.seq FROM weir_messages m
  WHERE m.topic = @topic AND m.state = 'ready' AND m.run_at <= @now
    AND NOT EXISTS (SELECT 1 FROM weir_holds h WHERE h.topic = @topic AND h.key = '' AND h.until > @now)
    AND (m.key IS NULL OR NOT EXISTS (
      SELECT 1 FROM weir_holds h WHERE h.topic = @topic AND h.key = m.key AND h.until > @now))
  ORDER BY m.run_at, m.seq
  LIMIT @limit)
RETURNING *`;

export const SETTLE_DONE = `
UPDATE weir_messages
SET state = 'done', finished_at = @now, lease_owner = NULL, lease_until = NULL
WHERE id = @id AND lease_token = @token AND state = 'active'
RETURNING topic, key`;

export const SETTLE_RETRY = `
UPDATE weir_messages
SET state = 'ready', run_at = @runAt, attempts = attempts - @refund, lease_owner = NULL, lease_until = NULL,
    history = @history, error = @error, error_code = @code, error_message = @message
WHERE id = @id AND lease_token = @token AND state = 'active'
RETURNING topic, key`;

export const SETTLE_DEAD = `
UPDATE weir_messages
SET state = @state, finished_at = @now, lease_owner = NULL, lease_until = NULL,
    history = @history, error = @error, error_code = @code, error_message = @message, signature = @signature
WHERE id = @id AND lease_token = @token AND state = 'active'
RETURNING topic, key`;

const KEY_HEAD = `seq = (
  SELECT seq FROM weir_messages
  WHERE topic = @topic AND key = @key AND ${OCCUPIED} AND state = 'waiting'
  ORDER BY seq LIMIT 1)
AND NOT EXISTS (
  SELECT 1 FROM weir_messages
  WHERE topic = @topic AND key = @key AND ${OCCUPIED} AND state IN ('ready', 'active', 'blocked'))`;

/** Makes the oldest waiting message of a key ready, if nothing else occupies the key. */
export const PROMOTE = `
UPDATE weir_messages SET state = 'ready'
WHERE ${KEY_HEAD}
RETURNING topic`;

/** Key hand-off: leases that message to the worker instead, if it is due and neither topic nor key is held. */
export const HANDOFF = `
UPDATE weir_messages
SET ${LEASE}
WHERE ${KEY_HEAD}
AND run_at <= @now
AND NOT EXISTS (SELECT 1 FROM weir_holds h WHERE h.topic = @topic AND h.key IN ('', @key) AND h.until > @now)
RETURNING *`;

export const RENEW = `
UPDATE weir_messages SET lease_until = @until
WHERE lease_owner = @worker AND state = 'active'
RETURNING id, lease_token`;

export const NEXT_DUE = `
SELECT min(t) AS t FROM (
  SELECT min(run_at) AS t FROM weir_messages
    WHERE topic IN (SELECT value FROM json_each(@topics)) AND state = 'ready' AND run_at > @now
  UNION ALL
  SELECT min(until) FROM weir_holds WHERE topic IN (SELECT value FROM json_each(@topics)) AND until > @now
  UNION ALL
  SELECT min(next_run_at) FROM weir_schedules WHERE next_run_at > @now
)`;

export const GET = `SELECT * FROM weir_messages WHERE id = ?`;

export const STATS = `
SELECT topic,
  sum(state = 'ready' AND run_at <= @now) AS ready,
  sum(state = 'ready' AND run_at > @now) AS scheduled,
  sum(state = 'waiting') AS waiting,
  sum(state = 'active') AS active,
  sum(state = 'done') AS done,
  sum(state = 'dead') AS dead,
  sum(state = 'blocked') AS blocked,
  min(CASE WHEN state = 'ready' AND run_at <= @now THEN run_at END) AS oldest
FROM weir_messages GROUP BY topic ORDER BY topic`;

export const HOLD = `
INSERT INTO weir_holds (topic, key, until, reason) VALUES (@topic, @key, @until, @reason)
ON CONFLICT (topic, key) DO UPDATE SET
  reason = CASE WHEN excluded.until >= until THEN excluded.reason ELSE reason END,
  until = max(until, excluded.until)`;

export const RELEASE_HOLD = `DELETE FROM weir_holds WHERE topic = ? AND key = ?`;

export const HOLDS = `SELECT topic, key, until, reason FROM weir_holds WHERE until > ? ORDER BY topic, key`;

export const REGISTER_TOPIC = `
INSERT INTO weir_topics (topic, ordering, policy, updated_at) VALUES (@topic, @ordering, @policy, @now)
ON CONFLICT (topic) DO UPDATE SET ordering = excluded.ordering, policy = excluded.policy, updated_at = excluded.updated_at`;

/** A topic switched to `ordering: 'none'`: its keys are labels only, nothing waits. */
export const RELEASE_WAITING = `UPDATE weir_messages SET state = 'ready' WHERE topic = ? AND state = 'waiting'`;

export const TOPICS = `SELECT * FROM weir_topics ORDER BY topic`;

export const HEARTBEAT = `
INSERT INTO weir_workers (id, host, pid, topics, started_at, heartbeat_at)
VALUES (@id, @host, @pid, @topics, @startedAt, @now)
ON CONFLICT (id) DO UPDATE SET topics = excluded.topics, heartbeat_at = excluded.heartbeat_at`;

export const WORKERS = `SELECT * FROM weir_workers ORDER BY id`;

export const REMOVE_WORKER = `DELETE FROM weir_workers WHERE id = ?`;

/** Expired leases and leases of dead workers go back to ready; the history records why. */
export const RECLAIM = `
UPDATE weir_messages
SET state = 'ready', lease_until = NULL, lease_owner = NULL,
    history = json_insert(history, '$[#]', json_object(
      'delivery', attempts, 'attempt', 1, 'at', @now, 'durationMs', 0, 'workerId', lease_owner,
      'outcome', 'lease-expired', 'error', NULL))
WHERE state = 'active' AND (lease_until < @now OR lease_owner IN (SELECT value FROM json_each(@dead)))
RETURNING topic`;

export const DELETE_WORKERS = `DELETE FROM weir_workers WHERE id IN (SELECT value FROM json_each(?))`;

/** Keys left with waiting messages but no head (a topic's ordering changed, or a bug): promote the oldest. */
export const REPAIR = `
UPDATE weir_messages SET state = 'ready'
WHERE seq IN (
  SELECT min(w.seq) FROM weir_messages w
  WHERE w.key IS NOT NULL AND w.${OCCUPIED} AND w.state = 'waiting'
  GROUP BY w.topic, w.key
  HAVING NOT EXISTS (
    SELECT 1 FROM weir_messages o
    WHERE o.topic = w.topic AND o.key = w.key AND o.${OCCUPIED} AND o.state IN ('ready', 'active', 'blocked')))
OR (state = 'waiting' AND topic IN (SELECT topic FROM weir_topics WHERE ordering = 'none'))
RETURNING topic`;

/** Batched so a large purge never holds the write lock for long. */
export const PURGE_DONE = `
DELETE FROM weir_messages WHERE seq IN (
  SELECT seq FROM weir_messages
  WHERE state IN ('done', 'dead', 'blocked') AND state = 'done' AND finished_at < ? LIMIT 5000)`;

export const PURGE_INBOX = `
DELETE FROM weir_inbox WHERE (consumer, message_id) IN (
  SELECT consumer, message_id FROM weir_inbox WHERE processed_at < ? LIMIT 5000)`;

export const ONCE = `
INSERT INTO weir_inbox (consumer, message_id, processed_at) VALUES (?, ?, ?)
ON CONFLICT (consumer, message_id) DO NOTHING`;
