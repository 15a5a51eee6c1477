import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { fn, integer } from '../internal/validate.js';
import type { IdempotencyBeginRequest, IdempotencyStore } from '../store/idempotency.js';
import type { Store, Transaction } from '../store/types.js';
import type { Middleware } from './compose.js';
import type { ServerContext } from './context.js';
import {
  decodeStored,
  encodeInit,
  parseIdempotencyKey,
  requestFingerprint,
  type StorableResponse,
  type StoredResponse,
  encodeStored,
} from './idempotency-key.js';
import { HttpError } from './problem.js';

/** Statuses that mean "refused before execution" by default: the key is released, not stored. */
export const NOT_EXECUTED_STATUSES: readonly number[] = [400, 401, 403, 404, 405, 406, 408, 413, 414, 415, 422, 429, 503];

export interface IdempotencyOptions {
  /**
   * Where records live: a Weir `Store` (SQLite, PostgreSQL: `ctx.idempotency.transaction()` then
   * commits the record with the handler's writes), or any `IdempotencyStore`
   * (`memoryIdempotencyStore()`, `redisIdempotencyStore()` from `weir/store/redis`).
   */
  store: Store | IdempotencyStore;
  /** How long a completed response is kept and replayed, in ms. Default 86_400_000 (24 h). */
  retentionMs?: number;
  /**
   * How long a first request may hold its key before another request may take it over (its
   * process is presumed dead), in ms. Default 60_000. Make it longer than your slowest handler.
   */
  lockMs?: number;
  /** Methods the middleware applies to; others pass through untouched. Default `['POST', 'PATCH']`. */
  methods?: readonly string[];
  /**
   * When a missing key is an error (400): `true`, a list of methods, or a predicate. Default: never
   * (a request without a key passes through without protection).
   */
  requireKeyFor?: boolean | readonly string[] | ((ctx: ServerContext) => boolean);
  /**
   * The namespace of keys, so two clients never share one. Default: the authenticated client's id
   * (`ctx.client`, set by `requireJwt`/`requireApiKey`/mTLS), else a digest of the credentials
   * (`Authorization`, `X-API-Key`), else `'anonymous'`.
   */
  scope?: (ctx: ServerContext) => string | Promise<string>;
  /** Request header carrying the key. Default `'idempotency-key'`. */
  header?: string;
  /** Longest accepted key. Default 255. */
  maxKeyLength?: number;
  /**
   * Whether a response is stored (and replayed) or the key released. Default: stored when
   * execution began (`ctx.idempotency.markExecuted()` or `transaction()`) or its status is not in
   * {@link NOT_EXECUTED_STATUSES} — so a validation 400 does not burn the key, but a 500 is replayed.
   */
  shouldStore?: (res: Response, ctx: ServerContext) => boolean;
  /** The `Retry-After` of a 409 (the key is in flight), in ms. Default 1000. */
  inFlightRetryAfterMs?: number;
  clock?: Clock;
}

/** The idempotent request in progress: `ctx.idempotency`, for the handler. */
export interface IdempotentRequest {
  readonly scope: string;
  readonly key: string;
  readonly fingerprint: string;
  /** Marks that execution began: whatever the response (a 4xx included), it is stored and replayed. */
  markExecuted(): void;
  /**
   * Runs `fn` in the store's transaction and stores its response in the same transaction: after
   * the commit, a crash before the response reaches the client leads to a replay on retry, never to
   * a second execution. On SQLite `fn` must be synchronous. Returns the response to send.
   * @throws InvalidOptionError when the store cannot share a transaction (memory, Redis);
   * HttpError 409 `WEIR_IDEMPOTENCY_IN_FLIGHT` (rolled back) when the lock expired and was taken over.
   */
  transaction(fn: (tx: Transaction) => StorableResponse | Promise<StorableResponse>): Promise<Response>;
}

const DEFAULTS = {
  retentionMs: 86_400_000,
  lockMs: 60_000,
  methods: ['POST', 'PATCH'],
  header: 'idempotency-key',
  maxKeyLength: 255,
  inFlightRetryAfterMs: 1000,
} as const;

function isStore(value: Store | IdempotencyStore): value is Store {
  return typeof (value as Store).transaction === 'function' && typeof (value as Store).idempotency === 'object';
}

/** The default scope: who is calling, as far as the request says. */
export function defaultIdempotencyScope(ctx: ServerContext): string {
  if (ctx.client !== undefined) return `client:${ctx.client.id}`;
  const credential = ctx.header('authorization') ?? ctx.header('x-api-key');
  if (credential !== undefined) return `credential:${createHash('sha256').update(credential).digest('base64url').slice(0, 32)}`;
  return 'anonymous';
}

/**
 * Makes unsafe requests safe to retry, after the IETF Idempotency-Key draft and Stripe: the first
 * request with a key executes and its status, headers and body are stored (errors included); a
 * retry gets the stored response with `Idempotent-Replayed: true`; the same key with another
 * method, path or body → 422; while the first is in flight → 409 with `Retry-After`; a missing key
 * where required → 400; a malformed key → 400. Every error is `application/problem+json`.
 * Keys are scoped per client. Import from `weir/server`.
 *
 * Exactly one execution per key, even across processes: the store's `begin()` is atomic.
 *
 * @throws InvalidOptionError naming the option (`idempotency.store`, `idempotency.retentionMs`, …).
 * @example
 * ```ts
 * const store = await openStore('sqlite:./weir.db');
 * app.use(weir(idempotency({ store, requireKeyFor: ['POST'] })));
 * // in a handler: commit the record with your writes
 * return ctx.idempotency!.transaction((tx) => {
 *   insertOrder(tx, order);
 *   store.queue.enqueue(tx, [message], Date.now());
 *   return { status: 201, json: order };
 * });
 * ```
 */
export function idempotency(options: IdempotencyOptions): Middleware {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('idempotency', 'an options object', options);
  const given = options.store as Store | IdempotencyStore | undefined;
  if (typeof given !== 'object' || given === null) throw new InvalidOptionError('idempotency.store', 'a Store or an IdempotencyStore', given);
  const full = isStore(given) ? given : undefined;
  const store: IdempotencyStore = full === undefined ? (given as IdempotencyStore) : full.idempotency;
  if (typeof store.begin !== 'function' || typeof store.complete !== 'function' || typeof store.release !== 'function') {
    throw new InvalidOptionError('idempotency.store', 'a Store or an IdempotencyStore', given);
  }
  const retentionMs = integer(options.retentionMs ?? DEFAULTS.retentionMs, 'idempotency.retentionMs', 1);
  const lockMs = integer(options.lockMs ?? DEFAULTS.lockMs, 'idempotency.lockMs', 1);
  const methods = new Set((options.methods ?? DEFAULTS.methods).map((m) => String(m).toUpperCase()));
  const header = (options.header ?? DEFAULTS.header).toLowerCase();
  const maxKeyLength = integer(options.maxKeyLength ?? DEFAULTS.maxKeyLength, 'idempotency.maxKeyLength', 1, 8192);
  const retryAfter = String(Math.max(1, Math.ceil(integer(options.inFlightRetryAfterMs ?? DEFAULTS.inFlightRetryAfterMs, 'idempotency.inFlightRetryAfterMs', 0) / 1000)));
  const scopeOf = options.scope === undefined ? defaultIdempotencyScope : fn<(ctx: ServerContext) => string | Promise<string>>(options.scope, 'idempotency.scope');
  const required = requirement(options.requireKeyFor);
  const notExecuted = new Set(NOT_EXECUTED_STATUSES);
  const shouldStore = options.shouldStore === undefined ? undefined : fn<(res: Response, ctx: ServerContext) => boolean>(options.shouldStore, 'idempotency.shouldStore');
  const clock = options.clock ?? systemClock;

  return async function idempotencyMiddleware(ctx, next) {
    if (!methods.has(ctx.method)) return next();
    const raw = ctx.header(header);
    if (raw === undefined) {
      if (required(ctx)) throw new HttpError('WEIR_IDEMPOTENCY_KEY_MISSING', 400, `This request requires an ${header} header.`, { extensions: { header } });
      return next();
    }
    const parsed = parseIdempotencyKey(raw, maxKeyLength);
    if ('problem' in parsed) {
      throw new HttpError('WEIR_IDEMPOTENCY_KEY_INVALID', 400, `The ${header} header is not a valid key (${parsed.problem}).`, {
        extensions: { header, reason: parsed.problem, maxLength: maxKeyLength },
      });
    }
    const scoped = scopeOf(ctx);
    const scope = typeof scoped === 'string' ? scoped : await scoped;
    const fingerprint = requestFingerprint(ctx.method, ctx.target, await ctx.body());
    const now = clock.now();
    const request: IdempotencyBeginRequest = { scope, key: parsed.key, fingerprint, now, lockMs, ttlMs: retentionMs };
    const begun = await store.begin(request);
    if (begun.status === 'mismatch') {
      throw new HttpError('WEIR_IDEMPOTENCY_CONFLICT', 422, 'This idempotency key was already used with another request (method, path or body).', {
        extensions: { key: parsed.key },
      });
    }
    if (begun.status === 'in_flight') {
      throw new HttpError('WEIR_IDEMPOTENCY_IN_FLIGHT', 409, 'A request with this idempotency key is still being processed; retry later.', {
        headers: { 'retry-after': retryAfter },
        retryAfterMs: Number(retryAfter) * 1000,
        extensions: { key: parsed.key },
      });
    }
    if (begun.status === 'completed') {
      ctx.res = decodeStored(begun.record.response, true);
      return;
    }

    // Acquired: this request executes. Its fencing token is the lockedUntil it set.
    const lockedUntil = now + lockMs;
    const handle = new Handle(scope, parsed.key, fingerprint, lockedUntil, store, full, retentionMs, clock);
    ctx.idempotency = handle;
    try {
      await next();
    } catch (err) {
      // Only an adapter's downstream can throw here (compose turns errors into responses): the
      // request's fate is unknown to us, so free the key for a retry.
      if (!handle.completed) await store.release(scope, parsed.key, lockedUntil).catch(() => undefined);
      throw err;
    }
    if (handle.completed) {
      // Stored in the handler's transaction. If the framework changed the response on its way out
      // (a charset added to Content-Type, …), store what the client actually got, so replays match it.
      const snap = await ctx.snapshot();
      if (snap === undefined) return;
      const stored = encodeStored(snap.status, snap.headers, snap.body);
      if (JSON.stringify(stored) !== JSON.stringify(handle.stored)) {
        await store.complete(scope, parsed.key, stored, clock.now(), retentionMs).catch(() => false);
      }
      return;
    }
    const snap = await ctx.snapshot();
    const keep =
      snap !== undefined && (handle.executed || (shouldStore === undefined ? !notExecuted.has(snap.status) : shouldStore(ctx.res as Response, ctx)));
    if (!keep) {
      await store.release(scope, parsed.key, lockedUntil).catch(() => undefined);
      return;
    }
    const stored = encodeStored(snap.status, snap.headers, snap.body);
    try {
      await store.complete(scope, parsed.key, stored, clock.now(), retentionMs, lockedUntil);
    } catch {
      // A failed write leaves the key in flight until its lock expires: the client still gets its answer.
    }
  };
}

function requirement(value: IdempotencyOptions['requireKeyFor']): (ctx: ServerContext) => boolean {
  if (value === undefined || value === false) return () => false;
  if (value === true) return () => true;
  if (typeof value === 'function') return value;
  if (Array.isArray(value)) {
    const set = new Set(value.map((m) => String(m).toUpperCase()));
    return (ctx) => set.has(ctx.method);
  }
  throw new InvalidOptionError('idempotency.requireKeyFor', 'a boolean, a list of methods or a function', value);
}

class Handle implements IdempotentRequest {
  executed = false;
  completed = false;
  /** What `transaction()` committed. */
  stored: StoredResponse | undefined = undefined;

  constructor(
    readonly scope: string,
    readonly key: string,
    readonly fingerprint: string,
    private readonly lockedUntil: number,
    private readonly store: IdempotencyStore,
    private readonly full: Store | undefined,
    private readonly retentionMs: number,
    private readonly clock: Clock,
  ) {}

  markExecuted(): void {
    this.executed = true;
  }

  async transaction(work: (tx: Transaction) => StorableResponse | Promise<StorableResponse>): Promise<Response> {
    const completeIn = this.store.completeIn?.bind(this.store);
    if (this.full === undefined || completeIn === undefined) {
      throw new InvalidOptionError('idempotency.store', 'a Store that shares transactions (SQLite, PostgreSQL) to use transaction()', this.store);
    }
    this.executed = true;
    let stored: StoredResponse | undefined;
    const finish = (tx: Transaction, init: StorableResponse): StorableResponse | Promise<StorableResponse> => {
      stored = encodeInit(init);
      const done = completeIn(tx, {
        scope: this.scope,
        key: this.key,
        response: stored,
        now: this.clock.now(),
        ttlMs: this.retentionMs,
        lockedUntil: this.lockedUntil,
      });
      const check = (ok: boolean): StorableResponse => {
        if (!ok) throw lockLost(this.key);
        return init;
      };
      return typeof done === 'boolean' ? check(done) : done.then(check);
    };
    await this.full.transaction((tx) => {
      const out = work(tx);
      return isPromise(out) ? out.then((init) => finish(tx, init)) : finish(tx, out);
    });
    this.completed = true;
    this.stored = stored;
    return decodeStored(stored, false);
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function lockLost(key: string): HttpError {
  return new HttpError('WEIR_IDEMPOTENCY_IN_FLIGHT', 409, 'The idempotency lock expired and another request took it over; nothing was committed.', {
    headers: { 'retry-after': '1' },
    extensions: { key },
  });
}
