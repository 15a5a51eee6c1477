import type { ConnectionLimitsOptions, ConnectionPolicy } from 'weir/http';

/**
 * How both connections behave inside queue workers (sync changes, reconciliations, polling).
 *
 * A worker never sleeps on a rate limit or an outage: a 429, or a 503 (or anything else) that names
 * a Retry-After, is not retried inside the call; the error (`retryAfterMs` set) goes back to the
 * queue, which reschedules the message at that time. Meanwhile the connection holds every caller
 * until the named time, so nothing is sent early. Only short transient failures (a reset, a
 * timeout, a 502) are retried in the call, with the connection's exponential backoff.
 *
 * One request is in flight per system at a time: a 429 is learnt before the next request leaves.
 * (A server that counts requests arriving before its `Retry-After` time as abuse counts those
 * already on the wire too; with one in flight there are none.) Other callers queue in the bulkhead.
 */
export const workerPolicy: ConnectionPolicy = {
  bulkhead: { maxConcurrent: 1, maxQueue: 1_000 },
  // With one request at a time and retries spread out by the queue, an outage produces few calls:
  // five failures in a row open the circuit (a rate over a window would need 20 calls), and it
  // probes again after 10 s, so the backlog drains soon after the other side recovers.
  breaker: { strategy: { consecutive: 5 }, openMs: 10_000 },
  retry: { attempts: 3, retryOn: (classification, error) => classification === 'transient' && !namesRetryTime(error) },
  deadlineMs: 20_000,
};

/**
 * A call waits at most 1 s for the connection's rate-limit hold (or a token of its adaptive
 * bucket); a longer wait fails at once with `WEIR_RATE_LIMITED` and `retryAfterMs`, and the queue
 * reschedules the message instead of holding a worker slot.
 */
export const workerLimits: ConnectionLimitsOptions = { maxWaitMs: 1_000 };

/** True for a failure that says when to come back: a 429 or a 503, a `Retry-After`, an open breaker. */
function namesRetryTime(error: unknown): boolean {
  const e = error as { status?: unknown; retryAfterMs?: unknown } | null;
  return e?.status === 429 || e?.status === 503 || typeof e?.retryAfterMs === 'number';
}
