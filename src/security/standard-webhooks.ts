import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign as ed25519Sign,
  verify as ed25519Verify,
} from 'node:crypto';
import { inspect } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import { integer } from '../internal/validate.js';
import { constantTimeEqual, decodeSignature, redacted, type SignedPart } from './hmac.js';

/*
 * Standard Webhooks (https://www.standardwebhooks.com, the format Svix sends): the signed content
 * is `${webhook-id}.${webhook-timestamp}.${raw body}`; `webhook-signature` is a space-separated
 * list of `version,base64` entries. `v1` is HMAC-SHA256 with the base64-decoded `whsec_` secret,
 * `v1a` is Ed25519 (`whsk_` secret key signs, `whpk_` public key verifies). Several entries are
 * how secrets rotate: the sender signs with every active key, a verifier accepts any that matches.
 */

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const BASE64_SECRET = /^[A-Za-z0-9+/]+={0,2}$/;
/** Entries of a `webhook-signature` header looked at; a longer list is cut there (each v1a costs a verify). */
export const MAX_SIGNATURES_PER_HEADER = 20;

/** Prefixes of the three kinds of Standard Webhooks secrets. */
export const SECRET_PREFIX = 'whsec_';
export const SECRET_KEY_PREFIX = 'whsk_';
export const PUBLIC_KEY_PREFIX = 'whpk_';

/**
 * A parsed Standard Webhooks key: an HMAC secret (`v1`) or an Ed25519 key (`v1a`, public only or
 * with its private half). The key material is held in private fields: printing, logging or
 * JSON-encoding a key shows its type only. Build one with {@link standardWebhooksKey}.
 */
export class StandardWebhooksKey {
  /** `hmac` signs and verifies `v1`; `ed25519` verifies `v1a`, and signs it when {@link canSign}. */
  readonly type: 'hmac' | 'ed25519';
  /** A KeyObject, prepared once: `createHmac` then skips importing the key bytes on every call. */
  readonly #hmacKey: KeyObject | undefined;
  readonly #publicKey: KeyObject | undefined;
  readonly #privateKey: KeyObject | undefined;

  private constructor(hmacKey: Buffer | undefined, publicKey?: KeyObject, privateKey?: KeyObject) {
    this.type = hmacKey === undefined ? 'ed25519' : 'hmac';
    this.#hmacKey = hmacKey === undefined ? undefined : createSecretKey(hmacKey);
    this.#publicKey = publicKey;
    this.#privateKey = privateKey;
  }

  /** @internal Use {@link standardWebhooksKey}. */
  static fromParts(hmacKey: Buffer | undefined, publicKey?: KeyObject, privateKey?: KeyObject): StandardWebhooksKey {
    return new StandardWebhooksKey(hmacKey, publicKey, privateKey);
  }

  /** True when this key can produce signatures (an HMAC secret or an Ed25519 secret key). */
  get canSign(): boolean {
    return this.#hmacKey !== undefined || this.#privateKey !== undefined;
  }

  /** The `version,signature` entry for one signed content. */
  signEntry(prefix: string, body: SignedPart): string {
    if (this.#hmacKey !== undefined) return `v1,${hmacSha256(this.#hmacKey, prefix, body).toString('base64')}`;
    if (this.#privateKey === undefined) {
      throw new InvalidOptionError('secret', `a ${SECRET_PREFIX} or ${SECRET_KEY_PREFIX} key to sign with`, `a ${PUBLIC_KEY_PREFIX} key`);
    }
    return `v1a,${ed25519Sign(null, concat(prefix, body), this.#privateKey).toString('base64')}`;
  }

  /** @internal The `v1` HMAC of one signed content, or undefined for an Ed25519 key. */
  mac(prefix: string, body: SignedPart): Buffer | undefined {
    return this.#hmacKey === undefined ? undefined : hmacSha256(this.#hmacKey, prefix, body);
  }

  /** @internal Whether `signature` is a `v1a` signature of `message` by this key (false for an HMAC key). */
  verifiesEd25519(message: Buffer, signature: Buffer): boolean {
    return this.#publicKey !== undefined && ed25519Verify(null, message, this.#publicKey, signature);
  }

  toJSON(): { type: string } {
    return { type: this.type };
  }

  [inspect.custom](): string {
    return `StandardWebhooksKey { type: '${this.type}' }`;
  }
}

/**
 * Parses a Standard Webhooks secret: `whsec_…` (HMAC, `v1`; the prefix is optional and unpadded
 * base64 is accepted, as the reference libraries do), `whpk_…` (Ed25519 public key, verifies
 * `v1a`) or `whsk_…` (Ed25519 secret key: 64 bytes seed‖public key, or the 32-byte seed; signs
 * `v1a` and verifies with its public half). A `Uint8Array` is a raw HMAC key. Import from
 * `weir/security`.
 *
 * @param option The option name to blame in errors (the secret itself never appears in one).
 * @throws InvalidOptionError when the secret is empty, not base64, or not a valid key.
 * @example
 * ```ts
 * const key = standardWebhooksKey(process.env.WEBHOOK_SECRET!); // 'whsec_…'
 * ```
 */
export function standardWebhooksKey(secret: string | Uint8Array, option = 'secret'): StandardWebhooksKey {
  if (secret instanceof Uint8Array) {
    if (secret.byteLength === 0) throw new InvalidOptionError(option, 'a non-empty key', '<empty>');
    return StandardWebhooksKey.fromParts(Buffer.from(secret));
  }
  if (typeof secret !== 'string') throw new InvalidOptionError(option, 'a whsec_/whpk_/whsk_ string or a Uint8Array', redacted(secret));
  if (secret.startsWith(PUBLIC_KEY_PREFIX)) {
    const raw = base64Secret(secret.slice(PUBLIC_KEY_PREFIX.length), option, 'a whpk_ key of 32 bytes');
    if (raw.length !== 32) throw new InvalidOptionError(option, 'a whpk_ key of 32 bytes', '<redacted>');
    return StandardWebhooksKey.fromParts(undefined, importKey(() => createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: 'der', type: 'spki' }), option));
  }
  if (secret.startsWith(SECRET_KEY_PREFIX)) {
    const expected = 'a whsk_ key of 64 bytes (seed and public key) or a 32-byte seed';
    const raw = base64Secret(secret.slice(SECRET_KEY_PREFIX.length), option, expected);
    if (raw.length !== 64 && raw.length !== 32) throw new InvalidOptionError(option, expected, '<redacted>');
    const privateKey = importKey(
      () => createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' }),
      option,
    );
    const publicKey = createPublicKey(privateKey);
    if (raw.length === 64 && !constantTimeEqual(rawPublicKey(publicKey), raw.subarray(32))) {
      throw new InvalidOptionError(option, 'a whsk_ key whose public half matches its seed', '<redacted>');
    }
    return StandardWebhooksKey.fromParts(undefined, publicKey, privateKey);
  }
  const body = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  return StandardWebhooksKey.fromParts(base64Secret(body, option, 'a whsec_ secret (base64)'));
}

/**
 * The value of a `webhook-signature` header: one entry per key (`v1` for HMAC secrets, `v1a`
 * for Ed25519 secret keys), space-separated. Signing with the old and the new secret during a
 * rotation lets receivers holding either accept. Import from `weir/security`.
 *
 * @param timestamp Unix time in seconds, as written in `webhook-timestamp`.
 * @throws InvalidOptionError when `keys` is empty or holds a public key only.
 * @example
 * ```ts
 * const header = signStandardWebhook([oldKey, newKey], 'msg_1', 1700000000, body); // 'v1,… v1,…'
 * ```
 */
export function signStandardWebhook(keys: readonly StandardWebhooksKey[], id: string, timestamp: number, body: SignedPart): string {
  if (keys.length === 0) throw new InvalidOptionError('secrets', 'at least one key', 'an empty list');
  const prefix = `${id}.${integer(timestamp, 'timestamp', 0)}.`;
  return keys.map((key) => key.signEntry(prefix, body)).join(' ');
}

/**
 * True when one `v1` entry of `header` matches an HMAC key, or one `v1a` entry verifies with an
 * Ed25519 key, over `${id}.${timestamp}.${body}`. Unknown versions and malformed entries are
 * skipped; a version is only ever checked with its own kind of key (no scheme confusion). Never
 * throws on untrusted input; does not look at the time (the caller checks the timestamp's age).
 * Import from `weir/security`.
 *
 * @param timestamp The `webhook-timestamp` header exactly as received.
 */
export function verifyStandardWebhookSignature(
  keys: readonly StandardWebhooksKey[],
  id: string,
  timestamp: string,
  body: SignedPart,
  header: string,
): boolean {
  const prefix = `${id}.${timestamp}.`;
  let digests: Buffer[] | undefined;
  let message: Buffer | undefined;
  let seen = 0;
  // Walks the space-separated entries without splitting the header into an array.
  for (let start = 0; start < header.length; ) {
    let end = header.indexOf(' ', start);
    if (end < 0) end = header.length;
    const comma = header.indexOf(',', start);
    const from = start;
    start = end + 1;
    if (end === from) continue;
    if (++seen > MAX_SIGNATURES_PER_HEADER) break;
    if (comma < 0 || comma > end) continue;
    const versionLength = comma - from;
    if (versionLength === 2 && header.startsWith('v1', from)) {
      const received = decodeSignature(header.slice(comma + 1, end), 'base64', 32);
      if (received === undefined) continue;
      digests ??= hmacDigests(keys, prefix, body);
      for (const digest of digests) if (constantTimeEqual(received, digest)) return true;
    } else if (versionLength === 3 && header.startsWith('v1a', from)) {
      const received = decodeSignature(header.slice(comma + 1, end), 'base64', 64);
      if (received === undefined) continue;
      for (const key of keys) {
        if (key.type !== 'ed25519') continue;
        message ??= concat(prefix, body);
        if (key.verifiesEd25519(message, received)) return true;
      }
    }
  }
  return false;
}

/**
 * A new random `whsec_` secret. Import from `weir/security`.
 * @param bytes Key size, 24 to 64 bytes (the spec's range). Default 32.
 * @example `const secret = generateStandardWebhooksSecret(); // 'whsec_…'`
 */
export function generateStandardWebhooksSecret(bytes = 32): string {
  return SECRET_PREFIX + randomBytes(integer(bytes, 'bytes', 24, 64)).toString('base64');
}

/**
 * A new Ed25519 key pair for `v1a`: the sender keeps `secretKey` (`whsk_`, 64 bytes seed‖public
 * key), receivers get `publicKey` (`whpk_`). Import from `weir/security`.
 * @example `const { secretKey, publicKey } = generateStandardWebhooksKeyPair();`
 */
export function generateStandardWebhooksKeyPair(): { secretKey: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_ED25519.length);
  const pub = rawPublicKey(publicKey);
  return {
    secretKey: SECRET_KEY_PREFIX + Buffer.concat([seed, pub]).toString('base64'),
    publicKey: PUBLIC_KEY_PREFIX + pub.toString('base64'),
  };
}

function hmacDigests(keys: readonly StandardWebhooksKey[], prefix: string, body: SignedPart): Buffer[] {
  const digests: Buffer[] = [];
  for (const key of keys) {
    const digest = key.mac(prefix, body);
    if (digest !== undefined) digests.push(digest);
  }
  return digests;
}

function hmacSha256(key: KeyObject, prefix: string, body: SignedPart): Buffer {
  return createHmac('sha256', key).update(prefix).update(body).digest();
}

function concat(prefix: string, body: SignedPart): Buffer {
  return typeof body === 'string' ? Buffer.from(prefix + body, 'utf8') : Buffer.concat([Buffer.from(prefix, 'utf8'), body]);
}

function rawPublicKey(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519.length);
}

function base64Secret(text: string, option: string, expected: string): Buffer {
  if (!BASE64_SECRET.test(text)) throw new InvalidOptionError(option, expected, '<redacted>');
  const raw = Buffer.from(text, 'base64');
  if (raw.length === 0) throw new InvalidOptionError(option, expected, '<redacted>');
  return raw;
}

function importKey(load: () => KeyObject, option: string): KeyObject {
  try {
    return load();
  } catch {
    throw new InvalidOptionError(option, 'a valid Ed25519 key', '<redacted>');
  }
}
