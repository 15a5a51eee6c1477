import { CancelledError, InvalidOptionError } from '../errors.js';
import type { AuthFailure } from '../http/auth.js';
import type { Clock } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { integer } from '../internal/validate.js';
import type { TokenSet } from './oauth2-token-request.js';

/** Why a token was requested. */
export type TokenReason = 'initial' | 'expired' | 'ahead' | 'unauthorized';

/** Emitted each time a new access token is in use. Never carries the token. */
export interface TokenEvent {
  readonly reason: TokenReason;
  /** `'server'`: from the token endpoint; `'store'`: another process (or a previous run) had already obtained it. */
  readonly source: 'server' | 'store';
  readonly obtainedAt: number;
  readonly expiresAt: number | undefined;
}

/** Emitted when a background refresh (ahead of expiry) failed; the current token stays in use until it expires. */
export interface TokenErrorEvent {
  readonly reason: TokenReason;
  readonly error: unknown;
}

/** Options of the token cache shared by both grants. */
export interface TokenCacheOptions {
  /**
   * Refresh this many ms before the token expires, in the background while the current token is
   * still used. Capped at half the token's lifetime, so short-lived tokens are not refreshed on
   * every call. Default 60 000.
   */
  refreshAheadMs?: number;
  /**
   * Loop guard, in ms. A 401 for a token that was itself obtained because of a 401 less than this
   * long ago does not renew it again (the 401 stands: a fresh token was refused, so another would be
   * too). Without `failure.request`, a 401 within this time of any renewal is assumed to have carried
   * the previous token, and is retried with the new one. Default 5 000.
   */
  refreshCooldownMs?: number;
  /**
   * The OAuth error codes of a 401 that mean "renew the token" (a 401 without an error code always
   * does). Default `['invalid_token', 'token_expired']`.
   */
  unauthorizedErrors?: readonly string[];
}

/** Default of `refreshAheadMs`. */
export const DEFAULT_REFRESH_AHEAD_MS = 60_000;

/** A failed background refresh is not retried more often than this (ms), so a broken endpoint is not hammered. */
const BACKGROUND_RETRY_MS = 5_000;

/** A token as the cache holds it, with where it came from. */
export interface CachedToken extends TokenSet {
  readonly source: 'server' | 'store';
}

/**
 * @internal The access-token cache both grants share: hands out the current token, refreshes it
 * ahead of expiry in the background, and makes every concurrent caller wait for one single refresh
 * (the "flight"). A caller's signal stops that caller waiting, never the flight: a refresh of a
 * rotating token that was abandoned half-way would lose the new refresh token.
 */
export class TokenCache {
  readonly #fetch: (reason: TokenReason) => Promise<CachedToken>;
  readonly #clock: Clock;
  readonly #aheadMs: number;
  readonly #cooldownMs: number;
  readonly #unauthorizedErrors: ReadonlySet<string>;
  #token: CachedToken | undefined = undefined;
  #tokenReason: TokenReason | undefined = undefined;
  #flight: Promise<CachedToken> | undefined = undefined;
  #backgroundFailedAt = Number.NEGATIVE_INFINITY;
  readonly #tokens = new Emitter<TokenEvent>();
  readonly #errors = new Emitter<TokenErrorEvent>();
  readonly onToken = this.#tokens.event;
  readonly onError = this.#errors.event;

  constructor(fetch: (reason: TokenReason) => Promise<CachedToken>, clock: Clock, o: TokenCacheOptions, prefix: string) {
    this.#fetch = fetch;
    this.#clock = clock;
    this.#aheadMs = o.refreshAheadMs === undefined ? DEFAULT_REFRESH_AHEAD_MS : integer(o.refreshAheadMs, `${prefix}.refreshAheadMs`, 0);
    this.#cooldownMs = o.refreshCooldownMs === undefined ? 5_000 : integer(o.refreshCooldownMs, `${prefix}.refreshCooldownMs`, 0);
    const errors = o.unauthorizedErrors ?? ['invalid_token', 'token_expired'];
    if (!Array.isArray(errors) || errors.some((e) => typeof e !== 'string')) {
      throw new InvalidOptionError(`${prefix}.unauthorizedErrors`, 'an array of strings', errors);
    }
    this.#unauthorizedErrors = new Set(errors);
  }

  /** The token to use now: cached, or after the (shared) refresh. */
  get(signal?: AbortSignal): Promise<CachedToken> {
    const t = this.#token;
    if (t !== undefined) {
      if (t.expiresAt === undefined) return Promise.resolve(t);
      const now = this.#clock.now();
      const ahead = Math.min(this.#aheadMs, (t.expiresAt - t.obtainedAt) / 2);
      if (now < t.expiresAt - ahead) return Promise.resolve(t);
      if (now < t.expiresAt) {
        this.#background(now);
        return Promise.resolve(t);
      }
    }
    return wait(this.#refresh(t === undefined ? 'initial' : 'expired'), signal);
  }

  /** The `authorization` header value for a token. */
  static header(t: TokenSet): string {
    return `${t.tokenType} ${t.accessToken.reveal()}`;
  }

  /**
   * Handles a 401 for `HttpAuth.onUnauthorized`: true when the request should be sent again (with
   * a renewed token, or with one renewed since the request was sent).
   * @throws the refresh's error (e.g. `WEIR_AUTH_INVALID_GRANT`) when renewing failed.
   */
  async unauthorized(failure: AuthFailure): Promise<boolean> {
    if (failure.error !== undefined && !this.#unauthorizedErrors.has(failure.error)) return false;
    if (this.#flight !== undefined) {
      await wait(this.#flight, failure.request?.signal);
      return true;
    }
    const current = this.#token;
    const used = failure.request?.headers.authorization;
    if (current === undefined) {
      await wait(this.#refresh('unauthorized'), failure.request?.signal);
      return true;
    }
    if (used !== undefined && used !== TokenCache.header(current)) return true; // already renewed since that request was sent
    const fresh = this.#clock.now() - current.obtainedAt < this.#cooldownMs;
    // Without the request, a 401 just after a refresh was most likely sent with the previous token.
    if (used === undefined && fresh) return true;
    // A token that a 401 just renewed is refused too: renewing again would not help (and would loop).
    if (fresh && this.#tokenReason === 'unauthorized') return false;
    if (this.#token === current) this.#token = undefined;
    await wait(this.#refresh('unauthorized'), failure.request?.signal);
    return true;
  }

  /** Forgets the cached token; the next call fetches one. */
  clear(): void {
    this.#token = undefined;
  }

  #refresh(reason: TokenReason): Promise<CachedToken> {
    if (this.#flight !== undefined) return this.#flight;
    const flight = (async () => {
      try {
        const token = await this.#fetch(reason);
        this.#token = token;
        this.#tokenReason = reason;
        this.#tokens.emit({ reason, source: token.source, obtainedAt: token.obtainedAt, expiresAt: token.expiresAt });
        return token;
      } finally {
        this.#flight = undefined;
      }
    })();
    this.#flight = flight;
    // Every waiter may give up (its signal), so the flight itself must never be an unhandled rejection.
    flight.catch(() => undefined);
    return flight;
  }

  #background(now: number): void {
    if (this.#flight !== undefined || now - this.#backgroundFailedAt < BACKGROUND_RETRY_MS) return;
    this.#refresh('ahead').catch((error: unknown) => {
      this.#backgroundFailedAt = this.#clock.now();
      this.#errors.emit({ reason: 'ahead', error });
    });
  }
}

/** Waits for `promise` unless `signal` aborts first (then `WEIR_CANCELLED`); removes its listener either way. */
function wait<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(new CancelledError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CancelledError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
