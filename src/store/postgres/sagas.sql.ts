/** SQL of PostgreSQL saga runs and step records for schema `s` (quoted). */
export const sql = (s: string) =>
  ({
    create: `
INSERT INTO ${s}.saga_runs (id, name, state, version, step_index, step, input, deadline, created_at, updated_at)
VALUES ($1, $2, 'running', 1, 0, $3, $4::jsonb, $5, $6, $6)
ON CONFLICT (id) DO NOTHING`,
    get: `SELECT * FROM ${s}.saga_runs WHERE id = $1`,
    list: `
SELECT * FROM ${s}.saga_runs
WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR name = $2) AND seq < $3
ORDER BY seq DESC LIMIT $4`,
    /** Compare and set on the version; `$7`/`$9` keep the error columns when the transition omits them. */
    transition: `
UPDATE ${s}.saga_runs SET state = $3, version = version + 1, step_index = $4, step = $5,
  error = CASE WHEN $6::boolean THEN error ELSE $7::jsonb END,
  compensation_error = CASE WHEN $8::boolean THEN compensation_error ELSE $9::jsonb END,
  updated_at = $10,
  finished_at = CASE WHEN $3 IN ('completed', 'compensated', 'failed', 'aborted') THEN $10::bigint ELSE NULL END
WHERE id = $1 AND version = $2`,
    steps: `SELECT * FROM ${s}.saga_steps WHERE run_id = $1 ORDER BY seq`,
    /** Counts an attempt (the last error stays visible); a completed record is left alone and nothing is returned. */
    attempt: `
INSERT INTO ${s}.saga_steps AS st (run_id, phase, idx, name, status, attempts, started_at, updated_at)
VALUES ($1, $2, $3, $4, 'running', 1, $5, $5)
ON CONFLICT (run_id, phase, idx) DO UPDATE SET status = 'running', attempts = st.attempts + 1, updated_at = excluded.updated_at
WHERE st.status <> 'completed'
RETURNING attempts`,
    /** Records a step once: the first completion wins, later writes to a completed record change nothing. */
    record: `
INSERT INTO ${s}.saga_steps AS st (run_id, phase, idx, name, status, attempts, output, error, started_at, updated_at, finished_at)
VALUES ($1, $2, $3, $4, $5, 0, $6::jsonb, $7::jsonb, $8, $8, $9)
ON CONFLICT (run_id, phase, idx) DO UPDATE SET status = excluded.status, output = excluded.output, error = excluded.error,
  updated_at = excluded.updated_at, finished_at = excluded.finished_at
WHERE st.status <> 'completed'`,
    purge: `
WITH gone AS (DELETE FROM ${s}.saga_runs WHERE finished_at IS NOT NULL AND finished_at < $1 RETURNING id),
  steps AS (DELETE FROM ${s}.saga_steps WHERE run_id IN (SELECT id FROM gone))
SELECT count(*)::int AS n FROM gone`,
  }) as const;
