import { finite } from '../../internal/validate.js';
import type { SimReply } from './server.js';

/** A token bucket: `perSecond` tokens a second, at most `burst`. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

/** @internal */
export class TokenBucket {
  private tokens: number;
  private at: number;
  constructor(readonly limit: RateLimit, now: number) {
    this.tokens = limit.burst;
    this.at = now;
  }

  /** Takes a token: undefined when granted, else the ms until one frees. */
  take(now: number): number | undefined {
    this.refill(now);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return undefined;
    }
    return ((1 - this.tokens) / this.limit.perSecond) * 1000;
  }

  remaining(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  /** Seconds until the bucket is full again. */
  resetSeconds(now: number): number {
    this.refill(now);
    return Math.ceil(((this.limit.burst - this.tokens) / this.limit.perSecond));
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + (Math.max(0, now - this.at) / 1000) * this.limit.perSecond);
    this.at = now;
  }
}

/** @internal */
export function rateLimitOption(value: RateLimit | undefined, option: string, fallback: RateLimit): RateLimit {
  if (value === undefined) return fallback;
  const perSecond = finite(value.perSecond, `${option}.perSecond`, Number.MIN_VALUE);
  return { perSecond, burst: finite(value.burst ?? Math.max(1, perSecond), `${option}.burst`, 1) };
}

/** @internal A JSON answer. */
export function reply(status: number, body?: unknown, commit = false): SimReply {
  return commit ? { status, body, commit } : { status, body };
}

/** @internal Parses a JSON object body; undefined when it is not one. */
export function jsonObject(raw: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(raw === '' ? '{}' : raw);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** @internal `If-Match: 3`, `"3"` or `W/"3"` → 3; undefined when absent; NaN when malformed. */
export function ifMatch(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(v);
  return m === null ? Number.NaN : Number(m[1]);
}

/** A record with the fields paging needs. */
interface Pageable {
  readonly id: string;
  readonly updated_at: string;
}

/**
 * @internal `GET …?updated_since=&after=&limit=` over records ordered by `(updated_at, id)`:
 * `updated_since` inclusive, cursor opaque (base64url of the last key), `limit` 1..max.
 */
export function page<T extends Pageable>(all: Iterable<T>, query: URLSearchParams, maxLimit: number): SimReply {
  const limitText = query.get('limit');
  const limit = limitText === null ? maxLimit : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxLimit) return reply(400, { error: 'invalid_limit', max: maxLimit });
  const sinceText = query.get('updated_since');
  const since = sinceText === null ? undefined : Date.parse(sinceText);
  if (since !== undefined && Number.isNaN(since)) return reply(400, { error: 'invalid_updated_since' });
  let after: [string, string] | undefined;
  const cursor = query.get('after');
  if (cursor !== null) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
      if (!Array.isArray(parsed) || typeof parsed[0] !== 'string' || typeof parsed[1] !== 'string') throw new Error('bad cursor');
      after = [parsed[0], parsed[1]];
    } catch {
      return reply(400, { error: 'invalid_cursor' });
    }
  }
  const key = (r: Pageable): [number, string] => [Date.parse(r.updated_at), r.id];
  const afterKey: [number, string] | undefined = after === undefined ? undefined : [Date.parse(after[0]), after[1]];
  const rows = [...all]
    .filter((r) => since === undefined || Date.parse(r.updated_at) >= since)
    .filter((r) => afterKey === undefined || compare(key(r), afterKey) > 0)
    .toSorted((a, b) => compare(key(a), key(b)));
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const next = rows.length > limit && last !== undefined ? Buffer.from(JSON.stringify([last.updated_at, last.id])).toString('base64url') : null;
  return reply(200, { items: items.map((i) => structuredClone(i)), next });
}

function compare(a: [number, string], b: [number, string]): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

/** @internal A strictly increasing ISO-8601 ms timestamp on a system's (skewed) clock. */
export class Stamp {
  private last = 0;
  constructor(private readonly now: () => number) {}
  next(): string {
    this.last = Math.max(this.now(), this.last + 1);
    return new Date(this.last).toISOString();
  }
}
