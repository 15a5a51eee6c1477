/** SQL of SQLite key-value records. An expired row counts as absent everywhere. */
const LIVE = `(expires_at IS NULL OR expires_at > @now)`;

export const GET = `SELECT * FROM weir_kv WHERE namespace = @namespace AND key = @key AND ${LIVE}`;

/** Unconditional write: the version grows from the live row, or starts at 1. */
export const SET = `
INSERT INTO weir_kv (namespace, key, value, version, updated_at, expires_at)
VALUES (@namespace, @key, @value, 1, @now, @expiresAt)
ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,
  version = CASE WHEN weir_kv.expires_at IS NULL OR weir_kv.expires_at > @now THEN weir_kv.version + 1 ELSE 1 END,
  updated_at = excluded.updated_at, expires_at = excluded.expires_at
RETURNING *`;

/** Create only if absent (or expired). */
export const CREATE = `
INSERT INTO weir_kv (namespace, key, value, version, updated_at, expires_at)
VALUES (@namespace, @key, @value, 1, @now, @expiresAt)
ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, version = 1,
  updated_at = excluded.updated_at, expires_at = excluded.expires_at
WHERE weir_kv.expires_at IS NOT NULL AND weir_kv.expires_at <= @now
RETURNING *`;

/** Compare-and-set on the version of a live row. */
export const REPLACE = `
UPDATE weir_kv SET value = @value, version = version + 1, updated_at = @now, expires_at = @expiresAt
WHERE namespace = @namespace AND key = @key AND version = @ifVersion AND ${LIVE}
RETURNING *`;

export const DELETE = `DELETE FROM weir_kv WHERE namespace = @namespace AND key = @key`;

export const DELETE_IF = `DELETE FROM weir_kv WHERE namespace = @namespace AND key = @key AND version = @ifVersion`;

export const LIST = `
SELECT * FROM weir_kv
WHERE namespace = @namespace AND key > @afterKey AND substr(key, 1, length(@prefix)) = @prefix AND ${LIVE}
ORDER BY key LIMIT @limit`;

export const PURGE = `DELETE FROM weir_kv WHERE expires_at IS NOT NULL AND expires_at <= ?`;
