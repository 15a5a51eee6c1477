/** SQL of SQLite saga runs and step records. */

export const CREATE = `
INSERT INTO weir_saga_runs (id, name, state, version, step_index, step, input, deadline, created_at, updated_at)
VALUES (@id, @name, 'running', 1, 0, @step, @input, @deadline, @now, @now)
ON CONFLICT (id) DO NOTHING`;

export const GET = `SELECT * FROM weir_saga_runs WHERE id = ?`;

export const LIST = `
SELECT * FROM weir_saga_runs
WHERE (@state IS NULL OR state = @state) AND (@name IS NULL OR name = @name) AND seq < @beforeSeq
ORDER BY seq DESC LIMIT @limit`;

/**
 * Compare and set on the version: a handler that lost a race (a redelivery, a person's resume)
 * changes nothing. `@keepError`/`@keepCompensationError` keep the column when the transition omits it.
 */
export const TRANSITION = `
UPDATE weir_saga_runs SET state = @state, version = version + 1, step_index = @stepIndex, step = @step,
  error = CASE WHEN @keepError THEN error ELSE @error END,
  compensation_error = CASE WHEN @keepCompensationError THEN compensation_error ELSE @compensationError END,
  updated_at = @now,
  finished_at = CASE WHEN @state IN ('completed', 'compensated', 'failed', 'aborted') THEN @now ELSE NULL END
WHERE id = @id AND version = @version`;

export const STEPS = `SELECT * FROM weir_saga_steps WHERE run_id = ? ORDER BY seq`;

/** Counts an attempt (the last error stays visible until the attempt ends); a completed record is left alone and nothing is returned. */
export const ATTEMPT = `
INSERT INTO weir_saga_steps (run_id, phase, idx, name, status, attempts, started_at, updated_at)
VALUES (@runId, @phase, @index, @name, 'running', 1, @now, @now)
ON CONFLICT (run_id, phase, idx) DO UPDATE SET status = 'running', attempts = weir_saga_steps.attempts + 1,
  updated_at = excluded.updated_at
WHERE weir_saga_steps.status <> 'completed'
RETURNING attempts`;

/** Records a step once: the first completion wins, later writes to a completed record change nothing. */
export const RECORD = `
INSERT INTO weir_saga_steps (run_id, phase, idx, name, status, attempts, output, error, started_at, updated_at, finished_at)
VALUES (@runId, @phase, @index, @name, @status, 0, @output, @error, @now, @now, @finishedAt)
ON CONFLICT (run_id, phase, idx) DO UPDATE SET status = excluded.status, output = excluded.output, error = excluded.error,
  updated_at = excluded.updated_at, finished_at = excluded.finished_at
WHERE weir_saga_steps.status <> 'completed'`;

export const PURGE_STEPS = `
DELETE FROM weir_saga_steps WHERE run_id IN (SELECT id FROM weir_saga_runs WHERE finished_at IS NOT NULL AND finished_at < ?)`;

export const PURGE_RUNS = `DELETE FROM weir_saga_runs WHERE finished_at IS NOT NULL AND finished_at < ?`;
