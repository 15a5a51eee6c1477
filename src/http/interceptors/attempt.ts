import { CancelledError, isWeirError, WeirError } from '../../errors.js';
import type { Clock } from '../../internal/clock.js';
import { Deadline } from '../../policy/deadline.js';
import type { RetryPolicy } from '../../policy/retry.js';
import { isAborted, kIsAborted, kOnAbort, onAbort, type Policy, type PolicyContext } from '../../policy/types.js';
import type { Redactor } from '../../security/redact.js';
import { DEAD_CONTROLLER, type Dispatch, type DispatchController, type DispatchHandler, type HttpCall, isIdempotentMethod, safeDispatch, type WeirDispatchOptions } from '../call.js';
import { HttpStatusError, NetworkError, redactExcerpt, toWeirError } from '../errors.js';
import { type ConnectionLimits, mayCarryLimits } from '../limits.js';
import { parseRateLimitSignal } from '../rate-limit-headers.js';

/**
 * The bridge between Weir's promise-based policies and undici's callback handlers: a call runs the
 * policies, and each attempt the policies ask for is one dispatch down the chain, whose response
 * either settles the attempt (a failing status, read into an error; a transport error) or is
 * handed straight to the caller (the policies then succeed and the body streams through).
 */

/** What a {@link Run} needs from the interceptor that owns it. */
export interface RunConfig {
  /** The call's budget when no deadline policy enforces it: carried in the context. */
  readonly deadlineMs: number | undefined;
  readonly deadline: Policy | undefined;
  readonly outer: Policy | undefined;
  readonly inner: Policy | undefined;
  readonly retry: RetryPolicy | undefined;
  readonly limits: ConnectionLimits | undefined;
  readonly failOn: (status: number, headers: Record<string, string | string[] | undefined>, call: HttpCall) => boolean;
  readonly system: string | undefined;
  readonly redactor: Redactor;
  readonly maxBody: number;
  readonly clock: Clock;
  readonly onUnsent: ((call: HttpCall, error: unknown) => void) | undefined;
  readonly guarded: boolean;
}

/** Bodies of failed responses larger than this are not read to the end: the connection is dropped instead. */
const DRAIN_LIMIT = 64 * 1024;
const DELIVERED = Symbol('weir.delivered');

/** A failure the retry layer must not retry: classified `permanent`, unwrapped before the caller sees it. */
class NotRetryable {
  readonly classification = 'permanent' as const;
  constructor(readonly error: unknown) {}
}

/** Whether the failed attempt of `call` may be sent again without risking a second effect. */
export function safeToRetry(call: HttpCall): boolean {
  if (call.options.retry === false) return false;
  if (call.dispatched && !call.replayable) return false;
  if (!call.sent) return true;
  return isIdempotentMethod(call.method) || call.idempotencyKey !== undefined || call.options.idempotent === true;
}

/**
 * The attempt's context as the inner policies see it: its `signal` is only materialised once the
 * context is aborted. A breaker reads `ctx.signal?.aborted` on every call, which would otherwise
 * create an AbortController per request; every Weir layer below subscribes through the lazy hooks.
 */
class QuietContext implements PolicyContext {
  readonly attempt: number;
  readonly deadline: PolicyContext['deadline'];
  readonly key: string | undefined;

  constructor(private readonly parent: PolicyContext) {
    this.attempt = parent.attempt;
    this.deadline = parent.deadline;
    this.key = parent.key;
  }

  get signal(): AbortSignal | undefined {
    return isAborted(this.parent) ? this.parent.signal : undefined;
  }

  [kIsAborted](): boolean {
    return isAborted(this.parent);
  }

  [kOnAbort](listener: (reason: unknown) => void): (() => void) | undefined {
    return onAbort(this.parent, listener);
  }
}

/** The caller's context with the call's overall deadline (the earlier of the two). */
class BudgetContext implements PolicyContext {
  readonly attempt: number;
  readonly key: string | undefined;
  readonly deadline: Deadline;

  constructor(
    private readonly parent: PolicyContext,
    budget: Deadline,
  ) {
    this.attempt = parent.attempt;
    this.key = parent.key;
    this.deadline = budget.min(parent.deadline);
  }

  get signal(): AbortSignal | undefined {
    return this.parent.signal;
  }

  [kIsAborted](): boolean {
    return isAborted(this.parent);
  }

  [kOnAbort](listener: (reason: unknown) => void): (() => void) | undefined {
    return onAbort(this.parent, listener);
  }
}

/** One call through the preset. */
export class Run {
  delivered = false;
  attempts = 0;
  current: Attempt | undefined = undefined;

  constructor(
    readonly r: RunConfig,
    readonly call: HttpCall,
    readonly opts: WeirDispatchOptions,
    readonly handler: DispatchHandler,
    readonly dispatch: Dispatch,
  ) {}

  start(): void {
    const { outer, deadlineMs, deadline, clock } = this.r;
    const ctx = deadlineMs === undefined || deadline !== undefined ? this.call.ctx : new BudgetContext(this.call.ctx, new Deadline(clock.now() + deadlineMs, clock));
    const p = outer === undefined ? this.attempt(ctx) : outer.execute((c) => this.attempt(c), ctx);
    p.then(
      () => this.settled(),
      (err: unknown) => this.failed(err),
    );
  }

  /** The function the policies run once per attempt. Closures are made only when a policy needs one. */
  private attempt(ctx: PolicyContext): Promise<unknown> {
    this.attempts++;
    const call = this.call;
    call.sent = call.dispatched = call.recorded = false;
    // The limits step (when present) admits the attempt before it is sent: the gate below need not take a token again.
    call.limitedBy = this.r.limits;
    call.attempt = ctx.attempt;
    const inner = this.r.inner;
    const p = inner === undefined ? this.send(ctx) : inner.execute((c) => this.send(c), new QuietContext(ctx));
    return this.r.guarded ? p.then(undefined, (err: unknown) => this.guard(err)) : p;
  }

  private send(ctx: PolicyContext): Promise<unknown> {
    return new Promise((resolve, reject) => new Attempt(this, ctx, resolve, reject).go());
  }

  private guard(err: unknown): never {
    const call = this.call;
    // Refused or timed out before it went out (an attempt on the wire is audited where it is sent).
    if (!call.recorded && !call.sent && !this.delivered) this.r.onUnsent?.(call, err);
    if (this.r.retry !== undefined && !safeToRetry(call)) throw new NotRetryable(err);
    throw err;
  }

  private settled(): void {
    if (!this.delivered) this.deliverError(new WeirError('WEIR_PERMANENT', 'A policy returned a value instead of a response.'));
  }

  private failed(err: unknown): void {
    let e = err instanceof NotRetryable ? err.error : err;
    if (isWeirError(e, 'WEIR_RETRIES_EXHAUSTED') && e.cause !== undefined) e = e.cause;
    if (e instanceof NotRetryable) e = e.error;
    if (this.attempts === 0) this.r.onUnsent?.(this.call, e); // refused before any attempt (bulkhead, deadline)
    if (e instanceof HttpStatusError || e instanceof NetworkError) e.attempts = Math.max(1, this.attempts);
    if (!this.delivered) this.deliverError(e);
  }

  private deliverError(err: unknown): void {
    this.delivered = true;
    this.handler.onResponseError?.(this.current?.controller ?? DEAD_CONTROLLER, err as Error);
  }
}

interface Failure {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly chunks: Buffer[];
  kept: number;
  seen: number;
}

/** One attempt: the handler the rest of the chain reports to. Late events of an abandoned attempt are ignored. */
class Attempt implements DispatchHandler {
  controller: DispatchController | undefined = undefined;
  private abortReason: Error | undefined = undefined;
  private off: (() => void) | undefined = undefined;
  private done = false;
  private forwarding = false;
  private failure: Failure | undefined = undefined;

  constructor(
    private readonly run: Run,
    private readonly ctx: PolicyContext,
    private readonly resolve: (value: unknown) => void,
    private readonly reject: (reason: unknown) => void,
  ) {}

  go(): void {
    const { run, ctx } = this;
    const call = run.call;
    run.current = this;
    call.ctx = ctx;
    call.attempt = ctx.attempt;
    if (isAborted(ctx)) {
      this.fail(new CancelledError(ctx.signal?.reason));
      return;
    }
    this.off = onAbort(ctx, (reason) => this.abort(reason));
    if (this.done) return;
    call.dispatched = true;
    safeDispatch(run.dispatch, run.opts, this);
  }

  private abort(reason: unknown): void {
    if (this.forwarding || this.done) return;
    const err = reason instanceof Error ? reason : new CancelledError(reason);
    this.abortReason = err;
    this.controller?.abort(err);
    this.fail(err);
  }

  private fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.off?.();
    this.reject(err);
  }

  onRequestStart(controller: DispatchController, context: unknown): void {
    if (this.done && !this.forwarding) {
      // Abandoned before it started (timeout, abort): make sure nothing is written.
      controller.abort(this.abortReason ?? new CancelledError());
      return;
    }
    this.controller = controller;
    this.run.call.sent = true;
    this.run.handler.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: never): void {
    this.run.handler.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    if (this.done) return;
    const run = this.run;
    if (run.r.failOn(status, headers, run.call)) {
      this.failure = { status, headers, chunks: [], kept: 0, seen: 0 };
      return;
    }
    this.forwarding = true;
    this.done = true;
    this.off?.();
    run.delivered = true;
    this.resolve(DELIVERED);
    run.handler.onResponseStart?.(controller, status, headers, message);
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.forwarding) {
      this.run.handler.onResponseData?.(controller, chunk);
      return;
    }
    const f = this.failure;
    if (f === undefined || this.done) return;
    f.seen += chunk.length;
    const room = this.run.r.maxBody * 4 - f.kept; // bytes, room for multi-byte text
    if (room > 0) {
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      f.chunks.push(part);
      f.kept += part.length;
    }
    if (f.seen > DRAIN_LIMIT) {
      this.finishFailure(true);
      controller.abort(new CancelledError());
    }
  }

  onResponseEnd(controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.forwarding) this.run.handler.onResponseEnd?.(controller, trailers);
    else if (this.failure !== undefined) this.finishFailure(false);
  }

  onResponseError(controller: DispatchController, error: Error): void {
    if (this.forwarding) {
      this.run.handler.onResponseError?.(controller, error);
      return;
    }
    if (this.done) return;
    if (this.failure !== undefined) {
      this.finishFailure(true);
      return;
    }
    const { r, call } = this.run;
    this.fail(toWeirError(error, { method: call.method, path: call.redactedPath(r.redactor), system: r.system, requestId: call.requestId, sent: call.sent }));
  }

  private finishFailure(truncated: boolean): void {
    const f = this.failure as Failure;
    const { r, call } = this.run;
    const raw = Buffer.concat(f.chunks).toString('utf8');
    const now = r.clock.now();
    const rateLimit = call.rateLimit ?? (mayCarryLimits(f.headers) ? parseRateLimitSignal(f.status, f.headers, { now }) : undefined);
    this.fail(
      new HttpStatusError({
        status: f.status,
        method: call.method,
        path: call.redactedPath(r.redactor),
        system: r.system,
        requestId: call.requestId,
        headers: r.redactor.headers(f.headers),
        body: raw === '' ? undefined : redactExcerpt(raw, r.maxBody, r.redactor, truncated || f.seen > f.kept),
        rateLimit,
        now,
      }),
    );
  }
}
