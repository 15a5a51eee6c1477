import type { Readable } from 'node:stream';
import { InvalidOptionError } from '../errors.js';
import type { ResponseBody } from './body.js';

/** A request body: JSON for plain objects, arrays, numbers, booleans and null; as-is for text, bytes, Blob and FormData; streamed for streams and async iterables (a streamed body is never retried). */
export type RequestBody =
  | string
  | Uint8Array
  | ArrayBuffer
  | Blob
  | FormData
  | Readable
  | AsyncIterable<Uint8Array>
  | Record<string, unknown>
  | readonly unknown[]
  | number
  | boolean
  | null;

/** Query parameters; arrays repeat the key; `undefined` values are left out. */
export type QueryParams = Readonly<Record<string, string | number | boolean | undefined | readonly (string | number | boolean)[]>>;

/**
 * A delivered response. Its `body` streams: read it (`json()`, `text()`, `bytes()`, iterate `body`)
 * or discard it (`dump()`), or the connection it came on stays busy.
 */
export class HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: ResponseBody;
  /** The `X-Request-Id` of the attempt that produced this response. */
  readonly requestId: string | undefined;
  /** Attempts made, including the one that succeeded. */
  readonly attempts: number;

  /** @internal */
  constructor(status: number, headers: Readonly<Record<string, string | string[] | undefined>>, body: ResponseBody, requestId: string | undefined, attempts: number) {
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.requestId = requestId;
    this.attempts = attempts;
  }

  /** A header's value (repeated headers joined with `, `). */
  header(name: string): string | undefined {
    const v = this.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(', ') : v;
  }

  /** The body parsed as JSON; `undefined` for an empty body (204, HEAD). @throws SyntaxError for malformed JSON. */
  json<T = unknown>(): Promise<T> {
    return this.body.json<T>();
  }

  text(): Promise<string> {
    return this.body.text();
  }

  bytes(): Promise<Uint8Array> {
    return this.body.bytes();
  }

  /** Discards the body (bounded: past 128 KiB the connection is dropped rather than read). */
  dump(): Promise<void> {
    return this.body.dump();
  }
}

/** A pending response with shortcuts: `await conn.get('/x').json<T>()`. */
export interface ResponsePromise extends Promise<HttpResponse> {
  /** The body parsed as JSON (`undefined` when empty). */
  json<T = unknown>(): Promise<T>;
  /** The body as text. */
  text(): Promise<string>;
}

export function responsePromise(p: Promise<HttpResponse>): ResponsePromise {
  return Object.assign(p, {
    json: <T>() => p.then((r) => r.json<T>()),
    text: () => p.then((r) => r.text()),
  });
}

/** Encodes a body and the content type it implies. Plain data becomes JSON. */
export function encodeBody(
  body: RequestBody | undefined,
  headers: Record<string, string>,
): string | Uint8Array | Blob | FormData | Readable | AsyncIterable<Uint8Array> | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string' || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (typeof body === 'object' && body !== null && !Array.isArray(body)) {
    const b = body as { pipe?: unknown; [Symbol.asyncIterator]?: unknown; arrayBuffer?: unknown; append?: unknown };
    if (typeof b.pipe === 'function' || typeof b[Symbol.asyncIterator] === 'function') return body as Readable;
    if (typeof b.arrayBuffer === 'function' || (typeof FormData !== 'undefined' && body instanceof FormData)) return body as Blob | FormData;
  }
  headers['content-type'] ??= 'application/json';
  return json(body);
}

/** JSON text for a body, or the caller's mistake named. */
export function json(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    throw new InvalidOptionError('body', 'a value JSON can encode (no cycles, no BigInt)', value);
  }
  if (text === undefined) throw new InvalidOptionError('body', 'a value JSON can encode', value);
  return text;
}

/** Appends query parameters to a path. */
export function withQuery(path: string, query: QueryParams | undefined): string {
  if (query === undefined) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) params.append(key, String(v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  if (text === '') return path;
  return `${path}${path.includes('?') ? '&' : '?'}${text}`;
}
