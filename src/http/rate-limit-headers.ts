import { parseHttpDate } from '../internal/http-date.js';
import { type BareItem, isInnerList, parseDictionary, parseList, textOf } from '../internal/structured-fields.js';
import { finite } from '../internal/validate.js';

/**
 * Every rate-limit header dialect a server may speak, read into one signal. Import from `weir/http`.
 * See docs/http.md for the dialects, the precedence rules and the header names.
 */

/** Which dialect the winning signal came from. */
export type RateLimitSource = 'retry-after' | 'ratelimit' | 'x-ratelimit' | 'github';

/** One quota the server told about. `quota`/`windowSeconds` are absent when no policy describes it. */
export interface RateLimitPolicy {
  /** The policy name (`""` for the unnamed policy of the older drafts and legacy headers). */
  readonly name: string;
  /** Quota units per window (`q`). */
  readonly quota?: number;
  /** Window length in seconds (`w`). */
  readonly windowSeconds?: number;
  /** Units left in the current window (`r`). */
  readonly remaining?: number;
  /** Seconds until the window resets (`t`), as the server said it. */
  readonly resetSeconds?: number;
}

/** What a response said about rate limits, from every dialect present, reduced to one signal. */
export interface RateLimitSignal {
  readonly source: RateLimitSource;
  /** The smallest remaining quota among the policies. */
  readonly remaining?: number;
  /** The quota of the policy with the smallest remaining. */
  readonly limit?: number;
  /** When that policy resets, epoch ms on the local clock. */
  readonly resetAt?: number;
  /** Send nothing to this server before this time (epoch ms, local clock). */
  readonly holdUntil?: number;
  /** Every named quota, when the server described them (IETF `RateLimit-Policy`, OpenAI-style suffixes). */
  readonly policies?: readonly RateLimitPolicy[];
  /** True when the server asked for a wait longer than `maxMs`, which was cut to `maxMs`. */
  readonly capped?: boolean;
  /** `'age'`: the response came from a cache (`Age > 0`), so it says nothing about now; no hold is set. */
  readonly ignored?: 'age';
}

/** Response headers as a Fetch `Headers`, or a Node/undici record (`string[]` for repeated lines). */
export type HeadersLike = Headers | Readonly<Record<string, string | readonly string[] | number | undefined>>;

/** The longest hold a server can impose unless told otherwise: one hour. */
export const DEFAULT_MAX_HOLD_MS = 3_600_000;

export interface ParseRetryAfterOptions {
  /** The local time the response arrived, epoch ms. */
  now: number;
  /** The response's `Date` header: an HTTP-date in Retry-After is measured from it (the server's clock). */
  date?: string | null | undefined;
  /** Longer delays are cut to this, with `capped: true`. Default {@link DEFAULT_MAX_HOLD_MS} (1 h). */
  maxMs?: number;
}

/**
 * Parses a `Retry-After` value: delay-seconds (`120`) or an HTTP-date in any of its three forms.
 * A date is measured from the response `Date` when given (so a skewed local clock does not matter),
 * else from `now`; a date in the past means 0. Anything else (`-1`, `1.5`, `soon`) gives `undefined`.
 *
 * @returns `{ delayMs, capped }`, or `undefined` when the value is absent or malformed.
 * @throws {InvalidOptionError} when `now` or `maxMs` is not a finite number ≥ 0.
 * @example
 * ```ts
 * parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', { now: Date.now(), date: res.headers.get('date') })
 * ```
 */
export function parseRetryAfter(
  value: string | null | undefined,
  o: ParseRetryAfterOptions,
): { delayMs: number; capped: boolean } | undefined {
  finite(o.now, 'parseRetryAfter.now', 0);
  const maxMs = o.maxMs === undefined ? DEFAULT_MAX_HOLD_MS : finite(o.maxMs, 'parseRetryAfter.maxMs', 0);
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  let delayMs: number;
  if (/^\d+$/.test(text)) {
    delayMs = Number(text) * 1000; // may be Infinity for absurd digit strings: capped below
  } else {
    const at = parseHttpDate(text, o.now);
    if (at === undefined) return undefined;
    delayMs = Math.max(0, at - serverNow(o.date, o.now));
  }
  return delayMs > maxMs ? { delayMs: maxMs, capped: true } : { delayMs, capped: false };
}

export interface ParseRateLimitOptions {
  /** The local time the response arrived, epoch ms. */
  now: number;
  /** Holds longer than this are cut to it, with `capped: true`. Default {@link DEFAULT_MAX_HOLD_MS} (1 h). */
  maxMs?: number;
}

/**
 * Reads every rate-limit dialect in a response into one {@link RateLimitSignal}:
 * `Retry-After` (and `retry-after-ms`) on a 4xx/5xx; IETF `RateLimit` + `RateLimit-Policy` (current
 * draft), the older `RateLimit: limit=…, remaining=…, reset=…` dictionary and the three fields
 * `RateLimit-Limit/-Remaining/-Reset`; `X-RateLimit-*` (also `X-Rate-Limit-*`, `-requests`/`-tokens`
 * suffixes); GitHub's 403/429 with `x-ratelimit-remaining: 0`.
 *
 * Precedence: a valid Retry-After sets the hold (it beats every RateLimit dialect); otherwise the
 * most restrictive signal wins (latest hold, then smallest remaining). Remaining 0 with a known
 * reset holds until that reset. A cached response (`Age > 0`) yields `{ source, ignored: 'age' }`.
 *
 * @returns the signal, or `undefined` when the response carries no rate-limit information.
 * @throws {InvalidOptionError} when `now` or `maxMs` is not a finite number ≥ 0.
 * @example
 * ```ts
 * const rl = parseRateLimitSignal(res.status, res.headers, { now: clock.now() });
 * if (rl?.holdUntil !== undefined) await clock.sleep(rl.holdUntil - clock.now());
 * ```
 */
export function parseRateLimitSignal(status: number, headers: HeadersLike, o: ParseRateLimitOptions): RateLimitSignal | undefined {
  finite(o.now, 'parseRateLimitSignal.now', 0);
  const maxMs = o.maxMs === undefined ? DEFAULT_MAX_HOLD_MS : finite(o.maxMs, 'parseRateLimitSignal.maxMs', 0);
  const get = headerReader(headers);
  const ctx: Context = { now: o.now, maxMs, serverNow: serverNow(get('date')?.[0], o.now) };

  const others = [legacy(status, get, ctx), ietf(get, ctx)].filter((c): c is RateLimitSignal => c !== undefined);
  const best = others.reduce<RateLimitSignal | undefined>((a, b) => (a === undefined || moreRestrictive(b, a) ? b : a), undefined);
  let signal = best;
  const retry = status >= 400 ? retryAfter(get, o.now, get('date')?.[0], maxMs) : undefined;
  if (retry !== undefined) {
    const { holdUntil: _ignored, capped: _c, source: _s, ...info } = best ?? { source: 'retry-after' };
    signal = { ...info, source: 'retry-after', holdUntil: o.now + retry.delayMs, ...(retry.capped ? { capped: true } : {}) };
  }
  if (signal === undefined) return undefined;
  const age = firstNumber(get('age'));
  return age !== undefined && age > 0 ? { source: signal.source, ignored: 'age' } : signal;
}

// ---------------------------------------------------------------------------------------------

interface Context {
  now: number;
  maxMs: number;
  /** The server's clock at the response, epoch ms (its `Date`, else `now`). */
  serverNow: number;
}
type Reader = (name: string) => string[] | undefined;

function serverNow(date: string | null | undefined, now: number): number {
  return (typeof date === 'string' ? parseHttpDate(date, now) : undefined) ?? now;
}

/** All field lines of a header, by lower-case name. A Fetch `Headers` gives them already joined. */
function headerReader(headers: HeadersLike): Reader {
  if (typeof (headers as Headers).get === 'function') {
    const h = headers as Headers;
    return (name) => {
      const v = h.get(name);
      return v === null ? undefined : [v];
    };
  }
  const lines = new Map<string, string[]>();
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    const name = key.toLowerCase();
    const list = lines.get(name) ?? [];
    for (const v of Array.isArray(value) ? value : [value]) list.push(String(v));
    lines.set(name, list);
  }
  return (name) => lines.get(name);
}

/** Retry-After may arrive repeated ("120, 120" once joined): the longest valid delay counts. */
function retryAfter(get: Reader, now: number, date: string | undefined, maxMs: number) {
  const ms = firstNumber(get('retry-after-ms'));
  if (ms !== undefined) return ms > maxMs ? { delayMs: maxMs, capped: true } : { delayMs: ms, capped: false };
  const values = (get('retry-after') ?? []).flatMap((v) => (/^\s*\d+(\s*,\s*\d+)+\s*$/.test(v) ? v.split(',') : [v]));
  let best: { delayMs: number; capped: boolean } | undefined;
  for (const v of values) {
    const r = parseRetryAfter(v, { now, date, maxMs });
    if (r !== undefined && (best === undefined || r.delayMs > best.delayMs)) best = r;
  }
  return best;
}

/** The first number of a single-valued field (repeated lines or "59, 59" use the first). */
function firstNumber(lines: string[] | undefined): number | undefined {
  const text = lines?.[0]?.split(',')[0]?.trim();
  return text !== undefined && /^\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
}

/**
 * A reset value to local epoch ms. Numbers are told apart by magnitude: below 1e9 they are delta
 * seconds (1e9 s is 31 years), below 1e12 epoch seconds, else epoch milliseconds. Epoch values are
 * measured against the server's `Date` when present, so local clock skew does not shift the hold.
 */
function resetFromNumber(value: number, ctx: Context): number {
  if (value < 1e9) return ctx.now + value * 1000;
  const epochMs = value < 1e12 ? value * 1000 : value;
  return ctx.now + Math.max(0, epochMs - ctx.serverNow);
}

function resetFromText(lines: string[] | undefined, ctx: Context): number | undefined {
  const n = firstNumber(lines);
  if (n !== undefined) return resetFromNumber(n, ctx);
  const at = lines?.[0] === undefined ? undefined : parseHttpDate(lines[0], ctx.now);
  return at === undefined ? undefined : ctx.now + Math.max(0, at - ctx.serverNow);
}

/** Go-style durations as OpenAI sends them in `x-ratelimit-reset-requests`: `1s`, `6m0s`, `59.6ms`. */
function goDurationMs(text: string | undefined): number | undefined {
  if (text === undefined || !/^(\d+(\.\d+)?(h|ms|m|s|us|µs|ns))+$/.test(text.trim())) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };
  let total = 0;
  for (const m of text.trim().matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) total += Number(m[1]) * (unit[m[2] as string] ?? 0);
  return total;
}

interface Entry {
  name: string;
  quota?: number | undefined;
  windowSeconds?: number | undefined;
  remaining?: number | undefined;
  resetSeconds?: number | undefined;
  resetAt?: number | undefined;
}

/** Reduces one dialect's quotas to a signal: the smallest remaining restricts; exhausted quotas hold. */
function derive(source: RateLimitSource, entries: Entry[], ctx: Context, withPolicies: boolean): RateLimitSignal | undefined {
  if (entries.length === 0) return undefined;
  let restricting: Entry | undefined;
  let holdUntil: number | undefined;
  for (const e of entries) {
    if (e.remaining !== undefined) {
      const tighter = restricting?.remaining === undefined || e.remaining < restricting.remaining;
      const tie = restricting?.remaining === e.remaining && (e.resetAt ?? -1) > (restricting?.resetAt ?? -1);
      if (tighter || tie) restricting = e;
    }
    if (e.remaining === 0 && e.resetAt !== undefined) holdUntil = Math.max(holdUntil ?? 0, e.resetAt);
  }
  restricting ??= entries.find((e) => e.quota !== undefined || e.resetAt !== undefined);
  const capped = holdUntil !== undefined && holdUntil - ctx.now > ctx.maxMs;
  const signal: RateLimitSignal = {
    source,
    ...(restricting?.remaining === undefined ? {} : { remaining: restricting.remaining }),
    ...(restricting?.quota === undefined ? {} : { limit: restricting.quota }),
    ...(restricting?.resetAt === undefined ? {} : { resetAt: restricting.resetAt }),
    ...(holdUntil === undefined ? {} : { holdUntil: capped ? ctx.now + ctx.maxMs : holdUntil }),
    ...(capped ? { capped: true } : {}),
    ...(withPolicies ? { policies: entries.map(toPolicy) } : {}),
  };
  return Object.keys(signal).length > 1 ? signal : undefined;
}

function toPolicy(e: Entry): RateLimitPolicy {
  const p: { -readonly [K in keyof RateLimitPolicy]: RateLimitPolicy[K] } = { name: e.name };
  if (e.quota !== undefined) p.quota = e.quota;
  if (e.windowSeconds !== undefined) p.windowSeconds = e.windowSeconds;
  if (e.remaining !== undefined) p.remaining = e.remaining;
  if (e.resetSeconds !== undefined) p.resetSeconds = e.resetSeconds;
  return p;
}

function moreRestrictive(a: RateLimitSignal, b: RateLimitSignal): boolean {
  const ha = a.holdUntil ?? -1;
  const hb = b.holdUntil ?? -1;
  if (ha !== hb) return ha > hb;
  return (a.remaining ?? Number.POSITIVE_INFINITY) < (b.remaining ?? Number.POSITIVE_INFINITY);
}

/** A non-negative number from a bare item (Integer, or Decimal when `decimal`). */
function count(item: BareItem | undefined, decimal = false): number | undefined {
  if (item === undefined || !(item.type === 'integer' || (decimal && item.type === 'decimal'))) return undefined;
  return item.value >= 0 ? item.value : undefined;
}

/** IETF fields: the current draft's `RateLimit` list, or the older dictionary / three-field forms. */
function ietf(get: Reader, ctx: Context): RateLimitSignal | undefined {
  const policies: Entry[] = [];
  for (const m of parseList(get('ratelimit-policy') ?? []) ?? []) {
    if (isInnerList(m)) continue;
    const name = textOf(m.value);
    // Current draft: "name";q=100;w=60. Drafts up to 07: 100;w=60 (the item is the quota, unnamed).
    const quota = name === undefined ? count(m.value) : count(m.params.get('q'));
    if (quota !== undefined) policies.push({ name: name ?? '', quota, windowSeconds: count(m.params.get('w'), true) });
  }
  const lines = get('ratelimit') ?? [];
  const list = lines.length > 0 ? parseList(lines) : null;
  if (list !== null && list.length > 0) {
    const entries = [...policies];
    for (const m of list) {
      if (isInnerList(m)) continue;
      const name = textOf(m.value);
      const remaining = count(m.params.get('r'));
      if (name === undefined || remaining === undefined) continue;
      const t = count(m.params.get('t'), true);
      const i = entries.findIndex((p) => p.name === name);
      const e: Entry = { ...entries[i], name, remaining, resetSeconds: t, resetAt: t === undefined ? undefined : ctx.now + t * 1000 };
      if (i >= 0) entries[i] = e;
      else entries.push(e);
    }
    return derive('ratelimit', entries, ctx, true);
  }
  const dict = lines.length > 0 ? parseDictionary(lines) : null;
  const field = (key: string, legacyField: string): number | undefined => {
    const m = dict?.get(key) ?? parseList(get(legacyField) ?? [])?.[0];
    return m === undefined || isInnerList(m) ? undefined : count(m.value, true);
  };
  const limit = field('limit', 'ratelimit-limit');
  const remaining = field('remaining', 'ratelimit-remaining');
  const reset = field('reset', 'ratelimit-reset');
  if (limit === undefined && remaining === undefined && reset === undefined) return derive('ratelimit', policies, ctx, true);
  const own = policies.find((p) => p.name === '' && p.quota === limit);
  const entry: Entry = {
    name: '',
    quota: limit,
    windowSeconds: own?.windowSeconds,
    remaining,
    resetSeconds: reset !== undefined && reset < 1e9 ? reset : undefined,
    resetAt: reset === undefined ? undefined : resetFromNumber(reset, ctx),
  };
  return derive('ratelimit', [entry, ...policies.filter((p) => p !== own)], ctx, policies.length > 0);
}

/** `X-RateLimit-*` / `X-Rate-Limit-*`, OpenAI's `-requests`/`-tokens`, and GitHub's 403/429. */
function legacy(status: number, get: Reader, ctx: Context): RateLimitSignal | undefined {
  const pick = (suffix: string) => get(`x-ratelimit-${suffix}`) ?? get(`x-rate-limit-${suffix}`);
  const entries: Entry[] = [];
  const main: Entry = { name: '', quota: firstNumber(pick('limit')), remaining: firstNumber(pick('remaining')) };
  const after = firstNumber(get('x-ratelimit-reset-after'));
  main.resetAt = after !== undefined ? ctx.now + after * 1000 : resetFromText(pick('reset'), ctx);
  if (main.quota !== undefined || main.remaining !== undefined || main.resetAt !== undefined) entries.push(main);
  for (const kind of ['requests', 'tokens']) {
    const e: Entry = { name: kind, quota: firstNumber(pick(`limit-${kind}`)), remaining: firstNumber(pick(`remaining-${kind}`)) };
    const ms = goDurationMs(pick(`reset-${kind}`)?.[0]);
    if (ms !== undefined) e.resetAt = ctx.now + ms;
    if (e.quota !== undefined || e.remaining !== undefined || e.resetAt !== undefined) entries.push(e);
  }
  const named = entries.some((e) => e.name !== '');
  const github = (status === 403 || status === 429) && main.remaining === 0;
  return derive(github ? 'github' : 'x-ratelimit', entries, ctx, named);
}
