import { Agent, type Dispatcher, request } from 'undici';
import { CancelledError, TimeoutError } from '../errors.js';
import { NetworkError } from '../http/errors.js';

/**
 * The sender's seam to the network: one POST, one answer. The default is plain undici with one
 * shared keep-alive agent; a `weir/http` `connection` is per remote system with its own retries,
 * breaker and rate-limit hold, while webhook retries belong to the queue's schedule, so deliveries
 * use this single-attempt transport instead (swap it to add a proxy, an SSRF guard or a test double).
 */

/** One delivery attempt as the transport sees it. */
export interface WebhookRequest {
  readonly url: URL;
  /** Lower-case names: the signature headers, content-type, user-agent and the endpoint's own. */
  readonly headers: Readonly<Record<string, string>>;
  /** The JSON body, byte-identical on every attempt. */
  readonly body: string;
  /** Budget of the whole exchange (headers and the excerpt), in ms. */
  readonly timeoutMs: number;
  /** Aborts when the worker must stop (lease lost, shutdown). */
  readonly signal: AbortSignal;
  /** Bytes of the response body to keep; the rest is not read. */
  readonly maxResponseBytes: number;
}

/** The endpoint's answer. */
export interface WebhookResponse {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The first `maxResponseBytes` of the body, as UTF-8 text. */
  readonly excerpt: string;
}

/**
 * Sends one request. Resolves with any status; rejects only when no answer arrived:
 * `WEIR_TIMEOUT`, `WEIR_NETWORK` (refused, reset, DNS, TLS), or `WEIR_CANCELLED` when `signal` aborted.
 */
export type WebhookTransport = (request: WebhookRequest) => Promise<WebhookResponse>;

/** Options of {@link undiciTransport}. */
export interface UndiciTransportOptions {
  /** The dispatcher (a custom `Agent`, a `ProxyAgent`, a `MockAgent`). Default: a new `Agent`, 4 s keep-alive. */
  readonly dispatcher?: Dispatcher;
}

/**
 * The default transport: undici `request`, no redirects followed (a 3xx is a failed attempt), the
 * response read up to `maxResponseBytes` and then dropped. Timeouts are wall-clock (the network
 * runs in real time whatever clock drives the schedule). Import from `weir/webhooks`.
 * @example `webhookSender({ queue, endpoints, transport: undiciTransport({ dispatcher: new ProxyAgent(proxyUrl) }) })`
 */
export function undiciTransport(options: UndiciTransportOptions = {}): WebhookTransport {
  const dispatcher = options.dispatcher ?? new Agent({ keepAliveTimeout: 4_000 });
  return async function undiciWebhookTransport(req: WebhookRequest): Promise<WebhookResponse> {
    if (req.signal.aborted) throw new CancelledError(req.signal.reason);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new TimeoutError(req.timeoutMs));
    }, req.timeoutMs);
    const forward = (): void => controller.abort(req.signal.reason);
    req.signal.addEventListener('abort', forward, { once: true });
    let sent = false;
    try {
      const res = await request(req.url, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
        signal: controller.signal,
        dispatcher,
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
      sent = true;
      const excerpt = await readExcerpt(res.body, req.maxResponseBytes);
      return { status: res.statusCode, headers: res.headers, excerpt };
    } catch (error) {
      if (timedOut) throw new TimeoutError(req.timeoutMs, { cause: error });
      if (req.signal.aborted) throw new CancelledError(req.signal.reason);
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') throw new TimeoutError(req.timeoutMs, { cause: error });
      throw new NetworkError({ method: 'POST', path: req.url.pathname, code: typeof code === 'string' ? code : undefined, sent, cause: error });
    } finally {
      clearTimeout(timer);
      req.signal.removeEventListener('abort', forward);
    }
  };
}

async function readExcerpt(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const buf = chunk as Buffer;
      chunks.push(total + buf.length > max ? buf.subarray(0, max - total) : buf);
      total += buf.length;
      if (total >= max) break;
    }
  } finally {
    if (!body.destroyed) body.destroy();
  }
  return Buffer.concat(chunks).toString('utf8');
}
