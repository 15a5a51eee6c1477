import * as crypto from 'node:crypto';
import { parseItem } from '../internal/structured-fields.js';

/** Why an `Idempotency-Key` value was refused. */
export type IdempotencyKeyProblem = 'empty' | 'too_long' | 'syntax' | 'charset';

/** A bare (unquoted) key: token-like characters only. */
const BARE = /^[A-Za-z0-9!#$%&'*+\-.^_`|~:/=@]+$/;
/** A quoted key with no escape, no space and no parameters: the common case, read without the parser. */
const SIMPLE = /^"[\x21\x23-\x5b\x5d-\x7e]+"$/;
/** Visible ASCII, no space: what a key may contain once unquoted. */
const VISIBLE = /^[\x21-\x7e]+$/;

/**
 * Reads an `Idempotency-Key` field value. The IETF draft makes it an RFC 9651 String
 * (`"8e03978e-40d5-43e8-bc93-6894a57f9324"`); a bare value of token characters is accepted too,
 * as many clients send one. The key must be 1 to `maxLength` visible ASCII characters.
 * @returns the key, or the reason it is refused.
 */
export function parseIdempotencyKey(raw: string, maxLength = 255): { key: string } | { problem: IdempotencyKeyProblem } {
  const value = raw.trim();
  // The usual key: a quoted string of visible ASCII without escapes or parameters.
  if (SIMPLE.test(value)) return value.length - 2 > maxLength ? { problem: 'too_long' } : { key: value.slice(1, -1) };
  if (value.length === 0 || value === '""') return { problem: 'empty' };
  let key: string;
  if (value.charCodeAt(0) === 34 /* " */) {
    const item = parseItem(value);
    if (item === null || item.value.type !== 'string' || item.params.size > 0) return { problem: 'syntax' };
    key = item.value.value;
  } else {
    if (!BARE.test(value)) return { problem: /[\s",;\\]/.test(value) ? 'syntax' : 'charset' };
    key = value;
  }
  if (key.length === 0) return { problem: 'empty' };
  if (key.length > maxLength) return { problem: 'too_long' };
  if (!VISIBLE.test(key)) return { problem: 'charset' };
  return { key };
}

/**
 * The request fingerprint: SHA-256 over the method, the target (path and query) and the digest of
 * the raw body, so the same key sent with another body, path or method is detected (422).
 */
export function requestFingerprint(method: string, target: string, body: Uint8Array): string {
  // One pass: the length prefix keeps the method/target part unambiguous before the raw bytes.
  const head = `${UPPER.test(method) ? method : method.toUpperCase()}\n${target}\n`;
  const prefix = `${head.length}:${head}`;
  // A small body: one-shot hashing (no Hash object) over one buffer; the digest is the same.
  if (oneShot !== undefined && body.byteLength <= ONE_SHOT_MAX) {
    const input = Buffer.allocUnsafe(Buffer.byteLength(prefix) + body.byteLength);
    const n = input.write(prefix, 0, 'utf8');
    input.set(body, n);
    return oneShot('sha256', input, 'base64url') as string;
  }
  return crypto.createHash('sha256').update(prefix).update(body).digest('base64url');
}

/** A method already in upper case (as `ctx.method` is): no need to convert it. */
const UPPER = /^[A-Z]+$/;
/** `crypto.hash` (Node ≥ 20.12), when present. */
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: string) => string | Buffer }).hash;
/** Bodies up to this size are copied next to the head and hashed in one shot. */
const ONE_SHOT_MAX = 16 * 1024;

/** A response as stored with an idempotency key: JSON, body in base64. */
export interface StoredResponse {
  readonly v: 1;
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The body, base64. */
  readonly body: string;
}

/** Headers that describe one transfer, not the resource: never stored, never replayed. */
const TRANSIENT = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'date',
  'content-length',
  'idempotent-replayed',
]);

/** Reads a response into its stored form. */
export function encodeStored(status: number, headers: Iterable<readonly [string, string]>, body: Uint8Array): StoredResponse {
  const kept: Array<readonly [string, string]> = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (!TRANSIENT.has(lower)) kept.push([lower, value]);
  }
  // A Buffer encodes as it is: reading `.buffer` of a small one would move its bytes off the heap.
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { v: 1, status, headers: kept, body: bytes.toString('base64') };
}

/** True for statuses that must not carry a body. */
export function nullBody(status: number): boolean {
  return status === 101 || status === 204 || status === 205 || status === 304;
}

/** Rebuilds a stored response; `replayed` adds `Idempotent-Replayed: true`. */
export function decodeStored(value: unknown, replayed: boolean): Response {
  const s = value as StoredResponse;
  const headers = new Headers();
  for (const [name, v] of s.headers ?? []) headers.append(name, v);
  if (replayed) headers.set('idempotent-replayed', 'true');
  const body = nullBody(s.status) ? null : Buffer.from(s.body ?? '', 'base64');
  return new Response(body, { status: s.status, headers });
}

/** What a handler returns from `ctx.idempotency.transaction()`: a response that can be stored synchronously. */
export interface StorableResponse {
  /** Default 200. */
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON body (sets `content-type: application/json` unless given). */
  readonly json?: unknown;
  /** A raw body (when `json` is absent). */
  readonly body?: string | Uint8Array;
}

/** Encodes a handler's {@link StorableResponse} synchronously. */
export function encodeInit(init: StorableResponse): StoredResponse {
  const headers: Array<[string, string]> = Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]);
  let body: Uint8Array;
  if (init.json !== undefined) {
    body = Buffer.from(JSON.stringify(init.json));
    if (!headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'application/json']);
  } else if (typeof init.body === 'string') {
    body = Buffer.from(init.body);
    if (!headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'text/plain;charset=UTF-8']);
  } else {
    body = init.body ?? new Uint8Array(0);
  }
  return encodeStored(init.status ?? 200, headers, body);
}
