/** SQL of SQLite sync links, conflicts and escalations. */

export const LINK_COLUMNS = ['state', 'left_id', 'right_id', 'left_version', 'right_version', 'baseline', 'baseline_hash', 'create_attempts', 'detail'] as const;

export const CREATE_LINK = `
INSERT INTO weir_sync_links (id, sync, left_id, right_id, state, created_at, updated_at)
VALUES (@id, @sync, @leftId, @rightId, @state, @now, @now)
ON CONFLICT DO NOTHING
RETURNING *`;

export const GET_LINK_LEFT = `SELECT * FROM weir_sync_links WHERE sync = ? AND left_id = ?`;
export const GET_LINK_RIGHT = `SELECT * FROM weir_sync_links WHERE sync = ? AND right_id = ?`;
export const GET_LINK = `SELECT * FROM weir_sync_links WHERE id = ?`;

/** Compare and set on the revision; `@k_<column>` = 1 keeps the column. */
export const UPDATE_LINK = `
UPDATE weir_sync_links SET ${LINK_COLUMNS.map((c) => `${c} = CASE WHEN @k_${c} THEN ${c} ELSE @${c} END`).join(', ')},
  revision = revision + 1, updated_at = @now
WHERE id = @id AND revision = @revision
RETURNING *`;

export const LIST_LINKS = `
SELECT * FROM weir_sync_links WHERE sync = @sync AND (@state IS NULL OR state = @state) AND id > @afterId
ORDER BY id LIMIT @limit`;

export const ADD_CONFLICT = `
INSERT INTO weir_sync_conflicts (id, sync, link_id, left_id, right_id, field, vals, detected_at, resolution, policy, detail)
VALUES (@id, @sync, @linkId, @leftId, @rightId, @field, @vals, @detectedAt, @resolution, @policy, @detail)
ON CONFLICT (id) DO NOTHING`;

export const LIST_CONFLICTS = `
SELECT * FROM weir_sync_conflicts WHERE sync = @sync AND (@linkId IS NULL OR link_id = @linkId)
ORDER BY seq DESC LIMIT @limit`;

export const OPEN_ESCALATION = `
INSERT INTO weir_sync_escalations (id, sync, dedup_key, link_id, kind, left_id, right_id, field, vals, policy, created_at, state, detail)
VALUES (@id, @sync, @dedupKey, @linkId, @kind, @leftId, @rightId, @field, @vals, @policy, @createdAt, 'open', @detail)
ON CONFLICT DO NOTHING
RETURNING *`;

export const OPEN_BY_DEDUP = `SELECT * FROM weir_sync_escalations WHERE sync = ? AND dedup_key = ? AND state = 'open'`;
export const GET_ESCALATION = `SELECT * FROM weir_sync_escalations WHERE id = ?`;

export const LIST_ESCALATIONS = `
SELECT * FROM weir_sync_escalations
WHERE sync = @sync AND (@state IS NULL OR state = @state) AND (@linkId IS NULL OR link_id = @linkId) AND seq > @afterSeq
ORDER BY seq LIMIT @limit`;

export const RESOLVE_ESCALATION = `
UPDATE weir_sync_escalations SET state = 'resolved', resolved_at = @now, resolution = @resolution
WHERE id = @id AND state = 'open'`;

export const ESCALATION_STATS = `
SELECT count(*) AS open, min(created_at) AS oldest FROM weir_sync_escalations WHERE sync = ? AND state = 'open'`;

export const BUSY_KEYS = `
SELECT DISTINCT key FROM weir_messages
WHERE topic = ? AND key IN (SELECT value FROM json_each(?)) AND state IN ('ready', 'waiting', 'active', 'blocked')`;
