/** SQL of SQLite idempotency records. */
export const GET = `SELECT * FROM weir_idempotency WHERE scope = ? AND key = ?`;

/** Takes the key: a new record, or over an expired record. */
export const ACQUIRE = `
INSERT INTO weir_idempotency (scope, key, fingerprint, state, response, locked_until, created_at, expires_at)
VALUES (@scope, @key, @fingerprint, 'in_flight', NULL, @lockedUntil, @now, @expiresAt)
ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'in_flight', response = NULL,
  locked_until = excluded.locked_until, created_at = excluded.created_at, expires_at = excluded.expires_at`;

/** Takes over an in-flight record whose lock expired (its owner died). */
export const RELOCK = `UPDATE weir_idempotency SET locked_until = @lockedUntil WHERE scope = @scope AND key = @key`;

export const COMPLETE = `
UPDATE weir_idempotency SET state = 'completed', response = @response, locked_until = NULL, expires_at = @expiresAt
WHERE scope = @scope AND key = @key`;

/** Completes only the caller's own in-flight lock (`@lockedUntil` is its fencing token). */
export const COMPLETE_FENCED = `
UPDATE weir_idempotency SET state = 'completed', response = @response, locked_until = NULL, expires_at = @expiresAt
WHERE scope = @scope AND key = @key AND state = 'in_flight' AND locked_until = @lockedUntil`;

export const RELEASE = `DELETE FROM weir_idempotency WHERE scope = ? AND key = ? AND state = 'in_flight'`;

export const RELEASE_FENCED = `DELETE FROM weir_idempotency WHERE scope = ? AND key = ? AND state = 'in_flight' AND locked_until = ?`;

export const PURGE = `DELETE FROM weir_idempotency WHERE expires_at <= ?`;
