import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../../internal/clock.js';
import type { RetryAfterForm } from '../faults.js';
import { SimulatorFaults } from './fault-control.js';
import type { WebhookOutbox } from './outbox.js';
import { TrackedServer } from '../tracked-server.js';

/** One request as the simulator saw it. No `Authorization` value is ever kept. */
export interface SimulatorRequestRecord {
  readonly seq: number;
  /** Arrival, epoch ms on the simulator's clock (unskewed). */
  readonly at: number;
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  /** Status answered; `'reset'` (outage by reset), `'dropped'` (commit-then-drop: applied, no answer). */
  readonly status: number | 'reset' | 'dropped';
  /** `X-Request-Id` of the request, if any. */
  readonly requestId: string | undefined;
  readonly idempotencyKey: string | undefined;
  /** `'[redacted]'` when an `Authorization` header was sent, else undefined. */
  readonly authorization: '[redacted]' | undefined;
  /** The injected fault that answered, if any (`'latency'` when only delayed). */
  readonly fault: string | undefined;
}

/** A request sent before the time a `Retry-After` named (to the same client). */
export interface AbuseRecord {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  /** The client: `'bearer:<first 4 chars>…'` (ESP) or `'*'` (CRM). */
  readonly client: string;
  /** When the client was allowed back, epoch ms (unskewed). */
  readonly allowedAt: number;
}

/** Running totals. */
export interface SimulatorCounters {
  readonly requests: number;
  /** By status, `'reset'` and `'dropped'` included. */
  readonly byStatus: Readonly<Record<string, number>>;
  readonly abuse: number;
}

/** @internal A parsed request handed to a route. */
export interface SimRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: IncomingHttpHeaders;
  readonly raw: string;
  /** The client key rate limits and abuse are counted per. */
  readonly client: string;
  /** Waits out the latency injected for this request; call it before committing (idempotent). */
  work(): Promise<void>;
}

/** @internal A route's answer. `commit: true` marks an applied write (commit-then-drop may then drop it). */
export interface SimReply {
  readonly status: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly commit?: boolean;
}

/** @internal What a system plugs into the shared server. */
export interface SimSystem {
  readonly route: (req: SimRequest) => SimReply | Promise<SimReply>;
  /** Client key of a request (per-key rate limiting). */
  readonly client: (headers: IncomingHttpHeaders) => string;
  /** The system's own rate limit: undefined lets it through, else the wait before a token frees. */
  readonly limit: (client: string, now: number) => number | undefined;
  /** Extra headers on every response (rate-limit headers). */
  readonly decorate?: (client: string, now: number) => Record<string, string>;
  readonly retryAfter: () => RetryAfterForm;
}

/** @internal The HTTP plumbing shared by both simulators. */
export class SimulatorServer {
  readonly records: SimulatorRequestRecord[] = [];
  readonly abuse: AbuseRecord[] = [];
  readonly faults: SimulatorFaults;
  private readonly totals = { requests: 0, byStatus: {} as Record<string, number>, abuse: 0 };
  private readonly allowedAt = new Map<string, number>();
  private readonly http = new TrackedServer((req, res) => this.handle(req, res));
  private port = 0;
  private closing: Promise<void> | undefined;

  constructor(
    readonly clock: Clock,
    random: () => number,
    skewMs: number,
    private readonly system: SimSystem,
    readonly outbox: WebhookOutbox,
  ) {
    this.faults = new SimulatorFaults(clock, random, skewMs, outbox);
  }

  /** The simulator's own (skewed) time, epoch ms. */
  now(): number {
    return this.clock.now() + this.faults.skewMs;
  }

  get url(): string {
    if (this.port === 0) throw new Error('simulator not started: call start() first');
    return `http://127.0.0.1:${this.port}`;
  }

  get counters(): SimulatorCounters {
    return { requests: this.totals.requests, byStatus: { ...this.totals.byStatus }, abuse: this.totals.abuse };
  }

  listen(port = 0): Promise<void> {
    if (this.port !== 0) return Promise.resolve();
    return this.http.listen(port).then((p) => {
      this.port = p;
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.http.close();
      this.faults.close();
      await this.outbox.close();
    })();
    return this.closing;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = this.clock.now();
    const seq = ++this.totals.requests;
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const headers = req.headers;
    const client = this.system.client(headers);
    const until = this.allowedAt.get(client);
    if (until !== undefined && at < until) {
      this.totals.abuse++;
      this.abuse.push({ at, method, path, client, allowedAt: until });
    }
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const decision = this.faults.decide(method, path, at, this.system.retryAfter());
    let delayed = false;
    const work = async (): Promise<void> => {
      if (delayed || decision.delayMs <= 0) return;
      delayed = true;
      await this.clock.sleep(decision.delayMs).catch(() => undefined);
    };
    let reply: SimReply | 'reset';
    let fault = decision.delayMs > 0 ? 'latency' : undefined;
    if (decision.answer !== undefined) {
      await work();
      fault = decision.answer.fault;
      reply = decision.answer.status === 'reset' ? 'reset' : (decision.answer as SimReply);
    } else {
      const waitMs = this.system.limit(client, at);
      if (waitMs !== undefined) {
        await work();
        fault = fault ?? 'rate_limit';
        reply = { status: 429, body: { error: 'rate_limited' }, headers: { 'retry-after': this.faults.retryAfterValue(waitMs, this.system.retryAfter(), at) } };
      } else {
        const url = new URL(path, 'http://simulator');
        try {
          reply = await this.system.route({ method, url, headers, raw, client, work });
        } catch {
          reply = { status: 500, body: { error: 'internal' } };
        }
        await work();
      }
    }
    let status: SimulatorRequestRecord['status'];
    if (reply === 'reset') {
      status = 'reset';
      req.socket.resetAndDestroy();
    } else if (reply.commit === true && this.faults.takeDrop(method, path)) {
      status = 'dropped';
      fault = 'commit_then_drop';
      req.socket.destroy();
    } else {
      status = reply.status;
      const retryAfter = reply.headers?.['retry-after'];
      if (retryAfter !== undefined) this.noteRetryAfter(client, retryAfter);
      this.send(res, reply, client);
    }
    this.totals.byStatus[String(status)] = (this.totals.byStatus[String(status)] ?? 0) + 1;
    this.records.push({
      seq,
      at,
      method,
      path,
      status,
      requestId: header(headers, 'x-request-id'),
      idempotencyKey: header(headers, 'idempotency-key'),
      authorization: headers.authorization === undefined ? undefined : '[redacted]',
      fault,
    });
  }

  private noteRetryAfter(client: string, value: string): void {
    const now = this.clock.now();
    const seconds = /^\d+$/.test(value) ? Number(value) * 1000 : undefined;
    const until = seconds !== undefined ? now + seconds : Date.parse(value) - this.faults.skewMs;
    if (!Number.isFinite(until)) return;
    this.allowedAt.set(client, Math.max(this.allowedAt.get(client) ?? 0, until));
  }

  private send(res: ServerResponse, reply: SimReply, client: string): void {
    if (res.destroyed) return;
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...this.system.decorate?.(client, this.clock.now()),
      ...reply.headers,
      date: new Date(this.now()).toUTCString(),
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }
}

/** @internal One header value as a string. */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}
