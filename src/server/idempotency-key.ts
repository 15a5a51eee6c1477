import { createHash } from 'node:crypto';
import { parseItem } from '../internal/structured-fields.js';

/** Why an `Idempotency-Key` value was refused. */
export type IdempotencyKeyProblem = 'empty' | 'too_long' | 'syntax' | 'charset';

/** A bare (unquoted) key: token-like characters only. */
const BARE = /^[A-Za-z0-9!#$%&'*+\-.^_`|~:/=@]+$/;
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
  const head = `${method.toUpperCase()}\n${target}\n`;
  return createHash('sha256').update(`${head.length}:${head}`).update(body).digest('base64url');
}

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
  for (const [name, value] of headers) if (!TRANSIENT.has(name.toLowerCase())) kept.push([name.toLowerCase(), value]);
  return { v: 1, status, headers: kept, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('base64') };
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
