import { randomBytes, randomUUID } from 'node:crypto';
import { fn as isFn } from '../../internal/validate.js';
import { DEADLINE_HEADER } from '../../policy/deadline.js';
import { type Dispatch, enter, type Interceptor, type WeirDispatchOptions, withHeaders } from '../call.js';

/** Options of {@link requestId}. */
export interface RequestIdOptions {
  /** Header carrying the attempt's unique id. Default `'x-request-id'`. */
  header?: string;
  /** Makes an id. Default `crypto.randomUUID()`. */
  generate?: () => string;
  /**
   * Header carrying the time left to the call's deadline, as whole milliseconds (`x-weir-deadline: 2350`),
   * or `false` for none. Default {@link DEADLINE_HEADER}. Sent only when the call has a deadline.
   */
  deadlineHeader?: string | false;
  /** Send a W3C `traceparent` (a new span per attempt, in the caller's trace when `opts.weir.traceparent` is given). Default false. */
  tracing?: boolean;
}

const NONE: Readonly<Record<string, string>> = Object.freeze({});
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Stamps each attempt as it goes out: a unique `X-Request-Id` (also kept on the call, for the
 * audit entry of the attempt), the remaining deadline budget in `X-Weir-Deadline` (milliseconds,
 * so the two clocks need not agree), and, with `tracing`, a W3C `traceparent`
 * (`00-<trace id>-<span id>-<flags>`): one trace per call, one span per attempt.
 *
 * Place it below any retry (so each attempt gets its own id) and above the audit interceptor.
 * Import from `weir/http`.
 * @throws InvalidOptionError (`requestId.generate`) when `generate` is not a function.
 * @example
 * ```ts
 * const dispatcher = new Agent().compose(requestId({ tracing: true }));
 * ```
 */
export function requestId(options: RequestIdOptions = {}): Interceptor {
  const header = (options.header ?? 'x-request-id').toLowerCase();
  const generate = options.generate === undefined ? randomUUID : isFn<() => string>(options.generate, 'requestId.generate');
  const deadlineHeader = options.deadlineHeader === false ? undefined : (options.deadlineHeader ?? DEADLINE_HEADER).toLowerCase();
  const tracing = options.tracing === true;
  return (dispatch: Dispatch): Dispatch =>
    function weirRequestId(opts, handler) {
      const { call, opts: o, handler: h } = enter(opts as WeirDispatchOptions, handler);
      const id = generate();
      call.requestId = id;
      const headers = withHeaders(o, NONE);
      headers[header] = id;
      const deadline = call.ctx.deadline;
      if (deadlineHeader !== undefined && deadline !== undefined) headers[deadlineHeader] = deadline.toHeaderValue();
      if (tracing) headers.traceparent = traceparent(call);
      return dispatch({ ...o, headers }, h);
    };
}

function traceparent(call: { traceId: string | undefined; options: { traceparent?: string | undefined } }): string {
  let flags = '01';
  if (call.traceId === undefined) {
    const parent = TRACEPARENT.exec(call.options.traceparent?.trim().toLowerCase() ?? '');
    // Version ff is invalid, and an all-zero trace id is invalid (W3C Trace Context §3.2.2).
    if (parent !== null && parent[1] !== 'ff' && !/^0+$/.test(parent[2] as string)) {
      call.traceId = parent[2] as string;
      flags = parent[4] as string;
    } else {
      call.traceId = randomBytes(16).toString('hex');
    }
  } else {
    flags = TRACEPARENT.exec(call.options.traceparent?.trim().toLowerCase() ?? '')?.[4] ?? '01';
  }
  return `00-${call.traceId}-${randomBytes(8).toString('hex')}-${flags}`;
}
