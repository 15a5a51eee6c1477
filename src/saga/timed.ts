import type { Clock } from '../internal/clock.js';
import { Deadline } from '../policy/deadline.js';
import { timeout } from '../policy/timeout.js';
import type { PolicyContext } from '../policy/types.js';

/**
 * Runs one attempt under its budget: the step's `timeoutMs`, capped by the run's deadline (epoch ms).
 * The attempt's context carries the signal (aborted at the budget's end, or when `signal` aborts)
 * and the deadline, so the step can pass both on. A synchronous throw counts as a rejection.
 * @throws TimeoutError `WEIR_TIMEOUT` when the budget runs out; CancelledError when `signal` aborts; whatever `fn` throws.
 * @internal
 */
export function timed<T>(
  clock: Clock,
  timeoutMs: number | null,
  deadlineAt: number | null,
  signal: AbortSignal,
  fn: (ctx: PolicyContext) => T | PromiseLike<T>,
): Promise<T> {
  const deadline = deadlineAt === null ? undefined : new Deadline(deadlineAt, clock);
  const budget = timeoutMs ?? deadline?.remainingMs();
  if (budget === undefined) {
    return new Promise<T>((resolve) => resolve(fn({ attempt: 1, signal, deadline: undefined })));
  }
  return timeout({ ms: budget, clock }).execute(fn, { signal, deadline });
}
