import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../../src/internal/clock.js';

/** One request as the test server received it. */
export interface Arrival {
  readonly seq: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** `clock.now()` when the request arrived (the test's clock, often a FakeClock). */
  readonly at: number;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, arrival: Arrival) => void | Promise<void>;

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly arrivals: Arrival[];
  /** Resolves once `count` requests arrived (real time; fails after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  readonly server: Server;
}

/**
 * A real HTTP server on 127.0.0.1:0 that records every request (with the body) before calling
 * `handler`. The `Date` header comes from `clock`, so HTTP-dates agree with a FakeClock.
 */
export async function testServer(handler: Handler, options: { clock?: Clock } = {}): Promise<TestServer> {
  const clock = options.clock ?? systemClock;
  const arrivals: Arrival[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrival: Arrival = {
        seq: arrivals.length + 1,
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: clock.now(),
      };
      arrivals.push(arrival);
      res.sendDate = false;
      res.setHeader('date', new Date(clock.now()).toUTCString());
      Promise.resolve(handler(req, res, arrival)).catch(() => res.destroy());
    });
    req.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    arrivals,
    server,
    async waitFor(count, timeoutMs = 5_000) {
      const start = Date.now();
      while (arrivals.length < count) {
        if (Date.now() - start > timeoutMs) throw new Error(`expected ${count} requests, got ${arrivals.length}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Lets real I/O run for `ms` of real time (to show that nothing happens while a FakeClock stands still). */
export function realDelay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Sends a JSON answer. */
export function reply(res: ServerResponse, status: number, body: unknown = {}, headers: Record<string, string | string[]> = {}): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(JSON.stringify(body));
}

/** A promise that settles later, with a flag to check whether it has. */
export function track<T>(p: Promise<T>): { promise: Promise<T>; readonly settled: boolean } {
  const state = { settled: false };
  const promise = p.finally(() => {
    state.settled = true;
  });
  promise.catch(() => undefined);
  return {
    promise,
    get settled() {
      return state.settled;
    },
  };
}

/** Resolves once `condition()` holds (polling real time; fails after `timeoutMs`). */
export async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
