import { describe, expect, it } from 'vitest';
import { parseHttpDate } from './http-date.js';

const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37);

describe('parseHttpDate', () => {
  it('reads the three forms of RFC 9110 to the same instant', () => {
    const now = Date.UTC(2000, 0, 1);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', now)).toBe(NOV_6_1994);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', now)).toBe(NOV_6_1994);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994', now)).toBe(NOV_6_1994);
    expect(parseHttpDate('Sun Nov 06 08:49:37 1994', now)).toBe(NOV_6_1994);
  });

  it('matches day and month names case-insensitively and does not check the weekday', () => {
    expect(parseHttpDate('SUN, 06 NOV 1994 08:49:37 GMT')).toBe(NOV_6_1994);
    expect(parseHttpDate('Mon, 06 Nov 1994 08:49:37 GMT')).toBe(NOV_6_1994);
  });

  it('places a two-digit year at most 50 years ahead (RFC 9110)', () => {
    const now = Date.UTC(2020, 5, 1);
    expect(new Date(parseHttpDate('Thursday, 01-Jan-70 00:00:00 GMT', now) ?? 0).getUTCFullYear()).toBe(2070);
    expect(new Date(parseHttpDate('Friday, 01-Jan-71 00:00:00 GMT', now) ?? 0).getUTCFullYear()).toBe(1971);
    expect(new Date(parseHttpDate('Friday, 01-Jan-21 00:00:00 GMT', now) ?? 0).getUTCFullYear()).toBe(2021);
  });

  it('reads four-digit years below 100 literally', () => {
    expect(new Date(parseHttpDate('Sat, 01 Jan 0099 00:00:00 GMT') ?? 0).getUTCFullYear()).toBe(99);
  });

  it.each([
    '',
    'now',
    '784111777',
    'Sun, 06 Nov 1994 08:49:37 UTC',
    'Sun, 06 Nov 1994 08:49:37',
    'Sun, 6 Nov 1994 08:49:37 GMT',
    'Sun 06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Nov 94 08:49:37 GMT',
    'Sun, 31 Feb 1994 08:49:37 GMT',
    'Sun, 00 Nov 1994 08:49:37 GMT',
    'Sun, 06 Nov 1994 24:00:00 GMT',
    'Sun, 06 Nov 1994 08:60:00 GMT',
    'Sun, 06 Foo 1994 08:49:37 GMT',
    'Sun, 06-Nov-94 08:49:37 GMT',
    'Sun Nov 6 08:49:37 1994',
    '1994-11-06T08:49:37Z',
  ])('rejects %j', (text) => {
    expect(parseHttpDate(text)).toBeUndefined();
  });
});
