/** SQL of PostgreSQL key-value records for schema `s` (quoted). An expired row counts as absent everywhere. */
export const sql = (s: string) =>
  ({
    get: `SELECT * FROM ${s}.kv WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`,
    /** Unconditional write: the version grows from the live row, or starts at 1. */
    set: `
INSERT INTO ${s}.kv AS kv (namespace, key, value, version, updated_at, expires_at) VALUES ($1, $2, $3::jsonb, 1, $4, $5)
ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,
  version = CASE WHEN kv.expires_at IS NULL OR kv.expires_at > $4 THEN kv.version + 1 ELSE 1 END,
  updated_at = excluded.updated_at, expires_at = excluded.expires_at
RETURNING *`,
    /** Create only if absent (or expired). */
    create: `
INSERT INTO ${s}.kv AS kv (namespace, key, value, version, updated_at, expires_at) VALUES ($1, $2, $3::jsonb, 1, $4, $5)
ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, version = 1,
  updated_at = excluded.updated_at, expires_at = excluded.expires_at
WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= $4
RETURNING *`,
    /** Compare-and-set on the version of a live row. */
    replace: `
UPDATE ${s}.kv SET value = $3::jsonb, version = version + 1, updated_at = $4, expires_at = $5
WHERE namespace = $1 AND key = $2 AND version = $6 AND (expires_at IS NULL OR expires_at > $4)
RETURNING *`,
    delete: `DELETE FROM ${s}.kv WHERE namespace = $1 AND key = $2`,
    deleteIf: `DELETE FROM ${s}.kv WHERE namespace = $1 AND key = $2 AND version = $3`,
    list: `
SELECT * FROM ${s}.kv
WHERE namespace = $1 AND key COLLATE "C" > $2 AND left(key, length($3)) = $3 AND (expires_at IS NULL OR expires_at > $4)
ORDER BY key COLLATE "C" LIMIT $5`,
    purge: `DELETE FROM ${s}.kv WHERE expires_at IS NOT NULL AND expires_at <= $1`,
  }) as const;
