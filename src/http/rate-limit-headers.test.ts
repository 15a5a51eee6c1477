import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_HOLD_MS, parseRateLimitSignal, parseRetryAfter } from './rate-limit-headers.js';

// Local time of arrival; on a whole second so HTTP-dates (second precision) compare exactly.
const NOW = Date.UTC(2015, 9, 21, 7, 28, 0);
const http = (ms: number) => new Date(ms).toUTCString(); // IMF-fixdate
const headers = (init: Record<string, string | string[]>) => {
  const h = new Headers();
  for (const [k, v] of Object.entries(init)) for (const line of Array.isArray(v) ? v : [v]) h.append(k, line);
  return h;
};

describe('parseRetryAfter', () => {
  it('reads delay-seconds', () => {
    expect(parseRetryAfter('120', { now: NOW })).toEqual({ delayMs: 120_000, capped: false });
    expect(parseRetryAfter(' 0 ', { now: NOW })).toEqual({ delayMs: 0, capped: false });
  });

  it.each([
    ['IMF-fixdate', 'Wed, 21 Oct 2015 07:28:30 GMT'],
    ['RFC 850', 'Wednesday, 21-Oct-15 07:28:30 GMT'],
    ['asctime', 'Wed Oct 21 07:28:30 2015'],
  ])('reads an HTTP-date as %s, relative to now', (_form, value) => {
    expect(parseRetryAfter(value, { now: NOW })).toEqual({ delayMs: 30_000, capped: false });
  });

  it('measures a date from the response Date header (server clock), not the skewed local clock', () => {
    const localClockTwoMinutesAhead = NOW + 120_000;
    const r = parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', { now: localClockTwoMinutesAhead, date: http(NOW) });
    expect(r).toEqual({ delayMs: 30_000, capped: false });
  });

  it('ignores a malformed Date header and falls back to now', () => {
    expect(parseRetryAfter(http(NOW + 5000), { now: NOW, date: 'yesterday' })).toEqual({ delayMs: 5000, capped: false });
  });

  it('a date in the past means 0', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', { now: NOW })).toEqual({ delayMs: 0, capped: false });
    expect(parseRetryAfter(http(NOW - 1000), { now: NOW + 60_000, date: http(NOW) })).toEqual({ delayMs: 0, capped: false });
  });

  it.each([null, undefined, '', 'soon', '-1', '1.5', '+5', '1e3', '0x10', '12 s', '5, 6', 'Wed, 21 Oct 2015 07:28:30 UTC', 'Wed, 31 Feb 2015 07:28:30 GMT'])(
    'ignores %j',
    (value) => {
      expect(parseRetryAfter(value, { now: NOW })).toBeUndefined();
    },
  );

  it('caps absurd values at maxMs and says so', () => {
    expect(parseRetryAfter('99999999999', { now: NOW })).toEqual({ delayMs: DEFAULT_MAX_HOLD_MS, capped: true });
    expect(parseRetryAfter('9'.repeat(400), { now: NOW })).toEqual({ delayMs: DEFAULT_MAX_HOLD_MS, capped: true });
    expect(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', { now: NOW, maxMs: 60_000 })).toEqual({ delayMs: 60_000, capped: true });
    expect(parseRetryAfter('60', { now: NOW, maxMs: 60_000 })).toEqual({ delayMs: 60_000, capped: false });
  });

  it('validates its options eagerly', () => {
    expect(() => parseRetryAfter('1', { now: NOW, maxMs: -1 })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    expect(() => parseRetryAfter('1', { now: Number.NaN })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
  });
});

describe('parseRateLimitSignal: Retry-After', () => {
  it('holds until the named time on 429 and 503', () => {
    expect(parseRateLimitSignal(429, { 'retry-after': '30' }, { now: NOW })).toEqual({ source: 'retry-after', holdUntil: NOW + 30_000 });
    expect(parseRateLimitSignal(503, { 'Retry-After': http(NOW + 10_000), Date: http(NOW) }, { now: NOW })).toEqual({
      source: 'retry-after',
      holdUntil: NOW + 10_000,
    });
  });

  it('is not a rate limit on a success or a redirect', () => {
    expect(parseRateLimitSignal(200, { 'retry-after': '30' }, { now: NOW })).toBeUndefined();
    expect(parseRateLimitSignal(301, { 'retry-after': '30' }, { now: NOW })).toBeUndefined();
  });

  it('takes the longest of repeated values, whether as lines or joined', () => {
    expect(parseRateLimitSignal(429, { 'retry-after': ['20', '120'] }, { now: NOW })?.holdUntil).toBe(NOW + 120_000);
    expect(parseRateLimitSignal(429, headers({ 'retry-after': ['120', '120'] }), { now: NOW })?.holdUntil).toBe(NOW + 120_000);
    expect(parseRateLimitSignal(429, { 'retry-after': ['soon', '30'] }, { now: NOW })?.holdUntil).toBe(NOW + 30_000);
  });

  it('ignores a malformed value', () => {
    expect(parseRateLimitSignal(429, { 'retry-after': 'later' }, { now: NOW })).toBeUndefined();
  });

  it('caps a huge value and surfaces it', () => {
    expect(parseRateLimitSignal(429, { 'retry-after': '86400' }, { now: NOW })).toEqual({
      source: 'retry-after',
      holdUntil: NOW + DEFAULT_MAX_HOLD_MS,
      capped: true,
    });
    expect(parseRateLimitSignal(429, { 'retry-after': '86400' }, { now: NOW, maxMs: 5000 })?.holdUntil).toBe(NOW + 5000);
  });

  it('prefers retry-after-ms (milliseconds) when present', () => {
    expect(parseRateLimitSignal(429, { 'retry-after-ms': '1500', 'retry-after': '2' }, { now: NOW })?.holdUntil).toBe(NOW + 1500);
  });
});

describe('parseRateLimitSignal: IETF RateLimit (current draft)', () => {
  const policy = '"burst";q=100;w=60, "daily";q=1000;w=86400';

  it('reads several named policies and holds until the reset of an exhausted one', () => {
    const s = parseRateLimitSignal(200, { 'ratelimit-policy': policy, ratelimit: '"burst";r=40;t=10, "daily";r=0;t=1800' }, { now: NOW });
    expect(s).toEqual({
      source: 'ratelimit',
      remaining: 0,
      limit: 1000,
      resetAt: NOW + 1_800_000,
      holdUntil: NOW + 1_800_000,
      policies: [
        { name: 'burst', quota: 100, windowSeconds: 60, remaining: 40, resetSeconds: 10 },
        { name: 'daily', quota: 1000, windowSeconds: 86400, remaining: 0, resetSeconds: 1800 },
      ],
    });
  });

  it('combines the fields when split across header lines (string[] or a Headers object)', () => {
    const lines = { 'ratelimit-policy': ['"burst";q=100;w=60', '"daily";q=1000;w=86400'], ratelimit: ['"burst";r=3;t=10', '"daily";r=7;t=999'] };
    const fromRecord = parseRateLimitSignal(200, lines, { now: NOW });
    const fromHeaders = parseRateLimitSignal(200, headers(lines), { now: NOW });
    expect(fromRecord).toEqual(fromHeaders);
    expect(fromRecord).toMatchObject({ source: 'ratelimit', remaining: 3, limit: 100, resetAt: NOW + 10_000 });
    expect(fromRecord?.holdUntil).toBeUndefined();
    expect(fromRecord?.policies).toHaveLength(2);
  });

  it('accepts policy names as tokens and a limit without a policy', () => {
    const s = parseRateLimitSignal(200, { 'RateLimit-Policy': 'default;q=100;w=60', RateLimit: 'default;r=50;t=30, other;r=60' }, { now: NOW });
    expect(s).toMatchObject({ remaining: 50, limit: 100, resetAt: NOW + 30_000 });
    expect(s?.policies).toEqual([
      { name: 'default', quota: 100, windowSeconds: 60, remaining: 50, resetSeconds: 30 },
      { name: 'other', remaining: 60 },
    ]);
  });

  it('reports policies alone (RateLimit-Policy without RateLimit)', () => {
    const s = parseRateLimitSignal(200, { 'ratelimit-policy': policy }, { now: NOW });
    expect(s).toMatchObject({ source: 'ratelimit', limit: 100 });
    expect(s?.remaining).toBeUndefined();
    expect(s?.policies).toHaveLength(2);
  });

  it('ignores a field that is not a valid structured field', () => {
    expect(parseRateLimitSignal(200, { ratelimit: '"default";r=0;t=30,' }, { now: NOW })).toBeUndefined();
    expect(parseRateLimitSignal(200, { ratelimit: '"default";r=-1;t=30' }, { now: NOW })).toBeUndefined();
  });

  it('caps a hold beyond maxMs', () => {
    const s = parseRateLimitSignal(200, { ratelimit: '"daily";r=0;t=86400' }, { now: NOW });
    expect(s).toMatchObject({ holdUntil: NOW + DEFAULT_MAX_HOLD_MS, capped: true, resetAt: NOW + 86_400_000 });
  });
});

describe('parseRateLimitSignal: IETF older drafts', () => {
  it('reads the dictionary form', () => {
    const s = parseRateLimitSignal(429, { ratelimit: 'limit=100, remaining=0, reset=30' }, { now: NOW });
    expect(s).toEqual({ source: 'ratelimit', limit: 100, remaining: 0, resetAt: NOW + 30_000, holdUntil: NOW + 30_000 });
  });

  it('reads the three separate fields', () => {
    const h = { 'RateLimit-Limit': '100', 'RateLimit-Remaining': '7', 'RateLimit-Reset': '20' };
    expect(parseRateLimitSignal(200, h, { now: NOW })).toEqual({ source: 'ratelimit', limit: 100, remaining: 7, resetAt: NOW + 20_000 });
    const exhausted = parseRateLimitSignal(200, { ...h, 'RateLimit-Remaining': '0' }, { now: NOW });
    expect(exhausted?.holdUntil).toBe(NOW + 20_000);
  });

  it('reads the older integer RateLimit-Policy form and the list form of RateLimit-Limit', () => {
    const s = parseRateLimitSignal(
      200,
      { 'ratelimit-limit': '10, 10;w=1, 50;w=60', 'ratelimit-remaining': '1', 'ratelimit-reset': '7', 'ratelimit-policy': '10;w=1, 50;w=60' },
      { now: NOW },
    );
    expect(s).toMatchObject({ source: 'ratelimit', limit: 10, remaining: 1, resetAt: NOW + 7000 });
    expect(s?.policies).toEqual([
      { name: '', quota: 10, windowSeconds: 1, remaining: 1, resetSeconds: 7 },
      { name: '', quota: 50, windowSeconds: 60 },
    ]);
  });
});

const x = (reset: string, extra: Record<string, string> = {}) => ({
  'X-RateLimit-Limit': '60',
  'X-RateLimit-Remaining': '0',
  'X-RateLimit-Reset': reset,
  ...extra,
});

describe('parseRateLimitSignal: X-RateLimit-*', () => {
  it.each([
    ['delta seconds', '45'],
    ['epoch seconds', String((NOW + 45_000) / 1000)],
    ['epoch milliseconds', String(NOW + 45_000)],
    ['fractional epoch seconds', String((NOW + 45_000) / 1000) + '.000'],
  ])('reads the reset as %s (told apart by magnitude)', (_kind, reset) => {
    expect(parseRateLimitSignal(200, x(reset), { now: NOW })).toEqual({
      source: 'x-ratelimit',
      limit: 60,
      remaining: 0,
      resetAt: NOW + 45_000,
      holdUntil: NOW + 45_000,
    });
  });

  it('measures an epoch reset against the server Date, so local skew does not shift the hold', () => {
    const serverBehindBy10s = NOW - 10_000;
    const s = parseRateLimitSignal(200, x(String((serverBehindBy10s + 20_000) / 1000), { Date: http(serverBehindBy10s) }), { now: NOW });
    expect(s?.holdUntil).toBe(NOW + 20_000);
  });

  it('a reset in the past holds nothing beyond now', () => {
    expect(parseRateLimitSignal(200, x(String(NOW / 1000 - 100)), { now: NOW })?.holdUntil).toBe(NOW);
  });

  it('only exhausted quota holds; otherwise the reset is informational', () => {
    const s = parseRateLimitSignal(200, x('30', { 'X-RateLimit-Remaining': '12' }), { now: NOW });
    expect(s).toEqual({ source: 'x-ratelimit', limit: 60, remaining: 12, resetAt: NOW + 30_000 });
  });

  it('reads X-Rate-Limit-* (Twitter), reset-after (Discord) and repeated values', () => {
    expect(parseRateLimitSignal(200, { 'x-rate-limit-remaining': '0', 'x-rate-limit-reset': '5' }, { now: NOW })?.holdUntil).toBe(NOW + 5000);
    const discord = { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(NOW / 1000 + 99), 'x-ratelimit-reset-after': '1.5' };
    expect(parseRateLimitSignal(200, discord, { now: NOW })?.holdUntil).toBe(NOW + 1500);
    expect(parseRateLimitSignal(200, headers({ 'x-ratelimit-remaining': ['3', '3'] }), { now: NOW })?.remaining).toBe(3);
  });

  it('reads OpenAI-style -requests / -tokens quotas with Go durations', () => {
    const s = parseRateLimitSignal(
      429,
      {
        'x-ratelimit-limit-requests': '60',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '6m0s',
        'x-ratelimit-limit-tokens': '150000',
        'x-ratelimit-remaining-tokens': '149984',
        'x-ratelimit-reset-tokens': '6ms',
      },
      { now: NOW },
    );
    expect(s).toMatchObject({ source: 'x-ratelimit', remaining: 0, limit: 60, holdUntil: NOW + 360_000 });
    expect(s?.policies?.map((p) => p.name)).toEqual(['requests', 'tokens']);
  });

  it('ignores non-numeric values', () => {
    expect(parseRateLimitSignal(200, { 'x-ratelimit-remaining': 'lots', 'x-ratelimit-limit': '-5' }, { now: NOW })).toBeUndefined();
  });
});

describe('parseRateLimitSignal: GitHub', () => {
  const reset = String((NOW + 600_000) / 1000);
  const gh = { 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-used': '5000', 'x-ratelimit-reset': reset };

  it('a 403 with remaining 0 is a rate limit held until x-ratelimit-reset', () => {
    expect(parseRateLimitSignal(403, gh, { now: NOW })).toEqual({
      source: 'github',
      limit: 5000,
      remaining: 0,
      resetAt: NOW + 600_000,
      holdUntil: NOW + 600_000,
    });
    expect(parseRateLimitSignal(429, gh, { now: NOW })?.source).toBe('github');
  });

  it('a 403 with quota left is an ordinary 403 (no hold)', () => {
    const s = parseRateLimitSignal(403, { ...gh, 'x-ratelimit-remaining': '4999' }, { now: NOW });
    expect(s?.source).toBe('x-ratelimit');
    expect(s?.holdUntil).toBeUndefined();
  });

  it('a secondary rate limit (403 + Retry-After) follows Retry-After', () => {
    const s = parseRateLimitSignal(403, { ...gh, 'retry-after': '60' }, { now: NOW });
    expect(s).toEqual({ source: 'retry-after', limit: 5000, remaining: 0, resetAt: NOW + 600_000, holdUntil: NOW + 60_000 });
  });
});

describe('parseRateLimitSignal: precedence', () => {
  it('Retry-After beats RateLimit, keeping RateLimit as information', () => {
    const s = parseRateLimitSignal(429, { 'retry-after': '10', ratelimit: '"d";r=0;t=60', 'ratelimit-policy': '"d";q=5;w=60' }, { now: NOW });
    expect(s).toMatchObject({ source: 'retry-after', holdUntil: NOW + 10_000, remaining: 0, limit: 5 });
    expect(s?.policies).toEqual([{ name: 'd', quota: 5, windowSeconds: 60, remaining: 0, resetSeconds: 60 }]);
  });

  it('Retry-After overrides a cap surfaced by another dialect', () => {
    const s = parseRateLimitSignal(429, { 'retry-after': '10', ratelimit: '"d";r=0;t=86400' }, { now: NOW });
    expect(s?.capped).toBeUndefined();
    expect(s?.holdUntil).toBe(NOW + 10_000);
  });

  it('otherwise the latest hold wins', () => {
    const s = parseRateLimitSignal(
      200,
      { ratelimit: '"d";r=0;t=20', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '50' },
      { now: NOW },
    );
    expect(s).toMatchObject({ source: 'x-ratelimit', holdUntil: NOW + 50_000 });
  });

  it('and without holds the smallest remaining wins', () => {
    const s = parseRateLimitSignal(200, { ratelimit: '"d";r=5;t=20', 'x-ratelimit-remaining': '3' }, { now: NOW });
    expect(s).toMatchObject({ source: 'x-ratelimit', remaining: 3 });
    const t = parseRateLimitSignal(200, { ratelimit: '"d";r=2;t=20', 'x-ratelimit-remaining': '3' }, { now: NOW });
    expect(t).toMatchObject({ source: 'ratelimit', remaining: 2 });
  });

  it('a cached response (Age > 0) says nothing about now', () => {
    expect(parseRateLimitSignal(429, { 'retry-after': '30', age: '12' }, { now: NOW })).toEqual({ source: 'retry-after', ignored: 'age' });
    expect(parseRateLimitSignal(200, { ratelimit: '"d";r=0;t=20', age: '1' }, { now: NOW })).toEqual({ source: 'ratelimit', ignored: 'age' });
    expect(parseRateLimitSignal(429, { 'retry-after': '30', age: '0' }, { now: NOW })?.holdUntil).toBe(NOW + 30_000);
    expect(parseRateLimitSignal(200, { age: '100' }, { now: NOW })).toBeUndefined();
  });

  it('a response with no rate-limit headers gives undefined', () => {
    expect(parseRateLimitSignal(429, {}, { now: NOW })).toBeUndefined();
    expect(parseRateLimitSignal(200, new Headers({ 'content-type': 'application/json' }), { now: NOW })).toBeUndefined();
  });

  it('never throws on arbitrary header values and keeps any hold within [now, now + maxMs]', () => {
    const names = ['retry-after', 'ratelimit', 'ratelimit-policy', 'ratelimit-reset', 'x-ratelimit-reset', 'x-ratelimit-remaining', 'date', 'age'];
    const value = fc.oneof(fc.string(), fc.nat().map(String), fc.constantFrom('"a";r=0;t=9999999', '0', 'limit=1, remaining=0, reset=99999999999'));
    fc.assert(
      fc.property(fc.constantFrom(200, 403, 429, 503), fc.dictionary(fc.constantFrom(...names), value), fc.nat({ max: 10_000_000 }), (status, h, maxMs) => {
        const s = parseRateLimitSignal(status, h, { now: NOW, maxMs });
        if (s?.holdUntil !== undefined) {
          expect(s.holdUntil).toBeGreaterThanOrEqual(NOW);
          expect(s.holdUntil).toBeLessThanOrEqual(NOW + maxMs);
        }
      }),
    );
  });
});
