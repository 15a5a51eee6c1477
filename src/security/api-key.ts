import { inspect } from 'node:util';
import { InvalidOptionError, WeirError } from '../errors.js';
import type { AuthFailure, AuthRequest, HttpAuth } from '../http/auth.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { fn, integer } from '../internal/validate.js';
import { constantTimeEqual } from './hmac.js';
import { toSecret } from './oauth2-token-request.js';
import type { Secret } from './secret.js';

/** One key of an {@link apiKeyRing}. Times are epoch ms or `Date`s. */
export interface ApiKey {
  /** A name for logs and events (never the key itself), e.g. `'2026-03'`. Unique in the ring. */
  readonly id: string;
  /** The key: a {@link Secret} (from `secret('NAME')`), or a string wrapped into one at once. */
  readonly secret: Secret | string;
  /** Not sent before this time. Default: usable at once. */
  readonly notBefore?: Date | number;
  /** Not sent from this time on. Default: never expires. */
  readonly expiresAt?: Date | number;
}

export interface ApiKeyRingOptions {
  /** The keys; at least one. The newest usable key is sent (see {@link ApiKeyRing}). */
  keys: readonly ApiKey[];
  /** The header that carries the key, e.g. `'x-api-key'`. Default `'authorization'`. */
  header?: string;
  /** Written before the key, separated by a space: `'Bearer'` by default on `authorization`, none on other headers; `''` for none. */
  scheme?: string;
  /** Warn (`onExpiryWarning`) this many ms before a key expires. Default 7 days. */
  warnBeforeMs?: number;
  /** A key the server refused (401) is skipped for this many ms while another key is usable. Default 600 000 (10 min). */
  refusedForMs?: number;
  /** Default: the system clock. */
  clock?: Clock;
}

/** The state of a key at a given time. */
export type ApiKeyState = 'pending' | 'active' | 'refused' | 'expired';

/** What {@link ApiKeyRing.keys} reports: never the key itself. */
export interface ApiKeyInfo {
  readonly id: string;
  readonly state: ApiKeyState;
  readonly notBefore: number | undefined;
  readonly expiresAt: number | undefined;
  /** True for the key `apply()` sends now. */
  readonly current: boolean;
}

/** Emitted once per key when it comes within `warnBeforeMs` of expiring. */
export interface ApiKeyExpiryWarning {
  readonly id: string;
  readonly expiresAt: number;
  readonly remainingMs: number;
  /** A key in the ring that stays usable after this one expires; `undefined` means: rotate now, or calls will fail. */
  readonly replacement: string | undefined;
}

interface Entry {
  readonly id: string;
  readonly secret: Secret;
  /** Order key: `notBefore`, or the time the key joined the ring. */
  readonly since: number;
  readonly seq: number;
  readonly notBefore: number | undefined;
  expiresAt: number | undefined;
  refusedAt: number | undefined;
  warned: boolean;
}

const HEADER = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * An API-key ring for outbound calls, as an `HttpAuth`: several keys may be valid at once, so a key
 * is rotated without downtime: add the new one (`rotate`), it is sent from then on, and the old one
 * stays in the ring for a fallback until it expires or is retired (`retire`). Import from `weir/security`.
 *
 * @throws {InvalidOptionError} at once for a bad option (e.g. `apiKeyRing.keys[1].id` duplicated).
 * @example
 * ```ts
 * const auth = apiKeyRing({ keys: [{ id: '2026-01', secret: secret('ESP_API_KEY'), expiresAt: Date.parse('2026-07-01') }] });
 * auth.onExpiryWarning((w) => log.warn(`ESP key ${w.id} expires in ${w.remainingMs} ms`));
 * auth.rotate({ id: '2026-06', secret: secret('ESP_API_KEY_NEXT') }, { overlapMs: 3_600_000 });
 * ```
 */
export function apiKeyRing(options: ApiKeyRingOptions): ApiKeyRing {
  return new ApiKeyRing(options);
}

/**
 * Which key is sent: the newest *usable* one, where newest means the latest `notBefore` (a key
 * without one counts from when it joined the ring; ties go to the later key) and usable means
 * `notBefore <= now < expiresAt` and not refused in the last `refusedForMs`.
 *
 * On a 401, when the connection passes `failure.request`, the ring marks the key that request
 * carried as refused and answers true (send again) if another usable key remains, so a revoked key
 * costs one retry, not an outage. Without `failure.request` it cannot tell which key was refused and
 * answers false.
 */
export class ApiKeyRing implements HttpAuth {
  readonly kind = 'api-key';
  readonly #header: string;
  readonly #scheme: string;
  readonly #warnBeforeMs: number;
  readonly #refusedForMs: number;
  readonly #clock: Clock;
  #keys: Entry[] = [];
  #seq = 0;
  readonly #warnings = new Emitter<ApiKeyExpiryWarning>();
  readonly #refusals = new Emitter<{ readonly id: string }>();
  /** Fires once per key when it comes within `warnBeforeMs` of expiring (seen by `apply` or `check`). */
  readonly onExpiryWarning = this.#warnings.event;
  /** Fires when a 401 marked a key as refused. */
  readonly onKeyRefused = this.#refusals.event;

  constructor(options: ApiKeyRingOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('apiKeyRing', 'an options object', options);
    const header = options.header ?? 'authorization';
    if (typeof header !== 'string' || !HEADER.test(header)) throw new InvalidOptionError('apiKeyRing.header', 'a header name', header);
    this.#header = header.toLowerCase();
    const scheme = options.scheme ?? (this.#header === 'authorization' ? 'Bearer' : '');
    if (typeof scheme !== 'string' || (scheme !== '' && !HEADER.test(scheme))) throw new InvalidOptionError('apiKeyRing.scheme', "an auth scheme such as 'Bearer', or ''", scheme);
    this.#scheme = scheme;
    this.#warnBeforeMs = options.warnBeforeMs === undefined ? 7 * 86_400_000 : integer(options.warnBeforeMs, 'apiKeyRing.warnBeforeMs', 0);
    this.#refusedForMs = options.refusedForMs === undefined ? 600_000 : integer(options.refusedForMs, 'apiKeyRing.refusedForMs', 0);
    if (options.clock !== undefined) fn(options.clock.now, 'apiKeyRing.clock.now');
    this.#clock = options.clock ?? systemClock;
    if (!Array.isArray(options.keys) || options.keys.length === 0) throw new InvalidOptionError('apiKeyRing.keys', 'a non-empty array of keys', options.keys);
    options.keys.forEach((k, i) => this.#add(k, `apiKeyRing.keys[${i}]`));
  }

  /**
   * Sets the header to the current key.
   * @throws WeirError `WEIR_AUTH_NO_CREDENTIAL` when no key is usable now (all pending, expired or retired).
   */
  apply(request: AuthRequest): void {
    const now = this.#clock.now();
    this.#warn(now);
    const key = this.#pick(now);
    if (key === undefined) {
      throw new WeirError('WEIR_AUTH_NO_CREDENTIAL', `No API key of the ring is usable now (${this.#keys.length} key(s), none active): rotate in a new key.`, {
        details: { kind: this.kind, reason: 'no_active_key', keys: this.keys().map(({ id, state }) => ({ id, state })) },
      });
    }
    request.headers[this.#header] = this.#value(key);
  }

  /** See the class description: true when another key will be sent. */
  onUnauthorized(failure: AuthFailure): boolean {
    const used = failure.request?.headers[this.#header];
    if (used === undefined) return false;
    const now = this.#clock.now();
    const usedBytes = Buffer.from(used);
    const key = this.#keys.find((k) => constantTimeEqual(Buffer.from(this.#value(k)), usedBytes));
    if (key === undefined) return this.#pick(now) !== undefined; // a key since retired: the current one differs
    if (key.refusedAt === undefined || now - key.refusedAt >= this.#refusedForMs) {
      key.refusedAt = now;
      this.#refusals.emit({ id: key.id });
    }
    const next = this.#pick(now);
    return next !== undefined && next !== key && this.#state(next, now) === 'active';
  }

  /**
   * Adds a key; being the newest, it is sent from its `notBefore` on (at once without one).
   * @param options.overlapMs when given, every other key expires at most this many ms from now.
   * @throws {InvalidOptionError} for a bad key or a duplicate id.
   */
  rotate(key: ApiKey, options: { overlapMs?: number } = {}): void {
    const overlapMs = options.overlapMs === undefined ? undefined : integer(options.overlapMs, 'apiKeyRing.rotate.overlapMs', 0);
    const added = this.#add(key, 'apiKeyRing.rotate.key');
    if (overlapMs === undefined) return;
    const until = this.#clock.now() + overlapMs;
    for (const k of this.#keys) if (k !== added && (k.expiresAt === undefined || k.expiresAt > until)) k.expiresAt = until;
  }

  /** Removes a key at once. @returns false when no key has that id. */
  retire(id: string): boolean {
    const before = this.#keys.length;
    this.#keys = this.#keys.filter((k) => k.id !== id);
    return this.#keys.length < before;
  }

  /** The keys and their state now, newest first; never a key's value. */
  keys(): ApiKeyInfo[] {
    const now = this.#clock.now();
    const current = this.#pick(now);
    return this.#sorted().map((k) => ({ id: k.id, state: this.#state(k, now), notBefore: k.notBefore, expiresAt: k.expiresAt, current: k === current }));
  }

  /** Emits the expiry warnings due now (each key warns once) and returns them; call it from a health check or at start. */
  check(): ApiKeyExpiryWarning[] {
    return this.#warn(this.#clock.now());
  }

  toJSON(): Record<string, unknown> {
    return { kind: this.kind, header: this.#header, keys: this.keys().map(({ id, state }) => ({ id, state })) };
  }
  toString(): string {
    return `ApiKeyRing(${this.#keys.map((k) => k.id).join(', ')})`;
  }
  [inspect.custom](): string {
    return `ApiKeyRing ${inspect(this.toJSON(), { depth: 3 })}`;
  }

  #add(k: ApiKey, option: string): Entry {
    if (typeof k !== 'object' || k === null) throw new InvalidOptionError(option, 'a key { id, secret }', k);
    if (typeof k.id !== 'string' || k.id === '') throw new InvalidOptionError(`${option}.id`, 'a non-empty string', k.id);
    if (this.#keys.some((e) => e.id === k.id)) throw new InvalidOptionError(`${option}.id`, 'an id not already in the ring', k.id);
    const secret = toSecret(k.secret, `${option}.secret`, `api_key_${k.id.replace(/[^A-Za-z0-9_]/g, '_')}`);
    if (hasControl(secret.reveal())) throw new InvalidOptionError(`${option}.secret`, 'a key without control characters', '<redacted>');
    const notBefore = time(k.notBefore, `${option}.notBefore`);
    const expiresAt = time(k.expiresAt, `${option}.expiresAt`);
    if (notBefore !== undefined && expiresAt !== undefined && expiresAt <= notBefore) throw new InvalidOptionError(`${option}.expiresAt`, 'a time after notBefore', k.expiresAt);
    const entry: Entry = { id: k.id, secret, since: notBefore ?? this.#clock.now(), seq: this.#seq++, notBefore, expiresAt, refusedAt: undefined, warned: false };
    this.#keys.push(entry);
    return entry;
  }

  #value(k: Entry): string {
    return this.#scheme === '' ? k.secret.reveal() : `${this.#scheme} ${k.secret.reveal()}`;
  }

  #state(k: Entry, now: number): ApiKeyState {
    if (k.notBefore !== undefined && now < k.notBefore) return 'pending';
    if (k.expiresAt !== undefined && now >= k.expiresAt) return 'expired';
    if (k.refusedAt !== undefined && now - k.refusedAt < this.#refusedForMs) return 'refused';
    return 'active';
  }

  #sorted(): Entry[] {
    return this.#keys.toSorted((a, b) => b.since - a.since || b.seq - a.seq);
  }

  /** The newest active key; when every usable key was refused, the newest of those (the refusal may have been the server's mistake). */
  #pick(now: number): Entry | undefined {
    const sorted = this.#sorted();
    return sorted.find((k) => this.#state(k, now) === 'active') ?? sorted.find((k) => this.#state(k, now) === 'refused');
  }

  #warn(now: number): ApiKeyExpiryWarning[] {
    const out: ApiKeyExpiryWarning[] = [];
    for (const k of this.#keys) {
      if (k.warned || k.expiresAt === undefined || now >= k.expiresAt || k.expiresAt - now > this.#warnBeforeMs) continue;
      k.warned = true;
      const end = k.expiresAt;
      const replacement = this.#keys.find((o) => o !== k && (o.expiresAt === undefined || o.expiresAt > end));
      const warning = { id: k.id, expiresAt: end, remainingMs: end - now, replacement: replacement?.id };
      out.push(warning);
      this.#warnings.emit(warning);
    }
    return out;
  }
}

function time(value: Date | number | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new InvalidOptionError(option, 'a Date or epoch ms', value);
  return ms;
}

/** A header value with CR, LF or another control character would break (or inject into) the request. */
function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}
