import { createHash, createHmac, randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import { integer } from '../internal/validate.js';
import { constantTimeEqual, decodeSignature } from './hmac.js';
import { isSecret, Secret } from './secret.js';

/**
 * API keys at rest, for the server side (`requireApiKey()`) and the `weir keys` command: generate,
 * hash, verify in constant time. Import from `weir/security`.
 *
 * A key from {@link generateApiKey} carries 256 random bits, so one SHA-256 is enough to store it
 * (a slow password hash buys nothing against a search of 2^256). A pepper, a server secret kept out
 * of the database, makes it HMAC-SHA256 so a stolen table cannot even be checked against a guess.
 * Not for human-chosen passwords.
 */

export interface HashApiKeyOptions {
  /** A server-side secret: the hash becomes HMAC-SHA256 keyed with it. Default: none (plain SHA-256). */
  pepper?: Secret | string;
}

const PREFIX = /^[A-Za-z][A-Za-z0-9]{0,15}$/;
const HASHED = /^(sha256|hmac-sha256):([A-Za-z0-9_-]{43})$/;

/**
 * A new random API key `<prefix>_<43 base64url characters>` (256 bits), as a {@link Secret}. The
 * prefix makes leaked keys easy to spot by secret scanners.
 * @param options.prefix letters and digits, starting with a letter, at most 16. Default `'wk'`.
 * @param options.bytes random bytes, 16 to 64. Default 32.
 * @throws {InvalidOptionError} for a bad prefix or size.
 * @example `const key = generateApiKey({ prefix: 'crm' }); store(hashApiKey(key)); show(key.reveal()) // once`
 */
export function generateApiKey(options: { prefix?: string; bytes?: number } = {}): Secret {
  const prefix = options.prefix ?? 'wk';
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) throw new InvalidOptionError('generateApiKey.prefix', 'letters and digits, starting with a letter (≤ 16)', prefix);
  const bytes = options.bytes === undefined ? 32 : integer(options.bytes, 'generateApiKey.bytes', 16, 64);
  return Secret.of(`api_key_${prefix}`, `${prefix}_${randomBytes(bytes).toString('base64url')}`);
}

/**
 * The stored form of an API key: `sha256:<base64url>`, or `hmac-sha256:<base64url>` with a pepper.
 * Deterministic, so it can also serve as the lookup column.
 * @throws {InvalidOptionError} when the key or pepper is empty.
 * @example `hashApiKey(key, { pepper: secret('API_KEY_PEPPER') }) // 'hmac-sha256:…'`
 */
export function hashApiKey(key: Secret | string, options: HashApiKeyOptions = {}): string {
  const value = reveal(key, 'hashApiKey.key');
  const pepper = options.pepper === undefined ? undefined : reveal(options.pepper, 'hashApiKey.pepper');
  return pepper === undefined
    ? `sha256:${createHash('sha256').update(value).digest('base64url')}`
    : `hmac-sha256:${createHmac('sha256', pepper).update(value).digest('base64url')}`;
}

/**
 * True when `presented` is the key `hash` was made from, compared in constant time. A malformed
 * hash, or a peppered hash checked without the pepper (or the reverse), gives false, never an error.
 * @example `if (!verifyApiKey(req.headers['x-api-key'] ?? '', row.hash, { pepper })) return new Response(null, { status: 401 })`
 */
export function verifyApiKey(presented: string, hash: string, options: HashApiKeyOptions = {}): boolean {
  if (typeof presented !== 'string' || presented === '' || typeof hash !== 'string') return false;
  const m = HASHED.exec(hash);
  if (m === null || (m[1] === 'hmac-sha256') !== (options.pepper !== undefined)) return false;
  const expected = decodeSignature(m[2] as string, 'base64url', 32);
  if (expected === undefined) return false;
  const actual = Buffer.from((hashApiKey(presented, options).split(':')[1] as string), 'base64url');
  return constantTimeEqual(actual, expected);
}

function reveal(value: Secret | string, option: string): string {
  if (isSecret(value)) return value.reveal();
  if (typeof value === 'string' && value !== '') return value;
  throw new InvalidOptionError(option, 'a Secret or a non-empty string', value === undefined ? undefined : '<redacted>');
}
