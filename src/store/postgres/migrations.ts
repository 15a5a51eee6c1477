import { checkMigrations, type Migration } from '../migrations.js';

/**
 * The PostgreSQL schema, one entry per version, for schema `schema` (a validated identifier).
 *
 * Keyed order: a keyed message is `ready` only at the head of its key. Every statement that decides
 * a key's head (enqueue, promotion after done/dead, replay, discard, repair) first takes a
 * transaction-level advisory lock on (topic, key), then reads in a *new* statement, so under READ
 * COMMITTED it sees every transaction that held the lock before. The functions below exist so that
 * lock-then-read costs one round trip. Locks are taken in (topic, key) order to avoid deadlocks.
 */
export function migrations(schema: string): readonly Migration[] {
  const s = `"${schema}"`;
  const ns = `hashtext('weir.${schema}')`;
  const channel = `weir_${schema}`;
  const lock = (t: string, k: string): string => `pg_advisory_xact_lock(${ns}, hashtext(${t} || chr(31) || ${k}))`;
  const occupied = `state IN ('ready', 'waiting', 'active', 'blocked')`;
  // The fragments below are shared by several versions: a released version's SQL must not change
  // (a fresh install would differ from an upgraded one), so change behaviour in a new version only.
  /** The enqueue function (versions 1 and 6); `fresh` keeps the batch's rows whose id is new. */
  const enqueueFn = (create: string, fresh: string): string => `${create} ${s}.enqueue(p_batch jsonb, p_now bigint) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE r record; v_wake text[] := '{}';
BEGIN
  PERFORM ${lock('z.t', 'z.k')} FROM (
    SELECT DISTINCT m->>'topic' AS t, m->>'key' AS k FROM jsonb_array_elements(p_batch) AS e(m)
    WHERE m->>'key' IS NOT NULL ORDER BY 1, 2) z;
  FOR r IN
    WITH b AS (
      SELECT DISTINCT ON (m->>'id') m->>'id' AS id, m->>'topic' AS topic, m->>'key' AS key, m->'payload' AS payload,
        m->'headers' AS headers, (m->>'run_at')::bigint AS run_at, ord
      FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(m, ord)
      ORDER BY m->>'id', ord),
    fresh AS (
      SELECT b.*, row_number() OVER (PARTITION BY b.topic, b.key ORDER BY b.ord) AS nth FROM b
${fresh}
    INSERT INTO ${s}.messages (id, topic, key, payload, headers, state, run_at, created_at)
    SELECT f.id, f.topic, f.key, f.payload, f.headers,
      CASE
        WHEN f.key IS NULL THEN 'ready'
        WHEN EXISTS (SELECT 1 FROM ${s}.topics t WHERE t.topic = f.topic AND t.ordering = 'none') THEN 'ready'
        WHEN f.nth > 1 THEN 'waiting'
        WHEN EXISTS (SELECT 1 FROM ${s}.messages o WHERE o.topic = f.topic AND o.key = f.key AND o.${occupied}) THEN 'waiting'
        ELSE 'ready'
      END,
      f.run_at, p_now
    FROM fresh f ORDER BY f.ord
    ON CONFLICT (id) DO NOTHING
    RETURNING id, topic, state, run_at
  LOOP
    RETURN NEXT r.id;
    IF r.state = 'ready' AND r.run_at <= p_now AND NOT (r.topic = ANY (v_wake)) THEN v_wake := v_wake || r.topic; END IF;
  END LOOP;
  PERFORM pg_notify('${channel}', t) FROM unnest(v_wake) AS t;
END $fn$;`;
  /** settle() of versions 1 and 4, after its WHERE: report each settled row, collect the keys it freed, lock them in order. */
  const collectMoved = `    RETURNING b.n, x.topic, CASE WHEN b.kind = 'done' OR (b.kind = 'dead' AND NOT b.block) THEN x.key END AS moved
  LOOP
    ord := r.n; promoted := NULL; RETURN NEXT;
    IF r.moved IS NOT NULL THEN v_topics := v_topics || r.topic; v_keys := v_keys || r.moved; END IF;
  END LOOP;
  IF cardinality(v_keys) = 0 THEN RETURN; END IF;
  PERFORM ${lock('z.t', 'z.k')} FROM (SELECT DISTINCT u.t, u.k FROM unnest(v_topics, v_keys) AS u(t, k) ORDER BY 1, 2) z;`;
  /** Inside a promotion loop over rows r: one NOTIFY per topic whose promoted message is due. */
  const wakeOnce = `    IF r.run_at <= p_now AND NOT (r.topic = ANY (v_wake)) THEN
      v_wake := v_wake || r.topic;
      PERFORM pg_notify('${channel}', r.topic);
    END IF;`;
  /** settle() of versions 1 and 4, the end of its promotion: one row per promoted topic, a NOTIFY per due one. */
  const promotedRows = `    RETURNING m.topic, m.run_at
  LOOP
    IF NOT (r.topic = ANY (v_promoted)) THEN
      v_promoted := v_promoted || r.topic; ord := NULL; promoted := r.topic; RETURN NEXT;
    END IF;
${wakeOnce}
  END LOOP;
END $fn$;`;
  /** settle()'s first statement without its WHERE (versions 1, 4, 5): the batch's settlements applied to their rows. */
  const settleBatch = `    WITH b AS (SELECT e.m, e.ord AS n, e.m->>'kind' AS kind, COALESCE((e.m->>'block_key')::boolean, false) AS block
      FROM jsonb_array_elements(p_batch) WITH ORDINALITY AS e(m, ord))
    UPDATE ${s}.messages x SET
      state = CASE b.kind WHEN 'done' THEN 'done' WHEN 'retry' THEN 'ready' ELSE CASE WHEN b.block THEN 'blocked' ELSE 'dead' END END,
      finished_at = CASE WHEN b.kind = 'retry' THEN x.finished_at ELSE p_now END,
      run_at = CASE WHEN b.kind = 'retry' THEN (b.m->>'run_at')::bigint ELSE x.run_at END,
      attempts = x.attempts - COALESCE((b.m->>'refund')::int, 0),
      lease_owner = NULL, lease_until = NULL,
      history = CASE WHEN b.kind = 'done' THEN x.history ELSE b.m->'history' END,
      error = CASE WHEN b.kind = 'done' THEN x.error ELSE NULLIF(b.m->'error', 'null'::jsonb) END,
      error_code = CASE WHEN b.kind = 'done' THEN x.error_code ELSE b.m->>'code' END,
      error_message = CASE WHEN b.kind = 'done' THEN x.error_message ELSE b.m->>'message' END,
      signature = CASE WHEN b.kind = 'dead' THEN b.m->>'signature' ELSE x.signature END
    FROM b`;
  /** settle() of version 5 and settle_claimed() of versions 7 and 8, from DECLARE to the lock of the keys it freed. */
  const settleAndLock = `DECLARE r record; v_ids text[]; v_topics text[] := '{}'; v_keys text[] := '{}'; v_next boolean[] := '{}';
  v_promoted text[] := '{}'; v_wake text[] := '{}';
BEGIN
  SELECT array_agg(e->>'id') INTO v_ids FROM jsonb_array_elements(p_batch) AS e;
  FOR r IN
${settleBatch}
    WHERE x.id = ANY (v_ids) AND x.id = b.m->>'id' AND x.lease_token = (b.m->>'token')::bigint
      AND x.state >= 'active' AND x.state <= 'active'
    RETURNING b.n, x.topic, CASE WHEN b.kind = 'done' OR (b.kind = 'dead' AND NOT b.block) THEN x.key END AS moved,
      p_worker IS NOT NULL AND COALESCE((b.m->>'next')::boolean, false) AS handoff
  LOOP
    ord := r.n; promoted := NULL; claimed := NULL; RETURN NEXT;
    IF r.moved IS NOT NULL THEN
      v_topics := v_topics || r.topic; v_keys := v_keys || r.moved; v_next := v_next || r.handoff;
    END IF;
  END LOOP;
  IF cardinality(v_keys) = 0 THEN RETURN; END IF;
  PERFORM ${lock('z.t', 'z.k')} FROM (SELECT DISTINCT u.t, u.k FROM unnest(v_topics, v_keys) AS u(t, k) ORDER BY 1, 2) z;
`;
  /** Whether a freed key's head h goes to the worker that freed it (versions 5, 7, 8). */
  const give = `u.n AND h.run_at <= p_now AND NOT EXISTS (SELECT 1 FROM ${s}.holds o
        WHERE o.topic = u.t AND o.key IN ('', u.k) AND o.until > p_now)`;
  /** The freed keys whose first occupied entry (h) is waiting, so is their head; `select` is the SELECT list. */
  const waitingHeads = (select: string): string => `      SELECT ${select}
      FROM (SELECT u.t, u.k, bool_or(u.n) AS n FROM unnest(v_topics, v_keys, v_next) AS u(t, k, n) GROUP BY u.t, u.k) u
      CROSS JOIN LATERAL (SELECT w.id, w.state, w.run_at FROM ${s}.messages w
        WHERE w.topic = u.t AND w.key = u.k AND w.key IS NOT NULL AND w.${occupied}
        ORDER BY w.state, w.seq LIMIT 1) h
      WHERE h.state = 'waiting'`;
  /** The promotion's UPDATE up to its FROM: a head given away is leased (as a claim would), the others become ready. */
  const promoteHeads = `    UPDATE ${s}.messages m SET
      state = CASE WHEN g.give THEN 'active' ELSE 'ready' END,
      attempts = m.attempts + CASE WHEN g.give THEN 1 ELSE 0 END,
      lease_token = m.lease_token + CASE WHEN g.give THEN 1 ELSE 0 END,
      lease_owner = CASE WHEN g.give THEN p_worker END,
      lease_until = CASE WHEN g.give THEN p_lease_until END
`;
  /**
   * settle() of version 5 and settle_claimed() of version 7, from DECLARE to the promotion's WHERE:
   * settle, collect the freed keys (and whether each may be handed off), lock them, promote.
   */
  const handoffBody = `${settleAndLock}  FOR r IN
    -- The key's first occupied entry decides and finds, as in version 4.
${promoteHeads}    FROM (
      -- OFFSET 0 keeps this subquery whole, so "give" is computed once per key, not once per use.
${waitingHeads(`h.id, ${give} AS give`)}
      OFFSET 0) g
    WHERE m.id = g.id AND m.state = 'waiting'
`;
  /** The promotion loop of versions 5, 7 and 8: `onGiven` handles a handed-off row, the rest are promoted. */
  const promoteLoop = (onGiven: string): string => `  LOOP
    IF r.give THEN
${onGiven}
      CONTINUE;
    END IF;
    IF NOT (r.topic = ANY (v_promoted)) THEN
      v_promoted := v_promoted || r.topic; ord := NULL; promoted := r.topic; claimed := NULL; RETURN NEXT;
    END IF;
${wakeOnce}
  END LOOP;`;
  /** The name, arguments and answer of settle_claimed() (versions 7 and 8). */
  const claimedHead = (create: string): string => `${create} ${s}.settle_claimed(p_batch jsonb, p_now bigint, p_worker text, p_lease_until bigint)
RETURNS TABLE (ord bigint, promoted text, claimed text, c_seq bigint, c_topic text, c_key text, c_payload jsonb,
  c_headers jsonb, c_state text, c_run_at bigint, c_created_at bigint, c_attempts integer, c_history jsonb,
  c_error jsonb, c_finished_at bigint, c_replays integer, c_lease_token bigint, c_lease_until bigint)
LANGUAGE plpgsql SET enable_seqscan = off AS $fn$`;
  /** settle_claimed()'s end (versions 7 and 8): the promotion loop, then the handed-off rows read again by primary key. */
  const claimedTail = `${promoteLoop('      v_given := v_given || r.id;')}
  RETURN QUERY SELECT NULL::bigint, NULL::text, m.id, m.seq, m.topic, m.key, m.payload, m.headers, m.state, m.run_at,
    m.created_at, m.attempts, m.history, m.error, m.finished_at, m.replays, m.lease_token, m.lease_until
  FROM ${s}.messages m WHERE m.id = ANY (v_given);
END;
END $fn$;`;
  return checkMigrations([
    {
      version: 1,
      name: 'queue, dead letters, inbox, schedules, idempotency, audit, kv',
      sql: `
CREATE TABLE ${s}.messages (
  id text PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  topic text NOT NULL,
  key text,
  payload jsonb NOT NULL,
  headers jsonb NOT NULL DEFAULT '{}',
  state text NOT NULL,
  run_at bigint NOT NULL,
  created_at bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  lease_token bigint NOT NULL DEFAULT 0,
  lease_owner text,
  lease_until bigint,
  finished_at bigint,
  history jsonb NOT NULL DEFAULT '[]',
  error jsonb,
  error_code text,
  error_message text,
  signature text,
  replays integer NOT NULL DEFAULT 0,
  previous jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX messages_ready ON ${s}.messages (topic, run_at, seq) WHERE state = 'ready';
CREATE INDEX messages_key ON ${s}.messages (topic, key, state, seq) WHERE key IS NOT NULL AND ${occupied};
CREATE INDEX messages_active ON ${s}.messages (lease_owner, lease_until) WHERE state = 'active';
CREATE INDEX messages_finished ON ${s}.messages (state, finished_at) WHERE state IN ('done', 'dead', 'blocked');
CREATE INDEX messages_dead ON ${s}.messages (topic, signature) WHERE state IN ('dead', 'blocked');

CREATE TABLE ${s}.holds (topic text NOT NULL, key text NOT NULL DEFAULT '', until bigint NOT NULL, reason text NOT NULL,
  PRIMARY KEY (topic, key));
CREATE TABLE ${s}.topics (topic text PRIMARY KEY, ordering text NOT NULL, policy jsonb NOT NULL, updated_at bigint NOT NULL);
CREATE TABLE ${s}.workers (id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, topics jsonb NOT NULL,
  started_at bigint NOT NULL, heartbeat_at bigint NOT NULL);
CREATE TABLE ${s}.inbox (consumer text NOT NULL, message_id text NOT NULL, processed_at bigint NOT NULL,
  PRIMARY KEY (consumer, message_id));
CREATE INDEX inbox_processed ON ${s}.inbox (processed_at);
CREATE TABLE ${s}.schedules (name text PRIMARY KEY, cron text NOT NULL, timezone text NOT NULL, topic text NOT NULL,
  key text, payload jsonb NOT NULL, headers jsonb NOT NULL, next_run_at bigint NOT NULL, last_run_at bigint);
CREATE TABLE ${s}.idempotency (scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, state text NOT NULL,
  response jsonb, locked_until bigint, created_at bigint NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (scope, key));
CREATE INDEX idempotency_expires ON ${s}.idempotency (expires_at);
CREATE TABLE ${s}.audit (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  ts bigint NOT NULL, direction text NOT NULL, system text NOT NULL, request_id text NOT NULL, method text NOT NULL,
  path text NOT NULL, status integer, outcome text NOT NULL, attempt integer NOT NULL, duration_ms double precision NOT NULL,
  correlation_id text, idempotency_key text, detail jsonb NOT NULL);
CREATE INDEX audit_ts ON ${s}.audit (ts);
CREATE INDEX audit_system ON ${s}.audit (system, seq);
CREATE INDEX audit_correlation ON ${s}.audit (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX audit_request ON ${s}.audit (request_id);
CREATE TABLE ${s}.kv (namespace text NOT NULL, key text NOT NULL, value jsonb NOT NULL, version bigint NOT NULL,
  updated_at bigint NOT NULL, expires_at bigint, PRIMARY KEY (namespace, key));
CREATE INDEX kv_expires ON ${s}.kv (expires_at) WHERE expires_at IS NOT NULL;

-- Makes the oldest waiting message of a key ready if nothing occupies the key. The caller holds the key's lock.
CREATE FUNCTION ${s}.promote(p_topic text, p_key text, p_now bigint) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE v_run_at bigint;
BEGIN
  UPDATE ${s}.messages SET state = 'ready'
  WHERE id = (SELECT id FROM ${s}.messages WHERE topic = p_topic AND key = p_key AND state = 'waiting' ORDER BY seq LIMIT 1)
    AND NOT EXISTS (SELECT 1 FROM ${s}.messages
      WHERE topic = p_topic AND key = p_key AND state IN ('ready', 'active', 'blocked'))
  RETURNING run_at INTO v_run_at;
  IF NOT FOUND THEN RETURN false; END IF;
  IF v_run_at <= p_now THEN PERFORM pg_notify('${channel}', p_topic); END IF;
  RETURN true;
END $fn$;

-- p_batch: [{id, topic, key, payload, headers, run_at}]. Returns the ids inserted (existing ids are skipped).
-- Set-based: lock the batch's keys (in order), then one INSERT decides each row's state. Within the
-- batch only the first new message of a key can be its head.
${enqueueFn('CREATE FUNCTION', `      WHERE NOT EXISTS (SELECT 1 FROM ${s}.messages x WHERE x.id = b.id))`)}

-- p_batch: [{kind, id, token, run_at, refund, history, error, code, message, signature, block_key}].
-- Returns one row per settlement that held its lease (ord, NULL) and one per topic with a promotion (NULL, topic).
-- Set-based: one UPDATE applies every settlement whose token still matches; then the keys that moved
-- on are locked in order and their next waiting messages promoted in one statement.
CREATE FUNCTION ${s}.settle(p_batch jsonb, p_now bigint) RETURNS TABLE (ord bigint, promoted text) LANGUAGE plpgsql AS $fn$
DECLARE r record; v_topics text[] := '{}'; v_keys text[] := '{}'; v_promoted text[] := '{}'; v_wake text[] := '{}';
BEGIN
  FOR r IN
${settleBatch}
    WHERE x.id = b.m->>'id' AND x.lease_token = (b.m->>'token')::bigint AND x.state = 'active'
${collectMoved}
  FOR r IN
    UPDATE ${s}.messages m SET state = 'ready'
    FROM (
      -- LATERAL … LIMIT 1: one index seek per key, never a scan of everything waiting.
      SELECT n.id FROM (SELECT DISTINCT u.t, u.k FROM unnest(v_topics, v_keys) AS u(t, k)) u
      CROSS JOIN LATERAL (SELECT w.id FROM ${s}.messages w
        WHERE w.topic = u.t AND w.key = u.k AND w.state = 'waiting' ORDER BY w.seq LIMIT 1) n) h
    WHERE m.id = h.id AND NOT EXISTS (SELECT 1 FROM ${s}.messages o
      WHERE o.topic = m.topic AND o.key = m.key AND o.state IN ('ready', 'active', 'blocked'))
${promotedRows}

-- Keys left with waiting messages and nothing ahead of them get their oldest promoted.
CREATE FUNCTION ${s}.repair(p_now bigint) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE r record;
BEGIN
  RETURN QUERY UPDATE ${s}.messages m SET state = 'ready' FROM ${s}.topics t
    WHERE m.state = 'waiting' AND t.topic = m.topic AND t.ordering = 'none' RETURNING m.topic;
  FOR r IN SELECT DISTINCT w.topic AS t, w.key AS k FROM ${s}.messages w
    WHERE w.state = 'waiting' AND w.key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${s}.messages o
      WHERE o.topic = w.topic AND o.key = w.key AND o.state IN ('ready', 'active', 'blocked'))
    ORDER BY 1, 2
  LOOP
    PERFORM ${lock('r.t', 'r.k')};
    IF ${s}.promote(r.t, r.k, p_now) THEN RETURN NEXT r.t; END IF;
  END LOOP;
END $fn$;

-- Back to the queue under the same id; see the SQLite REPLAY statement for the rules.
CREATE FUNCTION ${s}.replay(p_ids text[], p_now bigint, p_spacing bigint) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE r record; v_state text; v_i bigint := 0; v_wake text[] := '{}';
BEGIN
  PERFORM ${lock('z.topic', 'z.key')} FROM (SELECT DISTINCT topic, key FROM ${s}.messages
    WHERE id = ANY (p_ids) AND state IN ('dead', 'blocked') AND key IS NOT NULL ORDER BY 1, 2) z;
  FOR r IN SELECT m.id, m.topic, m.key, m.state FROM unnest(p_ids) WITH ORDINALITY AS u(id, n)
    JOIN ${s}.messages m ON m.id = u.id WHERE m.state IN ('dead', 'blocked') ORDER BY u.n
  LOOP
    IF r.state = 'blocked' OR r.key IS NULL
      OR EXISTS (SELECT 1 FROM ${s}.topics WHERE topic = r.topic AND ordering = 'none') THEN v_state := 'ready';
    ELSIF EXISTS (SELECT 1 FROM ${s}.messages WHERE topic = r.topic AND key = r.key AND ${occupied}) THEN v_state := 'waiting';
    ELSE v_state := 'ready';
    END IF;
    UPDATE ${s}.messages SET state = v_state,
      previous = previous || jsonb_build_array(jsonb_build_object('deadAt', finished_at, 'error', error, 'history', history)),
      history = '[]', attempts = 0, run_at = p_now + v_i * p_spacing, finished_at = NULL, replays = replays + 1,
      lease_owner = NULL, lease_until = NULL
    WHERE id = r.id;
    v_i := v_i + 1;
    RETURN NEXT r.id;
    IF NOT (r.topic = ANY (v_wake)) THEN v_wake := v_wake || r.topic; END IF;
  END LOOP;
  PERFORM pg_notify('${channel}', t) FROM unnest(v_wake) AS t;
END $fn$;

CREATE FUNCTION ${s}.discard(p_ids text[], p_now bigint) RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE r record;
BEGIN
  PERFORM ${lock('z.topic', 'z.key')} FROM (SELECT DISTINCT topic, key FROM ${s}.messages
    WHERE id = ANY (p_ids) AND state = 'blocked' AND key IS NOT NULL ORDER BY 1, 2) z;
  FOR r IN DELETE FROM ${s}.messages WHERE id = ANY (p_ids) AND state IN ('dead', 'blocked') RETURNING id, topic, key, state LOOP
    RETURN NEXT r.id;
    IF r.state = 'blocked' AND r.key IS NOT NULL THEN PERFORM ${s}.promote(r.topic, r.key, p_now); END IF;
  END LOOP;
END $fn$;
`,
    },
    {
      version: 2,
      name: 'sagas',
      sql: `
-- version is the compare-and-set guard of every transition; every queue message of a run names the version it expects.
CREATE TABLE ${s}.saga_runs (
  id text PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  name text NOT NULL,
  state text NOT NULL,
  version integer NOT NULL DEFAULT 1,
  step_index integer NOT NULL DEFAULT 0,
  step text,
  input jsonb NOT NULL,
  error jsonb,
  compensation_error jsonb,
  deadline bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  finished_at bigint
);
CREATE INDEX saga_runs_state ON ${s}.saga_runs (state, seq);
CREATE INDEX saga_runs_name ON ${s}.saga_runs (name, state, seq);
CREATE INDEX saga_runs_finished ON ${s}.saga_runs (finished_at) WHERE finished_at IS NOT NULL;
-- One row per (run, phase, step); seq orders the history; a completed row never changes again.
CREATE TABLE ${s}.saga_steps (
  run_id text NOT NULL,
  phase text NOT NULL,
  idx integer NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,
  status text NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  output jsonb,
  error jsonb,
  started_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  finished_at bigint,
  PRIMARY KEY (run_id, phase, idx)
);
`,
    },
    {
      version: 3,
      name: 'sync',
      sql: `
-- Identity links of weir/sync. revision is the compare-and-set guard of every update.
CREATE TABLE ${s}.sync_links (
  id text PRIMARY KEY,
  sync text NOT NULL,
  left_id text,
  right_id text,
  state text NOT NULL,
  left_version bigint,
  right_version bigint,
  baseline jsonb,
  baseline_hash text,
  create_attempts integer NOT NULL DEFAULT 0,
  revision integer NOT NULL DEFAULT 1,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  detail jsonb
);
CREATE UNIQUE INDEX sync_links_left ON ${s}.sync_links (sync, left_id) WHERE left_id IS NOT NULL;
CREATE UNIQUE INDEX sync_links_right ON ${s}.sync_links (sync, right_id) WHERE right_id IS NOT NULL;
CREATE INDEX sync_links_state ON ${s}.sync_links (sync, state, id);
CREATE TABLE ${s}.sync_conflicts (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  sync text NOT NULL,
  link_id text NOT NULL,
  left_id text,
  right_id text,
  field text NOT NULL,
  vals jsonb NOT NULL,
  detected_at bigint NOT NULL,
  resolution text NOT NULL,
  policy text NOT NULL,
  detail jsonb
);
CREATE INDEX sync_conflicts_sync ON ${s}.sync_conflicts (sync, seq);
CREATE INDEX sync_conflicts_link ON ${s}.sync_conflicts (link_id, seq);
-- At most one open escalation per (sync, dedup_key).
CREATE TABLE ${s}.sync_escalations (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  sync text NOT NULL,
  dedup_key text NOT NULL,
  link_id text,
  kind text NOT NULL,
  left_id text,
  right_id text,
  field text,
  vals jsonb NOT NULL,
  policy text,
  created_at bigint NOT NULL,
  state text NOT NULL,
  resolved_at bigint,
  resolution jsonb,
  detail jsonb
);
CREATE UNIQUE INDEX sync_escalations_open ON ${s}.sync_escalations (sync, dedup_key) WHERE state = 'open';
CREATE INDEX sync_escalations_sync ON ${s}.sync_escalations (sync, state, seq);
CREATE INDEX sync_escalations_link ON ${s}.sync_escalations (link_id, state) WHERE link_id IS NOT NULL;
`,
    },
    {
      version: 4,
      name: 'queue settle finds its rows by id and a key head in one seek',
      sql: `
-- settle() of version 1 found its rows through the partial index messages_active, whose dead entries
-- pile up during a drain, and tested "is the key free" with three more scans besides the seek for the
-- next waiting message (on stale statistics, one of them walked every waiting message of the key, or
-- every ready message of the topic). Same contract, same results.
CREATE OR REPLACE FUNCTION ${s}.settle(p_batch jsonb, p_now bigint) RETURNS TABLE (ord bigint, promoted text) LANGUAGE plpgsql AS $fn$
DECLARE r record; v_ids text[]; v_topics text[] := '{}'; v_keys text[] := '{}'; v_promoted text[] := '{}'; v_wake text[] := '{}';
BEGIN
  SELECT array_agg(e->>'id') INTO v_ids FROM jsonb_array_elements(p_batch) AS e;
  FOR r IN
${settleBatch}
    -- Rows are found by id (x.id = ANY: primary-key seeks whatever the statistics say). The state test
    -- is a range on purpose: written as = 'active' it lets the planner scan the partial index
    -- messages_active instead, whose dead entries pile up in a busy queue.
    WHERE x.id = ANY (v_ids) AND x.id = b.m->>'id' AND x.lease_token = (b.m->>'token')::bigint
      AND x.state >= 'active' AND x.state <= 'active'
${collectMoved}
  FOR r IN
    -- The key's first occupied entry in messages_key order (topic, key, state, seq): states sort
    -- active < blocked < ready < waiting, so it is 'waiting' exactly when nothing heads the key, and
    -- then it is the key's oldest waiting message. One index seek per key decides and finds.
    UPDATE ${s}.messages m SET state = 'ready'
    FROM (SELECT DISTINCT u.t, u.k FROM unnest(v_topics, v_keys) AS u(t, k)) u
    CROSS JOIN LATERAL (SELECT w.id, w.state FROM ${s}.messages w
      WHERE w.topic = u.t AND w.key = u.k AND w.key IS NOT NULL AND w.${occupied}
      ORDER BY w.state, w.seq LIMIT 1) h
    WHERE h.state = 'waiting' AND m.id = h.id AND m.state = 'waiting'
${promotedRows}
`,
    },
    {
      version: 5,
      name: 'queue settle hands a freed key to the worker that freed it',
      sql: `
-- Key hand-off (see Handoff in store/queue.ts): settle() of version 4 plus p_worker/p_lease_until. A
-- done or dead (not blocking) settlement marked "next" that frees its key leases the key's next
-- message to p_worker in the promotion's own UPDATE (waiting -> active, counted as a delivery, as a
-- claim does) when it is due and neither its topic nor its key is held; otherwise it becomes ready
-- as before. Handed-off rows come back in "claimed" (one jsonb row each, the message's columns).
CREATE FUNCTION ${s}.settle(p_batch jsonb, p_now bigint, p_worker text, p_lease_until bigint)
RETURNS TABLE (ord bigint, promoted text, claimed jsonb) LANGUAGE plpgsql AS $fn$
${handoffBody}    RETURNING m.*, g.give
${promoteLoop('      ord := NULL; promoted := NULL; claimed := to_jsonb(r); RETURN NEXT;')}
END $fn$;
`,
    },
    {
      version: 6,
      name: 'enqueue and settle find their rows by primary key whatever a cached plan saw',
      sql: `
-- Version 1 wrote "is this id new" as NOT EXISTS, which the planner may turn into a hash anti join
-- over a sequential scan of messages. PL/pgSQL caches that plan per connection: planned while the
-- table was small, every later enqueue on that connection read the whole table (10 ms per single
-- enqueue at 40,000 rows) until an ANALYZE invalidated it. A scalar subquery is a per-row primary-key
-- probe in every plan. Same contract, same results.
${enqueueFn('CREATE OR REPLACE FUNCTION', `      WHERE (SELECT x.id FROM ${s}.messages x WHERE x.id = b.id) IS NULL)`)}
-- settle() joins its batch to messages by id, and a plan cached on a small table joins through a
-- sequential scan (15 ms for 50 settlements at 30,000 rows). Every row it touches is reached through
-- an index, so it runs with sequential scans priced out: its cached plans probe the indexes whatever
-- the table's size was when they were made (replanning at every call instead cost 5-10% of a drain).
ALTER FUNCTION ${s}.settle(jsonb, bigint) SET enable_seqscan = off;
ALTER FUNCTION ${s}.settle(jsonb, bigint, text, bigint) SET enable_seqscan = off;
`,
    },
    {
      version: 7,
      name: 'settle returns handed-off messages as columns',
      sql: `
-- settle_claimed(): settle() of version 5, but a handed-off message comes back as columns (its id in
-- "claimed", the rest in c_*) instead of one to_jsonb() row each, which cost ~9 us per row, ~10% of
-- a keyed settle. The promotion's loop reads only what it needs; the handed-off rows are read
-- again by primary key at the end. The version 5 function stays for processes not yet upgraded.
${claimedHead('CREATE FUNCTION')}
DECLARE v_given text[] := '{}';
BEGIN
${handoffBody}    RETURNING m.id, m.topic, m.run_at, g.give
${claimedTail}
`,
    },
    {
      version: 8,
      name: 'settle finds the heads of freed keys before it promotes them',
      sql: `
-- settle_claimed() of version 7 found each freed key's head in a subquery of the UPDATE that
-- promotes it. An index scan marks the dead entries it passed (LP_DEAD, skipped by later scans) only
-- if their page did not change meanwhile, and the UPDATE inserts the promoted message's new entry
-- into that very page of messages_key: the entries a key's earlier messages left (two per message:
-- waiting, active) stayed unmarked, and every later seek of the key fetched their rows again (over a
-- keyed drain, ~17 entries per scan reached the executor; 6-8 with this version). The heads are now
-- found by a statement of their own, which ends (and marks) before the UPDATE, which then reaches
-- each head by primary key. Same contract, same results.
${claimedHead('CREATE OR REPLACE FUNCTION')}
DECLARE v_given text[] := '{}'; v_head text[]; v_give boolean[];
BEGIN
${settleAndLock}  -- The heads, by a statement of their own (see above); arrays aggregated together keep one order.
${waitingHeads(`array_agg(h.id), array_agg(${give})`)}
  INTO v_head, v_give;
  IF v_head IS NULL THEN RETURN; END IF;
  FOR r IN
${promoteHeads}    FROM unnest(v_head, v_give) AS g(id, give)
    WHERE m.id = g.id AND m.state = 'waiting'
    RETURNING m.id, m.topic, m.run_at, g.give
${claimedTail}
`,
    },
  ]);
}
