import { InvalidOptionError } from '../errors.js';
import { headerName } from './scheme.js';

/**
 * The pieces of the receiver that read a request: the capped body, the delivery's fields (id,
 * key, version) and the payload. Kept apart from the flow in `receiver.ts`.
 */

/** A delivery as the receiver's extractors see it: raw bytes, headers, and JSON parsed at most once. */
export interface ReceivedWebhook {
  /** The body exactly as received. */
  readonly rawBody: Uint8Array;
  /** A request header by name (any case). */
  header(name: string): string | undefined;
  /** The body parsed as JSON (once, then cached). @throws SyntaxError when it is not JSON. */
  json<T = unknown>(): T;
  /**
   * True once the signature was verified. False only while the receiver reads an id for the audit
   * entry of a rejected delivery (the id then names what the sender claimed, nothing more).
   */
  readonly verified: boolean;
}

/** Where a field comes from: a request header name, or a function over the delivery. */
export type WebhookField<T> = string | ((webhook: ReceivedWebhook) => T | undefined);

/** How the verified body becomes the message payload. */
export type PayloadMode = 'json' | 'text' | 'base64' | ((webhook: ReceivedWebhook) => unknown);

export class Delivery implements ReceivedWebhook {
  #parsed: { value: unknown } | undefined = undefined;
  constructor(
    readonly rawBody: Uint8Array,
    private readonly lookup: (name: string) => string | undefined,
    readonly verified: boolean,
  ) {}

  header(name: string): string | undefined {
    return this.lookup(name.toLowerCase());
  }

  json<T = unknown>(): T {
    this.#parsed ??= { value: JSON.parse(Buffer.from(this.rawBody.buffer, this.rawBody.byteOffset, this.rawBody.byteLength).toString('utf8')) };
    return this.#parsed.value as T;
  }
}

/** Compiles a {@link WebhookField} option into a reader. */
export function fieldReader<T>(value: WebhookField<T>, option: string): (w: ReceivedWebhook) => T | undefined {
  if (typeof value === 'function') return value;
  const name = headerName(value, option).toLowerCase();
  return (w) => w.header(name) as T | undefined;
}

/** Dedup ids the built-in formats carry, so `dedupBy` can be left out for them. */
export const DEFAULT_DEDUP: Readonly<Record<string, (w: ReceivedWebhook) => string | undefined>> = {
  'standard-webhooks': (w) => w.header('webhook-id') ?? w.header('svix-id'),
  github: (w) => w.header('x-github-delivery'),
  shopify: (w) => w.header('x-shopify-webhook-id'),
  stripe: (w) => {
    const event = w.json<{ id?: unknown }>();
    return typeof event?.id === 'string' ? event.id : undefined;
  },
};

const ID = /^[\x21-\x7e](?:[\x20-\x7e]{0,254}[\x21-\x7e])?$/;

/** A delivery id as the receiver accepts it: 1 to 256 printable ASCII characters, no leading or trailing space. */
export function validId(value: unknown): value is string {
  return typeof value === 'string' && ID.test(value);
}

/** The payload for a mode. @throws SyntaxError for `'json'` over a body that is not JSON; whatever a function throws. */
export function payloadOf(mode: PayloadMode, w: ReceivedWebhook): unknown {
  if (typeof mode === 'function') return mode(w);
  const bytes = Buffer.from(w.rawBody.buffer, w.rawBody.byteOffset, w.rawBody.byteLength);
  if (mode === 'json') return w.json();
  return mode === 'text' ? bytes.toString('utf8') : bytes.toString('base64');
}

/** Validates `parse`. */
export function payloadMode(value: unknown): PayloadMode {
  if (value === undefined) return 'json';
  if (typeof value === 'function' || value === 'json' || value === 'text' || value === 'base64') return value as PayloadMode;
  throw new InvalidOptionError('parse', "'json', 'text', 'base64' or a function", value);
}

/** The body was over the cap. */
export const TOO_LARGE = Symbol('too-large');

/** What the receiver needs of a request: its headers, and the body, read once. */
export interface BodySource {
  header(name: string): string | undefined;
  /** The Web Request, when the adapter has one whose stream can be read with a cap. */
  readonly stream: ReadableStream<Uint8Array> | null;
  /** The whole body, read by the adapter (bounded by the framework's own body limit). */
  body(): Promise<Uint8Array>;
}

/**
 * Reads the body, at most `maxBytes`: a `Content-Length` above the cap is refused before anything
 * is read; a stream is read chunk by chunk and cancelled as soon as it passes the cap. Adapters
 * that buffer the body themselves (Express, Fastify) bound it with their own limit first.
 */
export async function readCapped(source: BodySource, maxBytes: number): Promise<Uint8Array | typeof TOO_LARGE> {
  const declared = source.header('content-length');
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) return TOO_LARGE;
  const stream = source.stream;
  if (stream === null) {
    const bytes = await source.body();
    return bytes.byteLength > maxBytes ? TOO_LARGE : bytes;
  }
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return TOO_LARGE;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  return Buffer.concat(chunks, total);
}
