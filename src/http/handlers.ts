import { CancelledError } from '../errors.js';
import type { Dispatch, DispatchController, DispatchHandler, DispatchOptions, HttpCall } from './call.js';

/** Handler plumbing shared by the interceptors: the caller-facing root, forwarding, headers. */

/** A controller that does nothing, for errors delivered before any request started. */
export const DEAD_CONTROLLER: DispatchController = {
  aborted: true,
  paused: false,
  reason: null,
  abort: noop,
  pause: noop,
  resume: noop,
};

/**
 * Stands between the caller's handler and the Weir chain: one `onRequestStart`, one end. It is
 * also the stable controller handed to the caller once, up front, so the caller can abort while the
 * call waits (a hold, a backoff, a queue) before any request exists; it forwards to the request in
 * flight, if any.
 */
export class RootHandler implements DispatchHandler, DispatchController {
  private target: DispatchController | undefined = undefined;
  private done = false;
  private isPaused = false;
  private isAborted = false;
  private abortReason: Error | null = null;

  constructor(
    private readonly next: DispatchHandler,
    private readonly call: HttpCall,
  ) {
    next.onRequestStart?.(this, {});
  }

  get aborted(): boolean {
    return this.isAborted;
  }
  get paused(): boolean {
    return this.isPaused;
  }
  get reason(): Error | null {
    return this.abortReason;
  }

  abort(reason: Error): void {
    if (this.isAborted) return;
    this.isAborted = true;
    this.abortReason = reason ?? new CancelledError();
    this.call.root.abort(this.abortReason);
    this.target?.abort(this.abortReason);
  }

  pause(): void {
    this.isPaused = true;
    this.target?.pause();
  }

  resume(): void {
    this.isPaused = false;
    this.target?.resume();
  }

  onRequestStart(controller: DispatchController): void {
    if (this.done) {
      controller.abort(new CancelledError());
      return;
    }
    this.target = controller;
    if (this.isAborted) controller.abort(this.abortReason as Error);
    else if (this.isPaused) controller.pause();
  }

  onRequestUpgrade(_c: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: never): void {
    this.next.onRequestUpgrade?.(this, statusCode, headers, socket);
  }

  onResponseStart(_c: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (!this.done) this.next.onResponseStart?.(this, statusCode, headers, statusMessage);
  }

  onResponseData(_c: DispatchController, chunk: Buffer): void {
    if (!this.done) this.next.onResponseData?.(this, chunk);
  }

  onResponseEnd(_c: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (this.done) return;
    this.done = true;
    this.next.onResponseEnd?.(this, trailers);
  }

  onResponseError(_c: DispatchController, error: Error): void {
    if (this.done) return;
    this.done = true;
    this.next.onResponseError?.(this, error);
  }
}

/**
 * A handler that forwards everything to `next`; interceptors subclass it and override what they
 * watch. Controllers pass through unchanged.
 */
export class ForwardHandler implements DispatchHandler {
  constructor(protected readonly next: DispatchHandler) {}

  onRequestStart(controller: DispatchController, context: unknown): void {
    this.next.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(controller: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: never): void {
    this.next.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
  onResponseStart(controller: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    this.next.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: DispatchController, chunk: Buffer): void {
    this.next.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.next.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: DispatchController, error: Error): void {
    this.next.onResponseError?.(controller, error);
  }
}

/** Calls `dispatch`, turning a synchronous throw into `onResponseError`. */
export function safeDispatch(dispatch: Dispatch, opts: DispatchOptions, handler: DispatchHandler): boolean {
  try {
    return dispatch(opts, handler);
  } catch (err) {
    handler.onResponseError?.(DEAD_CONTROLLER, err as Error);
    return true;
  }
}

type HeaderRecord = Record<string, string | string[] | undefined>;

/**
 * The request headers of `opts` as a plain object with lower-case names, plus `extra` (which wins).
 * Accepts every shape undici does (object, `[name, value]` pairs, flat array, iterable).
 */
export function withHeaders(opts: DispatchOptions, extra: Readonly<Record<string, string>>): HeaderRecord {
  const out: HeaderRecord = {};
  const h = opts.headers as unknown;
  if (h !== null && h !== undefined) {
    if (Array.isArray(h)) {
      if (h.length > 0 && Array.isArray(h[0])) {
        for (const [k, v] of h as Array<[string, string]>) add(out, k, v);
      } else {
        for (let i = 0; i + 1 < h.length; i += 2) add(out, String(h[i]), h[i + 1] as string);
      }
    } else if (typeof (h as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const [k, v] of h as Iterable<[string, string]>) add(out, k, v);
    } else {
      for (const k in h as HeaderRecord) add(out, k, (h as HeaderRecord)[k]);
    }
  }
  for (const k in extra) out[k] = extra[k];
  return out;
}

/** The value of request header `name` (lower-case) in `opts`, if set. */
export function headerOf(opts: DispatchOptions, name: string): string | undefined {
  const h = opts.headers as unknown;
  if (h === null || h === undefined) return undefined;
  if (!Array.isArray(h) && typeof (h as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    // A plain object: look the name up without copying (names may be in any case).
    for (const k in h as HeaderRecord) {
      if (k.length !== name.length || k.toLowerCase() !== name) continue;
      const v = (h as HeaderRecord)[k];
      if (v !== undefined) return Array.isArray(v) ? v[0] : String(v);
    }
    return undefined;
  }
  const v = withHeaders(opts, {})[name];
  return Array.isArray(v) ? v[0] : v;
}

function add(out: HeaderRecord, key: string, value: unknown): void {
  if (value === undefined || value === null) return;
  const name = key.toLowerCase();
  const prev = out[name];
  const v = Array.isArray(value) ? value.map(String) : String(value);
  out[name] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), ...(Array.isArray(v) ? v : [v])];
}

function noop(): void {}
