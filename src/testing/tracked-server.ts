import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A `node:http` server on 127.0.0.1 that keeps every request's handling promise, so closing can
 * wait until each request is recorded. A handler that throws destroys its socket. Shared by
 * `faultServer()` and the simulators.
 */
export class TrackedServer {
  readonly #inflight = new Set<Promise<void>>();
  readonly #http = createServer((req, res) => {
    const done = this.handle(req, res)
      .catch(() => {
        res.destroy();
      })
      .finally(() => this.#inflight.delete(done));
    this.#inflight.add(done);
  });

  constructor(private readonly handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>) {}

  get listening(): boolean {
    return this.#http.listening;
  }

  /** Listens on `port` (0: a free one) and resolves with the port. */
  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, '127.0.0.1', () => {
        this.#http.off('error', reject);
        resolve((this.#http.address() as AddressInfo).port);
      });
    });
  }

  /** Stops listening, drops every open connection, and resolves once every request has been handled. */
  async close(): Promise<void> {
    if (this.#http.listening) {
      await new Promise<void>((resolve) => {
        this.#http.close(() => resolve());
        this.#http.closeAllConnections();
      });
    }
    await Promise.all(this.#inflight);
  }
}
