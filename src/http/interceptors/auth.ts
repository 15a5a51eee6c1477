import { CancelledError, InvalidOptionError } from '../../errors.js';
import { isAborted, onAbort } from '../../policy/types.js';
import type { AuthFailure, AuthRequest, HttpAuth } from '../auth.js';
import {
  DEAD_CONTROLLER,
  type Dispatch,
  type DispatchController,
  type DispatchHandler,
  enter,
  type HttpCall,
  type Interceptor,
  safeDispatch,
  type WeirDispatchOptions,
  withHeaders,
} from '../call.js';

/** A 401 body is read up to this many bytes to find the OAuth error code; a longer one is passed on as it is. */
const MAX_401_BODY = 16 * 1024;

/**
 * Authentication as an undici interceptor, for any {@link HttpAuth} (OAuth 2.0, API keys, your own):
 * `apply()` adds the credential to each request as it goes out (it may fetch or refresh a token
 * first; a caller's abort or the attempt's deadline cuts that wait short). On a 401, when the
 * scheme has `onUnauthorized()` and the body can be sent again, the response is read, the OAuth
 * error code (`invalid_token`, `token_expired`, from the JSON body or `WWW-Authenticate`) handed to
 * the scheme, and, if it renewed the credential, the request is sent once more (at most once per
 * call). Otherwise the 401 goes on to the caller unchanged.
 *
 * Place it above `requestId()` so the resent request gets its own `X-Request-Id`. Credentials never
 * reach audit entries, errors or logs: every Weir record redacts `Authorization`.
 * Import from `weir/http`.
 * @throws InvalidOptionError (`auth`) when `scheme` has no `apply` function.
 * @example
 * ```ts
 * const bearer: HttpAuth = { kind: 'static', apply: (req) => { req.headers.authorization = `Bearer ${token.reveal()}`; } };
 * const dispatcher = new Agent().compose(auth(bearer));
 * ```
 */
export function auth(scheme: HttpAuth): Interceptor {
  if (typeof scheme?.apply !== 'function') throw new InvalidOptionError('auth', 'an HttpAuth (an object with apply())', scheme);
  return (dispatch: Dispatch): Dispatch =>
    function weirAuth(opts, handler) {
      const { call, opts: o, handler: h } = enter(opts as WeirDispatchOptions, handler);
      new Exchange(scheme, dispatch, call, o, h).send();
      return true;
    };
}

/** One request with its credential, and at most one resend after a renewal. */
class Exchange implements DispatchHandler {
  private status = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  private chunks: Buffer[] = [];
  private size = 0;
  /** Holding a 401 to decide whether to resend it. */
  private holding = false;
  private controller: DispatchController = DEAD_CONTROLLER;
  /** What the last `apply()` was given: passed back with a 401 so the scheme knows which credential was refused. */
  private request: AuthRequest | undefined = undefined;

  constructor(
    private readonly scheme: HttpAuth,
    private readonly dispatch: Dispatch,
    private readonly call: HttpCall,
    private readonly opts: WeirDispatchOptions,
    private readonly next: DispatchHandler,
  ) {}

  send(): void {
    const headers = withHeaders(this.opts, {}) as Record<string, string>;
    const call = this.call;
    const request: AuthRequest = {
      method: call.method,
      url: new URL(this.opts.path, this.opts.origin as string),
      headers,
      // Created only if the scheme reads it: most never do.
      get signal() {
        return call.ctx.signal;
      },
    };
    this.request = request;
    let applied: Promise<void> | void;
    try {
      applied = this.scheme.apply(request);
    } catch (err) {
      this.next.onResponseError?.(DEAD_CONTROLLER, err as Error);
      return;
    }
    const go = (): void => {
      safeDispatch(this.dispatch, { ...this.opts, headers }, this);
    };
    if (applied === undefined || typeof (applied as Promise<void>).then !== 'function') go();
    else this.wait(applied as Promise<void>, go);
  }

  /** Waits for the scheme (a token fetch), giving up at once when the attempt is aborted. */
  private wait<T>(promise: Promise<T>, then: (value: T) => void): void {
    const ctx = this.call.ctx;
    if (isAborted(ctx)) {
      this.next.onResponseError?.(DEAD_CONTROLLER, new CancelledError(ctx.signal?.reason));
      return;
    }
    let settled = false;
    const off = onAbort(ctx, (reason) => {
      if (settled) return;
      settled = true;
      this.next.onResponseError?.(DEAD_CONTROLLER, new CancelledError(reason));
    });
    promise.then(
      (value) => {
        if (settled) return;
        settled = true;
        off?.();
        then(value);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        off?.();
        this.next.onResponseError?.(DEAD_CONTROLLER, err as Error);
      },
    );
  }

  onRequestStart(controller: DispatchController, context: unknown): void {
    this.controller = controller;
    this.next.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, socket: never): void {
    this.next.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: DispatchController, status: number, headers: Record<string, string | string[] | undefined>, message?: string): void {
    if (status === 401 && this.scheme.onUnauthorized !== undefined && !this.call.authRenewed && this.call.replayable) {
      this.holding = true;
      this.status = status;
      this.headers = headers;
      return;
    }
    this.next.onResponseStart?.(controller, status, headers, message);
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (!this.holding) {
      this.next.onResponseData?.(controller, chunk);
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (this.size > MAX_401_BODY) this.release(controller); // too big to be an error document: pass it on
  }

  onResponseEnd(controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    if (!this.holding) {
      this.next.onResponseEnd?.(controller, trailers);
      return;
    }
    this.holding = false;
    const failure: AuthFailure = { status: this.status, headers: this.headers, error: oauthError(this.headers, this.chunks), request: this.request };
    this.call.authRenewed = true;
    let renewed: Promise<boolean> | boolean;
    try {
      renewed = (this.scheme.onUnauthorized as NonNullable<HttpAuth['onUnauthorized']>)(failure);
    } catch (err) {
      this.next.onResponseError?.(controller, err as Error);
      return;
    }
    const decide = (again: boolean): void => {
      if (!again) {
        this.replay(controller, trailers);
        return;
      }
      this.chunks = [];
      this.size = 0;
      this.send();
    };
    if (typeof renewed === 'boolean') decide(renewed);
    else this.wait(Promise.resolve(renewed), decide);
  }

  onResponseError(controller: DispatchController, error: Error): void {
    this.holding = false;
    this.next.onResponseError?.(controller, error);
  }

  /** Stops holding: the 401 so far goes on, and the rest streams through. */
  private release(controller: DispatchController): void {
    this.holding = false;
    this.next.onResponseStart?.(controller, this.status, this.headers);
    for (const c of this.chunks) this.next.onResponseData?.(controller, c);
    this.chunks = [];
  }

  /** The credential was not renewed: the held 401 goes to the caller as it came. */
  private replay(controller: DispatchController, trailers: Record<string, string | string[] | undefined>): void {
    this.release(controller);
    this.next.onResponseEnd?.(controller, trailers);
  }
}

/** The OAuth error code of a 401: `error` in a JSON body, else `error="…"` in `WWW-Authenticate`. */
function oauthError(headers: Record<string, string | string[] | undefined>, chunks: readonly Buffer[]): string | undefined {
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: unknown };
    if (typeof body?.error === 'string') return body.error;
  } catch {
    // not JSON
  }
  const www = headers['www-authenticate'];
  const text = Array.isArray(www) ? www.join(', ') : www;
  return text === undefined ? undefined : /\berror="?([A-Za-z0-9_.-]+)"?/.exec(text)?.[1];
}
