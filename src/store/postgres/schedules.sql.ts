/** SQL of PostgreSQL cron schedules for schema `s` (quoted). */
export const sql = (s: string) =>
  ({
    put: `
INSERT INTO ${s}.schedules (name, cron, timezone, topic, key, payload, headers, next_run_at, last_run_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9)
ON CONFLICT (name) DO UPDATE SET cron = excluded.cron, timezone = excluded.timezone, topic = excluded.topic,
  key = excluded.key, payload = excluded.payload, headers = excluded.headers, next_run_at = excluded.next_run_at`,
    remove: `DELETE FROM ${s}.schedules WHERE name = $1`,
    list: `SELECT * FROM ${s}.schedules ORDER BY name`,
    /** SKIP LOCKED: two processes firing at once split the due schedules instead of waiting. */
    due: `SELECT * FROM ${s}.schedules WHERE next_run_at <= $1 ORDER BY next_run_at, name FOR UPDATE SKIP LOCKED`,
    advance: `UPDATE ${s}.schedules SET next_run_at = $2, last_run_at = $3 WHERE name = $1`,
  }) as const;
