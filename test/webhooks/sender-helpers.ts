/**
 * Sender test kit: a real local endpoint (node:http on port 0) that records every delivery with
 * the fake clock's time and answers from a script, and a sender on a SQLite queue driven by a
 * FakeClock.
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { QueueOptions } from '../../src/queue/index.js';
import type { FakeClock } from '../../src/testing/index.js';
import { type WebhookEndpoint, webhookSender, type WebhookSender, type WebhookSenderOptions } from '../../src/webhooks/index.js';
import { sqliteQueue, waitFor } from '../queue/harness.js';

export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
export const NEW_SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';

export interface Received {
  /** Fake-clock time the request arrived. */
  readonly at: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An answer: status, headers and body, or `'hang'` (never answer). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export class TestEndpoint {
  readonly received: Received[] = [];
  answer: (n: number, r: Received) => Answer = () => ({ status: 200, body: 'ok' });
  private readonly hanging = new Set<ServerResponse>();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(clock: FakeClock, path = '/hooks'): Promise<TestEndpoint> {
    let self: TestEndpoint | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const e = self as TestEndpoint;
        const r: Received = { at: clock.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
        e.received.push(r);
        const a = e.answer(e.received.length, r);
        if (a === 'hang') {
          e.hanging.add(res);
          return;
        }
        res.writeHead(a.status, a.headers);
        res.end(a.body ?? '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new TestEndpoint(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
    return self;
  }

  close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}

export type Kit = Awaited<ReturnType<typeof sqliteQueue>> & {
  sender: WebhookSender;
  endpoint: TestEndpoint;
  /** Waits (in real time, firing due fake timers) until the endpoint has received `n` requests. */
  received(n: number): Promise<void>;
  /** The runAt of a queue message once it is `ready` again after a failure with `delivery` attempts made. */
  nextRunAt(messageId: string, attempts: number): Promise<number>;
  cleanup(): Promise<void>;
};

/** A sender on a fake-clocked SQLite queue, one endpoint `ep` at a real local server. */
export async function senderKit(
  o: { queue?: QueueOptions; sender?: Partial<WebhookSenderOptions>; endpoint?: Partial<WebhookEndpoint>; extra?: WebhookEndpoint[] } = {},
): Promise<Kit> {
  // Days pass on the fake clock: slow background timers keep the number of timer firings small.
  const h = await sqliteQueue({ leaseMs: 3_600_000, heartbeatMs: 1_800_000, maintenanceMs: 3_600_000, pollMs: 3_600_000, metricsIntervalMs: 86_400_000, ...o.queue });
  const endpoint = await TestEndpoint.start(h.clock);
  const sender = webhookSender({
    queue: h.queue,
    clock: h.clock,
    endpoints: [{ id: 'ep', url: endpoint.url, ...(o.endpoint?.secrets === undefined ? { secret: SECRET } : {}), ...o.endpoint } as WebhookEndpoint, ...(o.extra ?? [])],
    timeoutMs: 2_000,
    ...o.sender,
  });
  return {
    ...h,
    sender,
    endpoint,
    received: (n) => waitFor(() => endpoint.received.length >= n, h.clock, 10_000),
    async nextRunAt(messageId, attempts) {
      let runAt = 0;
      await waitFor(
        async () => {
          const m = await h.store.queue.get(messageId);
          if (m?.state === 'ready' && m.attempts === attempts) runAt = m.runAt;
          return runAt !== 0 || m?.state === 'dead';
        },
        h.clock,
        10_000,
      );
      return runAt;
    },
    async cleanup() {
      await h.cleanup();
      await endpoint.close();
    },
  };
}
