import { checkMigrations, type Migration } from '../migrations.js';

/**
 * The SQLite schema, one entry per version. Times are epoch-ms integers chosen by the caller's
 * clock; JSON is stored as text. Tables are prefixed `weir_` (SQLite has no schemas).
 */
export const migrations: readonly Migration[] = checkMigrations([
  {
    version: 1,
    name: 'queue, dead letters, inbox, schedules, idempotency, audit, kv',
    sql: `
-- seq is the rowid: enqueue order, and so per-key order. id is the caller's idempotent id.
CREATE TABLE weir_messages (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  topic TEXT NOT NULL,
  key TEXT,
  payload TEXT NOT NULL,
  headers TEXT NOT NULL DEFAULT '{}',
  state TEXT NOT NULL,
  run_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_token INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until INTEGER,
  finished_at INTEGER,
  history TEXT NOT NULL DEFAULT '[]',
  error TEXT,
  error_code TEXT,
  error_message TEXT,
  signature TEXT,
  replays INTEGER NOT NULL DEFAULT 0,
  previous TEXT NOT NULL DEFAULT '[]'
);
-- The claim scan: only ready rows, in due order. Keyed rows behind their head are 'waiting' and not in it.
CREATE INDEX weir_messages_ready ON weir_messages (topic, run_at, seq) WHERE state = 'ready';
-- Who occupies a key, and which waiting message is next: with state in the key, each check is a few seeks,
-- however many messages wait behind the head.
CREATE INDEX weir_messages_key ON weir_messages (topic, key, state, seq)
  WHERE key IS NOT NULL AND state IN ('ready', 'waiting', 'active', 'blocked');
CREATE INDEX weir_messages_active ON weir_messages (lease_owner, lease_until) WHERE state = 'active';
CREATE INDEX weir_messages_finished ON weir_messages (state, finished_at) WHERE state IN ('done', 'dead', 'blocked');
CREATE INDEX weir_messages_dead ON weir_messages (topic, signature) WHERE state IN ('dead', 'blocked');

CREATE TABLE weir_holds (
  topic TEXT NOT NULL,
  key TEXT NOT NULL DEFAULT '',
  until INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (topic, key)
) WITHOUT ROWID;

CREATE TABLE weir_topics (
  topic TEXT PRIMARY KEY,
  ordering TEXT NOT NULL,
  policy TEXT NOT NULL,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE weir_workers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  topics TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE weir_inbox (
  consumer TEXT NOT NULL,
  message_id TEXT NOT NULL,
  processed_at INTEGER NOT NULL,
  PRIMARY KEY (consumer, message_id)
) WITHOUT ROWID;
CREATE INDEX weir_inbox_processed ON weir_inbox (processed_at);

CREATE TABLE weir_schedules (
  name TEXT PRIMARY KEY,
  cron TEXT NOT NULL,
  timezone TEXT NOT NULL,
  topic TEXT NOT NULL,
  key TEXT,
  payload TEXT NOT NULL,
  headers TEXT NOT NULL,
  next_run_at INTEGER NOT NULL,
  last_run_at INTEGER
) WITHOUT ROWID;

CREATE TABLE weir_idempotency (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL,
  response TEXT,
  locked_until INTEGER,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX weir_idempotency_expires ON weir_idempotency (expires_at);

CREATE TABLE weir_audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  ts INTEGER NOT NULL,
  direction TEXT NOT NULL,
  system TEXT NOT NULL,
  request_id TEXT NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER,
  outcome TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  duration_ms REAL NOT NULL,
  correlation_id TEXT,
  idempotency_key TEXT,
  detail TEXT NOT NULL
);
CREATE INDEX weir_audit_ts ON weir_audit (ts);
CREATE INDEX weir_audit_system ON weir_audit (system, seq);
CREATE INDEX weir_audit_correlation ON weir_audit (correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX weir_audit_request ON weir_audit (request_id);

CREATE TABLE weir_kv (
  namespace TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  version INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  expires_at INTEGER,
  PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX weir_kv_expires ON weir_kv (expires_at) WHERE expires_at IS NOT NULL;
`,
  },
  {
    version: 2,
    name: 'sagas',
    sql: `
-- One row per saga run. version is the compare-and-set guard of every transition: each transition
-- bumps it, and every queue message of the run names the version it expects.
CREATE TABLE weir_saga_runs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  step_index INTEGER NOT NULL DEFAULT 0,
  step TEXT,
  input TEXT NOT NULL,
  error TEXT,
  compensation_error TEXT,
  deadline INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE INDEX weir_saga_runs_state ON weir_saga_runs (state, seq);
CREATE INDEX weir_saga_runs_name ON weir_saga_runs (name, state, seq);
CREATE INDEX weir_saga_runs_finished ON weir_saga_runs (finished_at) WHERE finished_at IS NOT NULL;

-- One row per (run, phase, step): the action, its compensation, or the event a waiting step received.
-- seq orders the history. A completed row never changes again.
CREATE TABLE weir_saga_steps (
  seq INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  phase TEXT NOT NULL,
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  output TEXT,
  error TEXT,
  started_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  UNIQUE (run_id, phase, idx)
);
`,
  },
  {
    version: 3,
    name: 'sync',
    sql: `
-- Identity links of weir/sync. revision is the compare-and-set guard of every update.
CREATE TABLE weir_sync_links (
  id TEXT PRIMARY KEY,
  sync TEXT NOT NULL,
  left_id TEXT,
  right_id TEXT,
  state TEXT NOT NULL,
  left_version INTEGER,
  right_version INTEGER,
  baseline TEXT,
  baseline_hash TEXT,
  create_attempts INTEGER NOT NULL DEFAULT 0,
  revision INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  detail TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX weir_sync_links_left ON weir_sync_links (sync, left_id) WHERE left_id IS NOT NULL;
CREATE UNIQUE INDEX weir_sync_links_right ON weir_sync_links (sync, right_id) WHERE right_id IS NOT NULL;
CREATE INDEX weir_sync_links_state ON weir_sync_links (sync, state, id);

CREATE TABLE weir_sync_conflicts (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sync TEXT NOT NULL,
  link_id TEXT NOT NULL,
  left_id TEXT,
  right_id TEXT,
  field TEXT NOT NULL,
  vals TEXT NOT NULL,
  detected_at INTEGER NOT NULL,
  resolution TEXT NOT NULL,
  policy TEXT NOT NULL,
  detail TEXT
);
CREATE INDEX weir_sync_conflicts_sync ON weir_sync_conflicts (sync, seq);
CREATE INDEX weir_sync_conflicts_link ON weir_sync_conflicts (link_id, seq);

-- At most one open escalation per (sync, dedup_key).
CREATE TABLE weir_sync_escalations (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  sync TEXT NOT NULL,
  dedup_key TEXT NOT NULL,
  link_id TEXT,
  kind TEXT NOT NULL,
  left_id TEXT,
  right_id TEXT,
  field TEXT,
  vals TEXT NOT NULL,
  policy TEXT,
  created_at INTEGER NOT NULL,
  state TEXT NOT NULL,
  resolved_at INTEGER,
  resolution TEXT,
  detail TEXT
);
CREATE UNIQUE INDEX weir_sync_escalations_open ON weir_sync_escalations (sync, dedup_key) WHERE state = 'open';
CREATE INDEX weir_sync_escalations_sync ON weir_sync_escalations (sync, state, seq);
CREATE INDEX weir_sync_escalations_link ON weir_sync_escalations (link_id, state) WHERE link_id IS NOT NULL;
`,
  },
]);
