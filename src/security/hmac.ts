import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';

/** Hash functions Weir's HMAC helpers accept. */
export type HmacAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** How a signature is written as text. `base64url` is unpadded. */
export type SignatureEncoding = 'hex' | 'base64' | 'base64url';

/** How a secret given as a string becomes key bytes. */
export type SecretEncoding = 'utf8' | 'base64' | 'hex';

/** One piece of signed content: bytes as they are, or a string taken as UTF-8. */
export type SignedPart = string | Uint8Array;

/** Digest sizes in bytes, so signatures can be length-checked before anything is decoded. */
export const HMAC_DIGEST_BYTES: Readonly<Record<HmacAlgorithm, number>> = { sha1: 20, sha256: 32, sha512: 64 };

/**
 * HMAC of the parts in order, as if they were concatenated, without copying them into one buffer
 * (the body of a webhook is hashed in place). Import from `weir/security`.
 *
 * @param key The key bytes (a string is taken as UTF-8).
 * @example
 * ```ts
 * const digest = hmac('sha256', secret, `${timestamp}.`, rawBody); // Buffer of 32 bytes
 * ```
 */
export function hmac(algorithm: HmacAlgorithm, key: SignedPart, ...parts: readonly SignedPart[]): Buffer {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/**
 * Constant-time equality of two byte strings. The lengths are compared first (a length is not
 * secret), so unequal lengths return `false` instead of throwing as `crypto.timingSafeEqual` does;
 * equal lengths are compared in time independent of where they differ. Import from `weir/security`.
 *
 * @example `constantTimeEqual(received, expected) // false, never throws, for a truncated signature`
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return timingSafeEqual(a, b);
}

/** Length in characters of `bytes` bytes written in `encoding` (base64 padded, base64url not). */
export function encodedLength(bytes: number, encoding: SignatureEncoding): number {
  if (encoding === 'hex') return bytes * 2;
  if (encoding === 'base64') return Math.ceil(bytes / 3) * 4;
  return Math.ceil((bytes * 4) / 3);
}

const HEX = /^[0-9a-fA-F]*$/;
/** 6-bit values of the base64 and base64url characters, by char code. */
const SEXTET = new Uint8Array(128);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].entries()) SEXTET[c.charCodeAt(0)] = i;
SEXTET['-'.charCodeAt(0)] = 62;
SEXTET['_'.charCodeAt(0)] = 63;

/**
 * Decodes a signature strictly: the text must have exactly the length `bytes` bytes take in
 * `encoding` (checked first, before any decoding), decode to exactly `bytes` bytes, use only that
 * encoding's characters, and for base64 be the canonical spelling. Returns `undefined` for anything
 * else, never throws: a malformed signature is simply one that does not match. Hex is
 * case-insensitive. Import from `weir/security`.
 *
 * @example `decodeSignature('sha256-hex…', 'hex', 32) // Buffer(32) or undefined`
 */
export function decodeSignature(text: string, encoding: SignatureEncoding, bytes: number): Buffer | undefined {
  if (text.length !== encodedLength(bytes, encoding)) return undefined;
  // Node's decoders stop at, or skip, characters outside the alphabet, so any such character (a
  // space, a '!', an '=' too early, a second hex digit missing) leaves fewer bytes than expected.
  const decoded = Buffer.from(text, encoding);
  if (decoded.length !== bytes) return undefined;
  if (encoding === 'hex') return decoded;
  // Both base64 decoders also take the other alphabet's two characters: refuse them.
  if (encoding === 'base64' ? text.includes('-') || text.includes('_') : text.includes('+') || text.includes('/')) return undefined;
  // Canonical form: the bits of the last character that fall past the last byte must be zero
  // (the decoder ignores them, so otherwise several spellings would mean the same bytes).
  const unusedBits = (6 - ((bytes * 8) % 6)) % 6;
  if (unusedBits !== 0 && ((SEXTET[text.charCodeAt(Math.ceil((bytes * 8) / 6) - 1)] as number) & ((1 << unusedBits) - 1)) !== 0) return undefined;
  return decoded;
}

/** Writes a digest as text in `encoding`. */
export function encodeSignature(digest: Uint8Array, encoding: SignatureEncoding): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString(encoding);
}

/**
 * Turns a configured secret into key bytes. A string is decoded with `encoding` (UTF-8 by default,
 * as Stripe, GitHub, Shopify, Slack and Convoy use their secrets); bytes are used as they are.
 * The secret never appears in the error. Import from `weir/security`.
 *
 * @throws InvalidOptionError naming `option` when the secret is empty or not valid in `encoding`.
 */
export function secretBytes(secret: unknown, option: string, encoding: SecretEncoding = 'utf8'): Buffer {
  if (secret instanceof Uint8Array) {
    if (secret.byteLength === 0) throw new InvalidOptionError(option, 'a non-empty secret', '<empty>');
    return Buffer.from(secret); // a copy: later changes to the caller's array do not change the key
  }
  if (typeof secret !== 'string') throw new InvalidOptionError(option, 'a secret string or Uint8Array', redacted(secret));
  let key: Buffer;
  if (encoding === 'utf8') key = Buffer.from(secret, 'utf8');
  else if (encoding === 'hex' ? secret.length % 2 === 0 && HEX.test(secret) : /^[A-Za-z0-9+/]*={0,2}$/.test(secret)) {
    key = Buffer.from(secret, encoding);
  } else {
    throw new InvalidOptionError(option, `a ${encoding} secret`, '<redacted>');
  }
  if (key.length === 0) throw new InvalidOptionError(option, 'a non-empty secret', '<empty>');
  return key;
}

/** What an error may say about a value that might be a secret: its type, never its content. */
export function redacted(value: unknown): unknown {
  return typeof value === 'string' ? '<redacted>' : value;
}
