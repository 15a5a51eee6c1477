/**
 * SQL of the PostgreSQL queue for schema `s` (already quoted). Statements that decide a key's head
 * call the functions created by the migration (`enqueue`, `settle`, `repair`), which lock the key first.
 */
export const sql = (s: string, channel: string) =>
  ({
    enqueue: `SELECT id FROM ${s}.enqueue($1::jsonb, $2) AS id`,

    /**
     * SKIP LOCKED lets many workers claim at once without waiting on each other. Only `ready` rows
     * are candidates, and a keyed row is ready only at the head of its key, so the scan never walks
     * over messages stuck behind their predecessors. Under READ COMMITTED a row changed by another
     * claimer between our scan and our lock is re-checked against `state = 'ready'` and dropped.
     *
     * The claim commits without waiting for its WAL flush (`synchronous_commit` off for its own
     * transaction only): a claim lost in a PostgreSQL crash returns its messages to `ready` with the
     * old lease token, so the worker's settlement is refused as a lost lease and the message is
     * delivered again — what a worker crash does anyway. Everything that must survive (enqueue,
     * settle, the handlers' own writes) still commits durably, and its flush carries the claim's WAL.
     */
    claim: `
WITH next AS (
  SELECT m.id FROM ${s}.messages m
  WHERE m.topic = $1 AND m.state = 'ready' AND m.run_at <= $2
    AND NOT EXISTS (SELECT 1 FROM ${s}.holds h WHERE h.topic = $1 AND h.key = '' AND h.until > $2)
    AND (m.key IS NULL OR NOT EXISTS (SELECT 1 FROM ${s}.holds h WHERE h.topic = $1 AND h.key = m.key AND h.until > $2))
  ORDER BY m.run_at, m.seq
  LIMIT $3
  FOR UPDATE OF m SKIP LOCKED),
relaxed AS (SELECT set_config('synchronous_commit', 'off', true) AS v)
UPDATE ${s}.messages m
SET state = 'active', attempts = m.attempts + 1, lease_token = m.lease_token + 1, lease_owner = $4, lease_until = $5
FROM next, relaxed WHERE m.id = next.id
RETURNING m.id, m.seq, m.topic, m.key, m.payload, m.headers, m.state, m.run_at, m.created_at, m.attempts, m.history,
  m.error, m.finished_at, m.replays, m.lease_token, m.lease_until`,

    settle: `
SELECT ord, promoted, claimed AS id, c_seq AS seq, c_topic AS topic, c_key AS key, c_payload AS payload, c_headers AS headers,
  c_state AS state, c_run_at AS run_at, c_created_at AS created_at, c_attempts AS attempts, c_history AS history, c_error AS error,
  c_finished_at AS finished_at, c_replays AS replays, c_lease_token AS lease_token, c_lease_until AS lease_until
FROM ${s}.settle_claimed($1::jsonb, $2, $3, $4)`,

    renew: `
UPDATE ${s}.messages SET lease_until = $2
WHERE lease_owner = $1 AND state = 'active'
RETURNING id, lease_token`,

    nextDue: `
SELECT LEAST(
  (SELECT min(run_at) FROM ${s}.messages WHERE topic = ANY ($1::text[]) AND state = 'ready' AND run_at > $2),
  (SELECT min(until) FROM ${s}.holds WHERE topic = ANY ($1::text[]) AND until > $2),
  (SELECT min(next_run_at) FROM ${s}.schedules WHERE next_run_at > $2)) AS t`,

    get: `SELECT * FROM ${s}.messages WHERE id = $1`,

    stats: `
SELECT topic,
  count(*) FILTER (WHERE state = 'ready' AND run_at <= $1) AS ready,
  count(*) FILTER (WHERE state = 'ready' AND run_at > $1) AS scheduled,
  count(*) FILTER (WHERE state = 'waiting') AS waiting,
  count(*) FILTER (WHERE state = 'active') AS active,
  count(*) FILTER (WHERE state = 'done') AS done,
  count(*) FILTER (WHERE state = 'dead') AS dead,
  count(*) FILTER (WHERE state = 'blocked') AS blocked,
  min(run_at) FILTER (WHERE state = 'ready' AND run_at <= $1) AS oldest
FROM ${s}.messages GROUP BY topic ORDER BY topic`,

    hold: `
INSERT INTO ${s}.holds AS h (topic, key, until, reason) VALUES ($1, $2, $3, $4)
ON CONFLICT (topic, key) DO UPDATE SET
  reason = CASE WHEN excluded.until >= h.until THEN excluded.reason ELSE h.reason END,
  until = GREATEST(h.until, excluded.until)`,

    releaseHold: `
WITH d AS (DELETE FROM ${s}.holds WHERE topic = $1 AND key = $2 RETURNING topic)
SELECT pg_notify('${channel}', topic) FROM d`,

    holds: `SELECT topic, key, until, reason FROM ${s}.holds WHERE until > $1 ORDER BY topic, key`,

    /** Switching a topic to `ordering: 'none'` releases its waiting messages. */
    registerTopic: `
WITH t AS (
  INSERT INTO ${s}.topics (topic, ordering, policy, updated_at) VALUES ($1, $2, $3::jsonb, $4)
  ON CONFLICT (topic) DO UPDATE SET ordering = excluded.ordering, policy = excluded.policy, updated_at = excluded.updated_at),
u AS (UPDATE ${s}.messages SET state = 'ready' WHERE topic = $1 AND state = 'waiting' AND $2 = 'none' RETURNING topic)
SELECT pg_notify('${channel}', $1) FROM (SELECT 1 FROM u LIMIT 1) x`,

    topics: `SELECT * FROM ${s}.topics ORDER BY topic`,

    heartbeat: `
INSERT INTO ${s}.workers (id, host, pid, topics, started_at, heartbeat_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6)
ON CONFLICT (id) DO UPDATE SET topics = excluded.topics, heartbeat_at = excluded.heartbeat_at`,

    workers: `SELECT * FROM ${s}.workers ORDER BY id`,

    removeWorker: `DELETE FROM ${s}.workers WHERE id = $1`,

    /** Expired leases and leases of dead workers go back to ready (the history records why); dead workers' rows go. */
    reclaim: `
WITH d AS (DELETE FROM ${s}.workers WHERE id = ANY ($2::text[])),
r AS (
  UPDATE ${s}.messages SET state = 'ready', lease_until = NULL, lease_owner = NULL,
    history = history || jsonb_build_array(jsonb_build_object('delivery', attempts, 'attempt', 1, 'at', $1::bigint,
      'durationMs', 0, 'workerId', lease_owner, 'outcome', 'lease-expired', 'error', NULL))
  WHERE state = 'active' AND (lease_until < $1 OR lease_owner = ANY ($2::text[]))
  RETURNING topic)
SELECT topic, count(*) AS n, pg_notify('${channel}', topic) FROM r GROUP BY topic`,

    repair: `SELECT t FROM ${s}.repair($1) AS t`,

    purgeDone: `
DELETE FROM ${s}.messages WHERE id IN (
  SELECT id FROM ${s}.messages WHERE state = 'done' AND finished_at < $1 LIMIT 5000)`,

    purgeInbox: `
DELETE FROM ${s}.inbox WHERE ctid IN (SELECT ctid FROM ${s}.inbox WHERE processed_at < $1 LIMIT 5000)`,

    once: `
INSERT INTO ${s}.inbox (consumer, message_id, processed_at) VALUES ($1, $2, $3)
ON CONFLICT (consumer, message_id) DO NOTHING`,
  }) as const;

export type QueueSql = ReturnType<typeof sql>;
