/**
 * Helpers the Node framework adapters share (no framework import here): TLS facts from a socket,
 * header access, body reading, Web Request/Response conversion.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { PeerCertificateLike, TlsInfo } from './context.js';

/** The part of a Node socket the adapters read. */
export interface SocketLike {
  readonly remoteAddress?: string | undefined;
  readonly encrypted?: boolean;
  readonly authorized?: boolean;
  readonly authorizationError?: Error | string | null | undefined;
  getPeerCertificate?(detailed?: boolean): Record<string, unknown> | null | undefined;
}

/** TLS facts from a `TLSSocket` (undefined on plain TCP). */
export function tlsInfoOf(socket: SocketLike | undefined | null): TlsInfo | undefined {
  if (socket === undefined || socket === null || socket.encrypted !== true || typeof socket.getPeerCertificate !== 'function') return undefined;
  const cert = socket.getPeerCertificate(false);
  const present = cert !== null && cert !== undefined && Object.keys(cert).length > 0;
  const error = socket.authorizationError;
  return {
    authorized: socket.authorized === true,
    authorizationError: error === null || error === undefined ? undefined : String(error instanceof Error ? error.message : error),
    certificate: present ? (cert as PeerCertificateLike) : undefined,
  };
}

/** A header of a Node request by lower-case name (repeated values joined with `, `). */
export function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Reads a readable stream to the end. */
export async function readAll(stream: AsyncIterable<unknown>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
}

/** A Web `Request` from a Node request's parts. */
export function webRequest(
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Uint8Array | undefined,
  tls: boolean,
): Request {
  const h = new Headers();
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    if (Array.isArray(value)) for (const v of value) h.append(name, v);
    else h.set(name, value);
  }
  const absolute = url.charCodeAt(0) === 47 ? `${tls ? 'https' : 'http'}://${headerOf(headers, 'host') ?? 'localhost'}${url}` : url;
  const withBody = body !== undefined && body.byteLength > 0 && method !== 'GET' && method !== 'HEAD';
  return new Request(absolute, { method, headers: h, ...(withBody ? { body: body as unknown as NonNullable<RequestInit['body']> } : {}) });
}

/** Web response headers as a Node header record (`set-cookie` as an array). */
export function nodeHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    if (name === 'set-cookie') {
      const list = out[name];
      out[name] = Array.isArray(list) ? [...list, value] : [value];
    } else out[name] = value;
  }
  return out;
}

/** The body of a Web response as a Buffer (empty for none). */
export async function bodyBytes(res: Response): Promise<Buffer> {
  return res.body === null ? Buffer.alloc(0) : Buffer.from(await res.arrayBuffer());
}

/** A Node header value (number, string or list) as a string. */
export function headerText(value: number | string | readonly string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}
