/** SQL of SQLite cron schedules. */
export const PUT = `
INSERT INTO weir_schedules (name, cron, timezone, topic, key, payload, headers, next_run_at, last_run_at)
VALUES (@name, @cron, @timezone, @topic, @key, @payload, @headers, @nextRunAt, @lastRunAt)
ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone, topic = excluded.topic,
  key = excluded.key, payload = excluded.payload, headers = excluded.headers, next_run_at = excluded.next_run_at`;

export const REMOVE = `DELETE FROM weir_schedules WHERE name = ?`;

export const LIST = `SELECT * FROM weir_schedules ORDER BY name`;

export const DUE = `SELECT * FROM weir_schedules WHERE next_run_at <= ? ORDER BY next_run_at, name`;

export const ADVANCE = `UPDATE weir_schedules SET next_run_at = @next, last_run_at = @fired WHERE name = @name AND next_run_at = @fired`;
