import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { ResponseSnapshot } from '../context.js';
import { nullBody } from '../idempotency-key.js';
import { headerText } from '../node.js';

/** What the downstream handler answered, held in memory. */
export interface CapturedResponse {
  readonly status: number;
  readonly headers: OutgoingHttpHeaders;
  readonly body: Buffer;
  toResponse(): Response;
  snapshot(): ResponseSnapshot;
}

type Callback = (err?: Error | null) => void;

const PATCHED = ['writeHead', 'write', 'end', 'flushHeaders'] as const;

function noop(): void {}

/**
 * Holds back what downstream Express code writes (`writeHead`, `write`, `end`) until the Weir
 * chain has seen it, as the `on-headers` and `compression` middleware do. `restore()` puts the
 * real methods back; `flush()` then writes the captured response unchanged.
 */
export class ResponseCapture {
  readonly done: Promise<CapturedResponse>;
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private readonly own = new Map<string, unknown>();
  private resolve!: (value: CapturedResponse) => void;
  private reject!: (reason: unknown) => void;
  private readonly onClose = (): void => {
    if (!this.ended) this.reject(new Error('weir/server/express: the client closed the connection before the response'));
  };

  constructor(private readonly res: ServerResponse) {
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // The chain may never await `done` (a middleware that ignores the response): no unhandled rejection.
    this.done.catch(() => undefined);
    const r = res as unknown as Record<string, unknown>;
    // Another middleware (compression, …) may have patched these as own properties already: keep them.
    for (const name of PATCHED) if (Object.hasOwn(r, name)) this.own.set(name, r[name]);
    r.writeHead = (status: number, reason?: unknown, headers?: unknown): ServerResponse => {
      res.statusCode = status;
      const h = typeof reason === 'string' ? headers : reason;
      if (typeof reason === 'string') res.statusMessage = reason;
      if (Array.isArray(h)) {
        for (let i = 0; i + 1 < h.length; i += 2) res.setHeader(String(h[i]), String(h[i + 1]));
      } else if (h !== undefined && h !== null) {
        for (const [name, value] of Object.entries(h as OutgoingHttpHeaders)) if (value !== undefined) res.setHeader(name, value);
      }
      return res;
    };
    r.write = (chunk: unknown, encoding?: unknown, cb?: unknown): boolean => {
      this.push(chunk, encoding);
      (typeof encoding === 'function' ? (encoding as Callback) : (cb as Callback | undefined))?.();
      return true;
    };
    r.end = (chunk?: unknown, encoding?: unknown, cb?: unknown): ServerResponse => {
      if (typeof chunk === 'function') cb = chunk;
      else if (chunk !== undefined && chunk !== null) this.push(chunk, encoding);
      this.finish();
      (typeof encoding === 'function' ? (encoding as Callback) : (cb as Callback | undefined))?.();
      return res;
    };
    r.flushHeaders = noop;
    res.once('close', this.onClose);
  }

  private push(chunk: unknown, encoding: unknown): void {
    if (typeof chunk === 'string') this.chunks.push(Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
    else if (chunk instanceof Uint8Array) this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    const status = this.res.statusCode;
    const headers = this.res.getHeaders();
    const body = Buffer.concat(this.chunks);
    this.resolve({
      status,
      headers,
      body,
      toResponse: () => {
        const h = new Headers();
        for (const [name, value] of Object.entries(headers)) {
          if (Array.isArray(value)) for (const v of value) h.append(name, v);
          else {
            const text = headerText(value);
            if (text !== undefined) h.set(name, text);
          }
        }
        return new Response(nullBody(status) ? null : body, { status, statusText: this.res.statusMessage ?? '', headers: h });
      },
      snapshot: () => {
        const pairs: Array<[string, string]> = [];
        for (const [name, value] of Object.entries(headers)) {
          if (Array.isArray(value)) for (const v of value) pairs.push([name, String(v)]);
          else {
            const text = headerText(value);
            if (text !== undefined) pairs.push([name, text]);
          }
        }
        return { status, headers: pairs, body: nullBody(status) ? new Uint8Array(0) : body };
      },
    });
  }

  /** Puts the real `writeHead`/`write`/`end` back. */
  restore(): void {
    const r = this.res as unknown as Record<string, unknown>;
    for (const name of PATCHED) {
      if (this.own.has(name)) r[name] = this.own.get(name);
      else delete r[name];
    }
    this.res.removeListener('close', this.onClose);
  }

  /** Writes the captured response as it was (after `restore()`). */
  flush(): void {
    this.res.end(Buffer.concat(this.chunks));
  }
}
