/** SQL of PostgreSQL sync links, conflicts and escalations for schema `s` (quoted). */

/** Updatable link columns with their parameter casts. */
export const LINK_COLUMNS = [
  ['state', 'text'],
  ['left_id', 'text'],
  ['right_id', 'text'],
  ['left_version', 'bigint'],
  ['right_version', 'bigint'],
  ['baseline', 'jsonb'],
  ['baseline_hash', 'text'],
  ['create_attempts', 'integer'],
  ['detail', 'jsonb'],
] as const;

export const sql = (s: string) =>
  ({
    createLink: `
INSERT INTO ${s}.sync_links (id, sync, left_id, right_id, state, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
ON CONFLICT DO NOTHING
RETURNING *`,
    getLinkLeft: `SELECT * FROM ${s}.sync_links WHERE sync = $1 AND left_id = $2`,
    getLinkRight: `SELECT * FROM ${s}.sync_links WHERE sync = $1 AND right_id = $2`,
    getLink: `SELECT * FROM ${s}.sync_links WHERE id = $1`,
    /** Compare and set on the revision ($1 id, $2 revision, $3 now); then per column a keep flag and a value. */
    updateLink: `
UPDATE ${s}.sync_links SET ${LINK_COLUMNS.map(([c, t], i) => `${c} = CASE WHEN $${4 + 2 * i}::boolean THEN ${c} ELSE $${5 + 2 * i}::${t} END`).join(', ')},
  revision = revision + 1, updated_at = $3
WHERE id = $1 AND revision = $2
RETURNING *`,
    listLinks: `
SELECT * FROM ${s}.sync_links WHERE sync = $1 AND ($2::text IS NULL OR state = $2) AND id COLLATE "C" > $3
ORDER BY id COLLATE "C" LIMIT $4`,
    addConflict: `
INSERT INTO ${s}.sync_conflicts (id, sync, link_id, left_id, right_id, field, vals, detected_at, resolution, policy, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11::jsonb)
ON CONFLICT (id) DO NOTHING`,
    listConflicts: `
SELECT * FROM ${s}.sync_conflicts WHERE sync = $1 AND ($2::text IS NULL OR link_id = $2) ORDER BY seq DESC LIMIT $3`,
    openEscalation: `
INSERT INTO ${s}.sync_escalations (id, sync, dedup_key, link_id, kind, left_id, right_id, field, vals, policy, created_at, state, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, 'open', $12::jsonb)
ON CONFLICT DO NOTHING
RETURNING *`,
    openByDedup: `SELECT * FROM ${s}.sync_escalations WHERE sync = $1 AND dedup_key = $2 AND state = 'open'`,
    getEscalation: `SELECT * FROM ${s}.sync_escalations WHERE id = $1`,
    listEscalations: `
SELECT * FROM ${s}.sync_escalations
WHERE sync = $1 AND ($2::text IS NULL OR state = $2) AND ($3::text IS NULL OR link_id = $3) AND seq > $4
ORDER BY seq LIMIT $5`,
    resolveEscalation: `
UPDATE ${s}.sync_escalations SET state = 'resolved', resolved_at = $2, resolution = $3::jsonb WHERE id = $1 AND state = 'open'`,
    escalationStats: `SELECT count(*) AS open, min(created_at) AS oldest FROM ${s}.sync_escalations WHERE sync = $1 AND state = 'open'`,
    busyKeys: `
SELECT DISTINCT key FROM ${s}.messages WHERE topic = $1 AND key = ANY ($2::text[]) AND state IN ('ready', 'waiting', 'active', 'blocked')`,
  }) as const;
