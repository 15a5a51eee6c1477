import { Readable } from 'node:stream';
import { CancelledError } from '../errors.js';
import type { DispatchController, DispatchHandler, HttpCall } from './call.js';
import { HttpResponse } from './response.js';

/** How much `dump()` reads before it drops the connection instead. */
const DUMP_LIMIT = 128 * 1024;

type Consumer = { chunks: Buffer[]; size: number; limit: number; resolve: (b: Buffer) => void; reject: (e: unknown) => void };

/**
 * A response body: a Node `Readable` (iterate it, pipe it) with `text()`, `json()`, `bytes()`,
 * `arrayBuffer()` and `dump()`. When one of those is called before the body was read as a stream,
 * chunks go straight to it, without the stream machinery. Backpressure reaches the socket: a
 * stream reader that stops reading pauses the response.
 */
export class ResponseBody extends Readable {
  private consumer: Consumer | undefined = undefined;
  private ended = false;
  private failure: unknown = undefined;

  /** @internal */
  constructor(private readonly controller: DispatchController) {
    super();
  }

  override _read(): void {
    this.controller.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.ended) this.controller.abort(error ?? new CancelledError());
    callback(error);
  }

  /** The body as UTF-8 text. */
  async text(): Promise<string> {
    return (await this.consume(Number.POSITIVE_INFINITY)).toString('utf8');
  }

  /** The body parsed as JSON; `undefined` when empty. @throws SyntaxError for malformed JSON. */
  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** The body's bytes. */
  async bytes(): Promise<Uint8Array> {
    return new Uint8Array(await this.consume(Number.POSITIVE_INFINITY));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.consume(Number.POSITIVE_INFINITY);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  /** Discards the body so the connection can be reused; a body over 128 KiB drops the connection instead. */
  async dump(): Promise<void> {
    await this.consume(DUMP_LIMIT).catch(() => undefined);
  }

  /** @internal A chunk from the response. */
  deliver(chunk: Buffer): void {
    const c = this.consumer;
    if (c !== undefined) {
      c.size += chunk.length;
      if (c.size > c.limit) {
        this.controller.abort(new CancelledError());
        return;
      }
      if (c.limit === Number.POSITIVE_INFINITY) c.chunks.push(chunk);
      return;
    }
    if (!this.push(chunk)) this.controller.pause();
  }

  /** @internal The response ended. */
  end(): void {
    this.ended = true;
    const c = this.consumer;
    if (c === undefined) this.push(null);
    else c.resolve(c.chunks.length === 1 ? (c.chunks[0] as Buffer) : Buffer.concat(c.chunks, c.size));
  }

  /** @internal The response failed after its headers. */
  fail(error: Error): void {
    this.ended = true;
    this.failure = error;
    const c = this.consumer;
    if (c === undefined) this.destroy(error);
    else c.reject(error);
  }

  private consume(limit: number): Promise<Buffer> {
    if (this.consumer !== undefined || this.readableDidRead || (this.destroyed && this.failure === undefined)) {
      return Promise.reject(new TypeError('The body was already read.'));
    }
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<Buffer>((resolve, reject) => {
      const consumer: Consumer = { chunks: [], size: 0, limit, resolve, reject };
      // Chunks the stream buffered before the call go first.
      for (let b = this.read() as Buffer | null; b !== null; b = this.read() as Buffer | null) {
        consumer.size += b.length;
        if (limit === Number.POSITIVE_INFINITY) consumer.chunks.push(b);
      }
      this.consumer = consumer;
      this.controller.resume();
      if (this.ended) this.end();
    });
  }
}

/**
 * The connection's own handler at the top of the chain (new-style, so undici never converts the
 * headers back to raw buffers): resolves with the response at its headers, then streams the body.
 * The caller's signal aborts the call with `WEIR_CANCELLED`.
 */
export class CallHandler implements DispatchHandler {
  private controller: DispatchController | undefined = undefined;
  private body: ResponseBody | undefined = undefined;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly call: HttpCall,
    private readonly resolve: (value: HttpResponse) => void,
    private readonly reject: (error: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal !== undefined && !signal.aborted) {
      this.onAbort = () => this.controller?.abort(new CancelledError(signal.reason));
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  onRequestStart(controller: DispatchController): void {
    this.controller = controller;
    if (this.signal?.aborted === true) controller.abort(new CancelledError(this.signal.reason));
  }

  onResponseStart(controller: DispatchController, status: number, headers: Record<string, string | string[] | undefined>): void {
    const body = new ResponseBody(controller);
    this.body = body;
    this.resolve(new HttpResponse(status, headers, body, this.call.requestId, this.call.attempt));
  }

  onResponseData(_controller: DispatchController, chunk: Buffer): void {
    this.body?.deliver(chunk);
  }

  onResponseEnd(): void {
    this.detach();
    this.body?.end();
  }

  onResponseError(_controller: DispatchController, error: Error): void {
    this.detach();
    if (this.body === undefined) this.reject(error);
    else this.body.fail(error);
  }

  private detach(): void {
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
  }
}
