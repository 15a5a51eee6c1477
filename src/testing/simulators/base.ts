import type { IncomingHttpHeaders } from 'node:http';
import { InvalidOptionError } from '../../errors.js';
import { type Clock, systemClock } from '../../internal/clock.js';
import { finite, integer } from '../../internal/validate.js';
import type { RetryAfterForm } from '../faults.js';
import { seededRandom } from '../seeded-random.js';
import type { SimulatorFaults } from './fault-control.js';
import { type SimulatorWebhookTarget, type WebhookAttempt, type WebhookCounters, WebhookOutbox } from './outbox.js';
import { type AbuseRecord, type SimReply, type SimRequest, type SimulatorCounters, type SimulatorRequestRecord, SimulatorServer } from './server.js';

/** Options both simulators take. */
export interface SimulatorOptions {
  /** Time of the simulator: token expiry, rate limits, fault windows, webhook retries. Default: the system clock. */
  clock?: Clock;
  /** Seed of every random choice (error rates, jitter, webhook faults). Default 1. */
  seed?: number;
  /** Skew of the simulator's own clock, ms added to `clock` (`Date` header, timestamps, signatures). Default 0. */
  clockSkewMs?: number;
  /** Where webhooks go (also settable later with `webhooks.configure`). Without it none are sent. */
  webhook?: SimulatorWebhookTarget;
  /** Delays before each webhook retry, ms. Default `[1000, 5000, 30000, 120000, 600000]` (6 attempts). */
  webhookRetryDelaysMs?: readonly number[];
  /** A delivery with no answer within this many ms is retried. Default 5000. */
  webhookTimeoutMs?: number;
  /** Port on 127.0.0.1. Default 0 (a free one). */
  port?: number;
}

/** What a test can observe. Arrays are live (they grow as requests arrive); `counters` are snapshots. */
export interface SimulatorLog {
  /** Every request, in arrival order (`authorization` redacted). */
  readonly requests: readonly SimulatorRequestRecord[];
  /** Requests sent before the time a `Retry-After` named to the same client. */
  readonly abuse: readonly AbuseRecord[];
  /** Every webhook attempt. */
  readonly webhooks: readonly WebhookAttempt[];
  readonly counters: SimulatorCounters;
  readonly webhookCounters: WebhookCounters;
}

/** Webhook controls of a simulator. */
export interface SimulatorWebhooks {
  /** Sets (or removes) where webhooks go; later events use it. */
  configure(target: SimulatorWebhookTarget | undefined): void;
  /** Resolves once every emitted webhook is delivered, abandoned or lost. With a `FakeClock`, advance it meanwhile. */
  idle(): Promise<void>;
  /** Deliveries still in progress. */
  readonly pending: number;
}

const DEFAULT_RETRIES = [1000, 5000, 30_000, 120_000, 600_000] as const;

/** @internal What both simulators share: the server, the outbox, the random source. */
export abstract class BaseSimulator {
  protected readonly server: SimulatorServer;
  protected readonly outbox: WebhookOutbox;
  protected readonly clock: Clock;
  private readonly port: number;

  /** Webhook controls. */
  readonly webhooks: SimulatorWebhooks;

  protected constructor(name: string, options: SimulatorOptions, sign: (body: string, target: SimulatorWebhookTarget, now: number, id: string) => Record<string, string>) {
    this.clock = options.clock ?? systemClock;
    const random = seededRandom(options.seed === undefined ? 1 : integer(options.seed, `${name}.seed`, 0, 0xffff_ffff));
    const skew = finite(options.clockSkewMs ?? 0, `${name}.clockSkewMs`, Number.NEGATIVE_INFINITY);
    const retries = (options.webhookRetryDelaysMs ?? DEFAULT_RETRIES).map((ms, i) => finite(ms, `${name}.webhookRetryDelaysMs[${i}]`, 0));
    const timeoutMs = finite(options.webhookTimeoutMs ?? 5000, `${name}.webhookTimeoutMs`, 1);
    this.port = integer(options.port ?? 0, `${name}.port`, 0, 65_535);
    this.outbox = new WebhookOutbox(this.clock, random, (body, t, id) => sign(body, t, this.server.now(), id), retries, timeoutMs);
    if (options.webhook !== undefined) this.outbox.target = target(options.webhook, `${name}.webhook`);
    this.server = new SimulatorServer(
      this.clock,
      random,
      skew,
      {
        route: (req) => this.route(req),
        client: (headers) => this.client(headers),
        limit: (client, now) => this.limit(client, now),
        decorate: (client, now) => this.decorate(client, now),
        retryAfter: () => this.retryAfterForm(),
      },
      this.outbox,
    );
    const outbox = this.outbox;
    this.webhooks = {
      configure: (t) => {
        outbox.target = t === undefined ? undefined : target(t, `${name}.webhook`);
      },
      idle: () => outbox.idle(),
      get pending() {
        return outbox.pending;
      },
    };
  }

  /** `http://127.0.0.1:<port>` once started. @throws Error before `start()`. */
  get url(): string {
    return this.server.url;
  }

  /** The fault injector (latency, errors, 429 storms, outages, commit-then-drop, webhook faults, skew). */
  get faults(): SimulatorFaults {
    return this.server.faults;
  }

  /** Requests, abuse, webhook attempts and counters. */
  get log(): SimulatorLog {
    const server = this.server;
    const outbox = this.outbox;
    return {
      requests: server.records,
      abuse: server.abuse,
      webhooks: outbox.attempts,
      get counters() {
        return server.counters;
      },
      get webhookCounters() {
        return outbox.counters;
      },
    };
  }

  /** The simulator's own time (epoch ms, skew included), as its `Date` header shows it. */
  now(): number {
    return this.server.now();
  }

  /** Starts listening on 127.0.0.1. Idempotent. */
  async start(): Promise<this> {
    await this.server.listen(this.port);
    return this;
  }

  /** Stops listening, drops connections, stops webhook retries. Idempotent. */
  close(): Promise<void> {
    return this.server.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  protected abstract route(req: SimRequest): SimReply | Promise<SimReply>;
  protected abstract client(headers: IncomingHttpHeaders): string;
  protected abstract limit(client: string, now: number): number | undefined;
  protected decorate(_client: string, _now: number): Record<string, string> {
    return {};
  }
  protected retryAfterForm(): RetryAfterForm {
    return 'seconds';
  }
}

function target(t: SimulatorWebhookTarget, option: string): SimulatorWebhookTarget {
  if (typeof t !== 'object' || t === null || typeof t.url !== 'string' || typeof t.secret !== 'string' || t.secret === '') {
    throw new InvalidOptionError(option, 'an object { url, secret } with a non-empty secret', t);
  }
  return { url: t.url, secret: t.secret };
}
