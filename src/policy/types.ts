import type { Deadline } from './deadline.js';

/** What a caller may pass to `execute()`. A {@link PolicyContext} is also valid here, which is how nesting works. */
export interface ExecuteOptions {
  /** Aborting it cancels the call; cancellation is never counted as a failure. */
  readonly signal?: AbortSignal | undefined;
  /** The overall time budget; nested policies and calls never run past it. */
  readonly deadline?: Deadline | undefined;
  /** Partition key for keyed policies (rate limiter partitions, per-key breakers). */
  readonly key?: string | undefined;
}

/**
 * What the function under a policy receives. Weir passes context explicitly (no AsyncLocalStorage:
 * on Node 20 it slows every promise in the process): hand `ctx` on to inner `execute()` calls and to
 * Weir connections so the deadline and the signal flow with it.
 */
export interface PolicyContext extends ExecuteOptions {
  /** 1 for the first call, 2 for the first retry, … */
  readonly attempt: number;
}

/** The no-throw result of `executeOutcome()`. */
export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** The function a policy runs. */
export type Task<T> = (ctx: PolicyContext) => T | PromiseLike<T>;

/** A policy is a value: it runs functions under some protection. Compose with `wrap()`. */
export interface Policy {
  /**
   * Runs `fn` under this policy.
   * @throws WeirError with a code such as `WEIR_TIMEOUT`, `WEIR_CIRCUIT_OPEN`, `WEIR_BULKHEAD_FULL`,
   * `WEIR_RATE_LIMITED`, `WEIR_RETRIES_EXHAUSTED`, `WEIR_CANCELLED`, or whatever `fn` threw.
   */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T>;
  /** Like `execute()` but never rejects: `{ ok: true, value } | { ok: false, error }`. */
  executeOutcome<T>(fn: Task<T>, options?: ExecuteOptions): Promise<Outcome<T>>;
}

/**
 * A context may create its `signal` lazily (the timeout policy does, to avoid an AbortController per
 * call). Such a context implements this method to say "aborted?" without creating one.
 */
export const kIsAborted: unique symbol = Symbol('weir.isAborted');

/** True when the context's signal is (or would be) aborted, without forcing a lazy signal into existence. */
export function isAborted(ctx: PolicyContext): boolean {
  const check = (ctx as { [kIsAborted]?: () => boolean })[kIsAborted];
  return check === undefined ? ctx.signal?.aborted === true : check.call(ctx);
}

/** A lazy context implements this to let others subscribe to its abort without creating its signal. */
export const kOnAbort: unique symbol = Symbol('weir.onAbort');

/**
 * Calls `listener` once when the context aborts. Returns the unsubscribe function, or `undefined`
 * when the context can never abort. Never forces a lazy signal into existence.
 */
export function onAbort(ctx: PolicyContext, listener: (reason: unknown) => void): (() => void) | undefined {
  const hook = (ctx as { [kOnAbort]?: (l: (reason: unknown) => void) => () => void })[kOnAbort];
  if (hook !== undefined) return hook.call(ctx, listener);
  const signal = ctx.signal;
  if (signal === undefined) return undefined;
  const l = (): void => listener(signal.reason);
  signal.addEventListener('abort', l, { once: true });
  return () => signal.removeEventListener('abort', l);
}

/** The shared context used when the caller passes none: no allocation on the hot path. */
export const ROOT_CONTEXT: PolicyContext = Object.freeze({ attempt: 1, signal: undefined, deadline: undefined, key: undefined });

/** Normalises caller options into a context. */
export function toContext(options: ExecuteOptions | undefined): PolicyContext {
  if (options === undefined) return ROOT_CONTEXT;
  return (options as PolicyContext).attempt === undefined
    ? { attempt: 1, signal: options.signal, deadline: options.deadline, key: options.key }
    : (options as PolicyContext);
}

/** Base class giving every policy `executeOutcome()` from its `execute()`. */
export abstract class BasePolicy implements Policy {
  abstract execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T>;

  executeOutcome<T>(fn: Task<T>, options?: ExecuteOptions): Promise<Outcome<T>> {
    return this.execute(fn, options).then(
      (value) => ({ ok: true, value }) as const,
      (error: unknown) => ({ ok: false, error }) as const,
    );
  }
}

/**
 * A backoff strategy: how long to wait before retry number `retry` (1 = the first retry), given
 * the previous delay and a random source in [0, 1). Must return a finite number of ms >= 0;
 * callers clamp it anyway. Also used for a breaker's growing open duration.
 */
export interface Backoff {
  delayMs(retry: number, previousMs: number, random: () => number): number;
}
