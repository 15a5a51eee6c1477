import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { constantTimeEqual, decodeSignature, encodeSignature, hmac, secretBytes } from './hmac.js';

describe('constantTimeEqual', () => {
  it('is true for equal bytes and false for any difference', () => {
    const a = Buffer.from('0123456789abcdef0123456789abcdef');
    expect(constantTimeEqual(a, Buffer.from(a))).toBe(true);
    for (const i of [0, 15, 31]) {
      const b = Buffer.from(a);
      b[i] = (b[i] as number) ^ 0x01;
      expect(constantTimeEqual(a, b)).toBe(false);
    }
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });

  it('checks the length first: unequal lengths are false, never an exception (crypto.timingSafeEqual throws)', () => {
    const a = Buffer.alloc(32, 7);
    for (const b of [Buffer.alloc(0), Buffer.alloc(31, 7), Buffer.alloc(33, 7), a.subarray(0, 8)]) {
      expect(() => timingSafeEqual(a, b)).toThrow();
      expect(constantTimeEqual(a, b)).toBe(false);
      expect(constantTimeEqual(b, a)).toBe(false);
    }
  });
});

describe('hmac', () => {
  it('hashes parts as if concatenated, strings as UTF-8', () => {
    const body = Buffer.from('Zoë ✓');
    expect(hmac('sha256', 'k', '123.', body, '!')).toEqual(createHmac('sha256', 'k').update(Buffer.concat([Buffer.from('123.'), body, Buffer.from('!')])).digest());
    expect(hmac('sha1', Buffer.from('k'), 'x')).toHaveLength(20);
    expect(hmac('sha512', 'k', 'x')).toHaveLength(64);
  });
});

describe('decodeSignature', () => {
  const digest = createHmac('sha256', 'k').update('x').digest();

  it('decodes hex (any case), base64 and base64url of exactly the expected length', () => {
    expect(decodeSignature(digest.toString('hex'), 'hex', 32)).toEqual(digest);
    expect(decodeSignature(digest.toString('hex').toUpperCase(), 'hex', 32)).toEqual(digest);
    expect(decodeSignature(digest.toString('base64'), 'base64', 32)).toEqual(digest);
    expect(decodeSignature(digest.toString('base64url'), 'base64url', 32)).toEqual(digest);
    expect(encodeSignature(digest, 'base64')).toBe(digest.toString('base64'));
  });

  it('returns undefined, without throwing, for anything else', () => {
    const b64 = digest.toString('base64');
    const hex = digest.toString('hex');
    const rejected: Array<[string, 'hex' | 'base64' | 'base64url']> = [
      [hex.slice(0, -2), 'hex'],
      [`${hex}00`, 'hex'],
      [`${hex.slice(0, -1)}g`, 'hex'],
      [hex, 'base64'], // right characters, wrong length: a hex digest is not a base64 one
      [b64.slice(0, -1), 'base64'], // padding removed
      [`${b64.slice(0, -2)}!=`, 'base64'],
      [digest.toString('base64url'), 'base64'],
      ['', 'hex'],
    ];
    for (const [text, encoding] of rejected) {
      const decoded = decodeSignature(text, encoding, 32);
      if (decoded !== undefined) expect(decoded.equals(digest)).toBe(false);
    }
    // The other alphabet's characters decode to the same bytes in Node; they are refused.
    const bytes = Buffer.alloc(32, 0xfb);
    const urlish = bytes.toString('base64').replaceAll('+', '-').replaceAll('/', '_');
    expect(Buffer.from(urlish, 'base64').equals(bytes)).toBe(true);
    expect(decodeSignature(urlish, 'base64', 32)).toBeUndefined();
    const plainish = bytes.toString('base64url').replaceAll('-', '+');
    expect(Buffer.from(plainish, 'base64url').equals(bytes)).toBe(true);
    expect(decodeSignature(plainish, 'base64url', 32)).toBeUndefined();
    expect(decodeSignature(bytes.toString('base64'), 'base64', 32)).toEqual(bytes);
    // A non-canonical spelling of the same bytes (stray bits in the last character) is refused.
    const last = b64.at(-2) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] as string;
    const variant = `${b64.slice(0, -2)}${sibling}=`;
    expect(Buffer.from(variant, 'base64').equals(digest)).toBe(true);
    expect(decodeSignature(variant, 'base64', 32)).toBeUndefined();
  });
});

describe('secretBytes', () => {
  it('reads UTF-8 (default), base64 and hex strings, and copies byte arrays', () => {
    expect(secretBytes("It's a Secret", 'secret')).toEqual(Buffer.from("It's a Secret"));
    expect(secretBytes('AAEC', 'secret', 'base64')).toEqual(Buffer.from([0, 1, 2]));
    expect(secretBytes('000102', 'secret', 'hex')).toEqual(Buffer.from([0, 1, 2]));
    const raw = new Uint8Array([1, 2, 3]);
    const key = secretBytes(raw, 'secret');
    raw[0] = 9;
    expect(key).toEqual(Buffer.from([1, 2, 3]));
  });

  it('throws InvalidOptionError naming the option, never showing the secret', () => {
    for (const [value, encoding] of [['', 'utf8'], ['zz-top-secret', 'hex'], ['top secret!', 'base64'], [new Uint8Array(0), 'utf8'], [42, 'utf8']] as const) {
      let err: { code?: string; option?: string; message?: string } = {};
      try {
        secretBytes(value, 'secrets[2]', encoding);
      } catch (e) {
        err = e as typeof err;
      }
      expect(err.code).toBe('WEIR_INVALID_OPTION');
      expect(err.option).toBe('secrets[2]');
      if (typeof value === 'string' && value !== '') expect(err.message).not.toContain(value);
    }
  });
});
