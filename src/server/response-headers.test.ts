import { describe, expect, it } from 'vitest';
import { ResponseHeaders } from './response-headers.js';

function sample(): ResponseHeaders {
  return new ResponseHeaders()
    .set('RateLimit-Policy', '"default";q=100;w=60')
    .append('Vary', 'Accept')
    .append('vary', 'Origin')
    .append('Set-Cookie', 'a=1')
    .append('set-cookie', 'b=2')
    .set('Retry-After', 3);
}

describe('ResponseHeaders', () => {
  it('keeps lower-case names, replaces on set, joins appended values except set-cookie', () => {
    const h = sample();
    expect(h.get('ratelimit-policy')).toBe('"default";q=100;w=60');
    expect(h.get('VARY')).toBe('Accept, Origin');
    expect(h.get('retry-after')).toBe('3');
    expect(h.has('Set-Cookie')).toBe(true);
    expect(h.size).toBe(4);
    h.set('vary', 'Cookie');
    expect(h.get('vary')).toBe('Cookie');
    expect(h.delete('Vary')).toBe(true);
    expect(h.get('vary')).toBeNull();
  });

  it('forEach gives (value, name) like Headers.forEach, the pairs the iterator gives: each set-cookie apart, other lists joined', () => {
    const h = sample();
    const seen: Array<[string, string]> = [];
    h.forEach((value, name) => seen.push([name, value]));
    expect(seen).toEqual([...h]);
    expect(seen).toEqual([
      ['ratelimit-policy', '"default";q=100;w=60'],
      ['vary', 'Accept, Origin'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['retry-after', '3'],
    ]);
  });

  it('refuses a value that would inject a header (CR, LF or NUL), on set and on append, every time', () => {
    const h = new ResponseHeaders();
    for (let i = 0; i < 3; i++) {
      expect(() => h.set('x-a', 'ok\r\nx-injected: 1')).toThrow(TypeError);
      expect(() => h.append('x-b', 'ok\nx')).toThrow(/CR, LF or NUL/);
      expect(() => h.set('x-c', 'nul\0')).toThrow(TypeError);
    }
    expect(h.size).toBe(0);
    expect(h.set('x-d', 'fine').get('x-d')).toBe('fine');
  });
});
