import { setTimeout as sleep } from 'node:timers/promises';
import { uuidv7 } from '../internal/ids.js';
import type { Sync } from '../sync/define.js';
import { reconcile, type ReconcileOptions, type ReconcileReport } from '../sync/reconcile.js';

/** Options of {@link reconcileResuming}. */
export interface ResumingOptions {
  /** Resumes after a failure that names when to come back (`retryAfterMs`: a 429, an open breaker), at most this many times. Default 20. */
  readonly maxResumes?: number;
  /** Longest wait before a resume, ms. Default 60 000. */
  readonly maxWaitMs?: number;
  /** Told before each wait. */
  readonly onWait?: (waitMs: number, error: unknown) => void;
}

/**
 * Runs a reconciliation to the end: when a page fails with an error that says when to come back
 * (a rate limit, an open circuit: `retryAfterMs`, or any transient failure after a short pause),
 * it waits and resumes the same run from its last checkpoint, so a rate-limited system only slows
 * it down. Other failures, and too many resumes, are thrown (the run is recorded as failed).
 */
export async function reconcileResuming(sync: Sync, options: Omit<ReconcileOptions, 'runId'>, o: ResumingOptions = {}): Promise<ReconcileReport> {
  const runId = uuidv7();
  const maxResumes = o.maxResumes ?? 20;
  for (let resumes = 0; ; resumes++) {
    try {
      return await reconcile(sync, { ...options, runId });
    } catch (err) {
      const e = err as { retryAfterMs?: unknown; classification?: unknown };
      const named = typeof e.retryAfterMs === 'number' && Number.isFinite(e.retryAfterMs) ? e.retryAfterMs : undefined;
      const transient = named !== undefined || e.classification === 'transient' || e.classification === 'rate_limited';
      if (!transient || resumes >= maxResumes) throw err;
      const waitMs = Math.min(o.maxWaitMs ?? 60_000, Math.max(100, named ?? 1000 * 2 ** Math.min(resumes, 5)));
      o.onWait?.(waitMs, err);
      await sleep(waitMs);
    }
  }
}
