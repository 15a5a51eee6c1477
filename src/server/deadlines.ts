import { InvalidOptionError, TimeoutError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { integer } from '../internal/validate.js';
import { DEADLINE_HEADER, Deadline } from '../policy/deadline.js';
import type { Middleware } from './compose.js';
import { errorResponse } from './problem.js';

export interface DeadlinesOptions {
  /** The longest budget adopted from a caller, in ms (a caller cannot ask for more). */
  maxMs: number;
  /** The budget of a request without the header, in ms. Default: none (no deadline). */
  defaultMs?: number;
  /** The header carrying the caller's remaining budget in integer ms. Default `x-weir-deadline`. */
  header?: string;
  clock?: Clock;
}

/**
 * Adopts the caller's remaining time budget from `X-Weir-Deadline` (capped at `maxMs`) as
 * `ctx.deadline`, so the handler's downstream calls inherit it (`policy.execute(fn, ctx.policy)`,
 * Weir connections), and aborts `ctx.signal` when it runs out. A request whose budget is already
 * spent is answered 504 (`WEIR_TIMEOUT`) without running; a handler that fails after its
 * deadline passed is answered 504 too. Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option.
 * @example `app.use(weir(deadlines({ maxMs: 30_000, defaultMs: 10_000 })))`
 */
export function deadlines(options: DeadlinesOptions): Middleware {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('deadlines', 'an options object', options);
  const maxMs = integer(options.maxMs, 'deadlines.maxMs', 1);
  const defaultMs = options.defaultMs === undefined ? undefined : integer(options.defaultMs, 'deadlines.defaultMs', 1, maxMs);
  const header = (options.header ?? DEADLINE_HEADER).toLowerCase();
  const clock = options.clock ?? systemClock;

  return async function deadlinesMiddleware(ctx, next) {
    const deadline = Deadline.fromHeader(ctx.header(header), { maxMs, clock }) ?? (defaultMs === undefined ? undefined : Deadline.after(defaultMs, clock));
    if (deadline === undefined) return next();
    if (deadline.expired) throw new TimeoutError(0, { details: { reason: 'deadline_spent_on_arrival' } });
    ctx.deadline = deadline.min(ctx.deadline);
    const remaining = ctx.deadline.remainingMs();
    const timer = ctx.deadline.clock.setTimer(remaining, () => ctx.abort(new TimeoutError(remaining)));
    try {
      await next();
    } finally {
      timer.close();
    }
    if (ctx.error !== undefined && ctx.deadline.expired) ctx.res = errorResponse(new TimeoutError(remaining));
  };
}
