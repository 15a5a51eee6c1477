/** SQL of PostgreSQL idempotency records for schema `s` (quoted). */
export const sql = (s: string) =>
  ({
    /** A new key, or one whose record expired, is taken at once. */
    acquire: `
INSERT INTO ${s}.idempotency AS i (scope, key, fingerprint, state, response, locked_until, created_at, expires_at)
VALUES ($1, $2, $3, 'in_flight', NULL, $4, $5, $6)
ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'in_flight', response = NULL,
  locked_until = excluded.locked_until, created_at = excluded.created_at, expires_at = excluded.expires_at
WHERE i.expires_at <= excluded.created_at
RETURNING 1`,
    lockedGet: `SELECT * FROM ${s}.idempotency WHERE scope = $1 AND key = $2 FOR UPDATE`,
    relock: `UPDATE ${s}.idempotency SET locked_until = $3 WHERE scope = $1 AND key = $2`,
    get: `SELECT * FROM ${s}.idempotency WHERE scope = $1 AND key = $2`,
    complete: `
UPDATE ${s}.idempotency SET state = 'completed', response = $3::jsonb, locked_until = NULL, expires_at = $4
WHERE scope = $1 AND key = $2`,
    /** Completes only the caller's own in-flight lock ($5 is its fencing token). */
    completeFenced: `
UPDATE ${s}.idempotency SET state = 'completed', response = $3::jsonb, locked_until = NULL, expires_at = $4
WHERE scope = $1 AND key = $2 AND state = 'in_flight' AND locked_until = $5`,
    release: `DELETE FROM ${s}.idempotency WHERE scope = $1 AND key = $2 AND state = 'in_flight'`,
    releaseFenced: `DELETE FROM ${s}.idempotency WHERE scope = $1 AND key = $2 AND state = 'in_flight' AND locked_until = $3`,
    purge: `DELETE FROM ${s}.idempotency WHERE expires_at <= $1`,
  }) as const;
