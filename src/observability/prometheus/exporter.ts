import type { IncomingMessage, ServerResponse } from 'node:http';
import { Registry } from 'prom-client';
import type { Disposable } from '../../internal/events.js';
import { type Clock, systemClock } from '../../internal/clock.js';
import type { BreakerState, CircuitBreakerPolicy } from '../../policy/circuit-breaker.js';
import type { QueueMetrics } from '../../queue/metrics.js';
import type { TopicStats } from '../../store/queue.js';
import { type Counter, type Gauge, HTTP_DURATION_BUCKETS, HTTP_METRICS, type MetricMeter } from '../metrics.js';
import { PromInstruments } from './instruments.js';
import { SYNC_METRICS } from './names.js';
import { queueInstruments } from './queue.js';

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2, isolated: 3 };

/** Anything with queue stats: a `Queue`, or the store's queue. */
export interface QueueStatsSource {
  stats(): Promise<readonly TopicStats[]>;
}

export interface PrometheusMetricsOptions {
  /** The prom-client registry to register into. Default: a new `Registry` (not the global one). */
  readonly registry?: Registry;
  /** Prepended to every metric name, e.g. `myapp_`. Default `''` (names as documented). */
  readonly prefix?: string;
  /** Clock for queue ages at scrape time. Default: the system clock. */
  readonly clock?: Clock;
}

/** The exporter: a registry with Weir's metrics, and the hooks that feed it. */
export interface PrometheusMetrics {
  readonly registry: Registry;
  /** Pass as a connection's `metrics` option: requests, durations, retries, breaker, quota. */
  readonly meter: MetricMeter;
  /** Pass as a queue's `metrics` option: depth, age, in flight, throughput, retries, dead letters. */
  readonly queueMetrics: QueueMetrics;
  /** `weir_sync_lag_seconds`: set it to how far a sync is behind its source, in seconds. Label `sync`. */
  readonly syncLag: Gauge;
  /** `weir_escalations_open`: escalations waiting for a person. */
  readonly escalationsOpen: Gauge;
  /** `weir_conflicts_total`: add one per conflict, label `resolution` (`resolved_by_policy` | `escalated`). */
  readonly conflicts: Counter;
  /** Reports a breaker's state as `weir_circuit_state{system}` and counts its openings. */
  watchBreaker(system: string, breaker: CircuitBreakerPolicy): Disposable;
  /** Samples a queue's depth, oldest age and dead letters at every scrape (besides the `depth` hook). */
  watchQueue(queue: QueueStatsSource): Disposable;
  /** The exposition text (Prometheus text format 0.0.4). */
  text(): Promise<string>;
  /** The `Content-Type` of {@link text}. */
  readonly contentType: string;
  /** A `node:http` handler (or Express/`@hono/node-server` raw) answering with {@link text}. */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /** Stops watching every breaker and queue. The registry keeps its values. */
  close(): void;
}

/**
 * A Prometheus exporter over prom-client (an optional peer dependency: `npm i prom-client`).
 * Every name of the flagship contract is registered at once, so `/metrics` shows it before the
 * first request: `weir_queue_depth`, `weir_api_requests_total{system,status_class}`,
 * `weir_sync_lag_seconds`, `weir_conflicts_total{resolution}`, `weir_escalations_open`,
 * `weir_circuit_state{system}` (0 closed, 1 open, 2 half-open, 3 isolated), `weir_dead_letters`;
 * plus the HTTP metrics of {@link HTTP_METRICS} and the queue metrics of `QUEUE_METRICS`.
 * @throws InvalidOptionError naming `name` when the registry already holds one of these names.
 * @example
 * ```ts
 * import { prometheusMetrics } from 'weir/observability/prometheus';
 * const prom = prometheusMetrics();
 * const esp = connection({ name: 'esp', baseUrl, metrics: prom.meter });
 * const queue = createQueue(store, { metrics: prom.queueMetrics });
 * prom.watchQueue(queue);
 * http.createServer((req, res) => req.url === '/metrics' ? prom.handler(req, res) : notFound(res)).listen(9464);
 * ```
 */
export function prometheusMetrics(options: PrometheusMetricsOptions = {}): PrometheusMetrics {
  const registry = options.registry ?? new Registry();
  const clock = options.clock ?? systemClock;
  const ins = new PromInstruments(registry, options.prefix ?? '');
  const sources = new Set<QueueStatsSource>();
  let sampling: Promise<void> | undefined;
  const sample = (): Promise<void> => {
    if (sources.size === 0) return Promise.resolve();
    sampling ??= (async () => {
      try {
        const results = await Promise.allSettled([...sources].map((s) => s.stats()));
        for (const r of results) if (r.status === 'fulfilled') queue.gauges.apply(clock.now(), r.value);
      } finally {
        sampling = undefined;
      }
    })();
    return sampling;
  };
  const queue = queueInstruments(ins, sample);

  // The HTTP instruments, declared up front with the labels the connection records.
  const h = HTTP_METRICS;
  const byCall = ['system', 'method', 'outcome'];
  ins.counter(h.requests, { description: 'HTTP requests sent, one per attempt', labelNames: ['system', 'method', 'status_class'] });
  ins.histogram(h.attemptDuration, { description: 'Duration of one HTTP attempt, seconds', labelNames: byCall, buckets: HTTP_DURATION_BUCKETS });
  ins.histogram(h.callDuration, { description: 'Duration of one HTTP call, all attempts included, seconds', labelNames: byCall, buckets: HTTP_DURATION_BUCKETS });
  const circuit = ins.gauge(h.circuitState, { description: 'Circuit state: 0 closed, 1 open, 2 half-open, 3 isolated', labelNames: ['system'] });
  ins.gauge(h.rateLimitRemaining, { description: 'Remaining quota the server last reported', labelNames: ['system'] });
  ins.gauge(h.heldUntil, { description: 'Epoch seconds until which the connection is held', labelNames: ['system'] });
  ins.counter(h.retries, { description: 'Retries scheduled', labelNames: ['system'] });
  ins.counter(h.budgetExhausted, { description: 'Retries refused by the retry budget', labelNames: ['system'] });
  ins.counter(h.rejected, { description: 'Attempts refused locally', labelNames: ['system', 'reason'] });

  const s = SYNC_METRICS;
  const opens = ins.counter(s.circuitOpens, { description: 'Times a circuit opened', labelNames: ['system'] });
  const syncLag = ins.gauge(s.lag, { description: 'How far a sync is behind its source, seconds', labelNames: ['sync'] });
  const escalationsOpen = ins.gauge(s.escalationsOpen, { description: 'Escalations waiting for a person' });
  const conflicts = ins.counter(s.conflicts, { description: 'Conflicts, by resolution', labelNames: ['resolution'] });
  escalationsOpen.set(0);
  for (const resolution of ['resolved_by_policy', 'escalated']) ins.zero(s.conflicts, { resolution });

  const subscriptions = new Set<Disposable>();
  const track = (dispose: () => void): Disposable => {
    const d: Disposable = {
      dispose() {
        if (!subscriptions.delete(d)) return;
        dispose();
      },
      [Symbol.dispose]() {
        d.dispose();
      },
    };
    subscriptions.add(d);
    return d;
  };

  const text = (): Promise<string> => registry.metrics();
  return {
    registry,
    meter: ins.meter(),
    queueMetrics: queue.hooks,
    syncLag,
    escalationsOpen,
    conflicts,
    watchBreaker(system, breaker) {
      const labels = { system };
      circuit.set(STATE_VALUE[breaker.state], labels);
      ins.zero(s.circuitOpens, labels);
      const sub = breaker.onStateChange(({ to }) => {
        circuit.set(STATE_VALUE[to], labels);
        if (to === 'open') opens.add(1, labels);
      });
      return track(() => sub.dispose());
    },
    watchQueue(source) {
      sources.add(source);
      return track(() => sources.delete(source));
    },
    text,
    get contentType() {
      return registry.contentType;
    },
    handler(_req, res) {
      text().then(
        (body) => {
          res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
          res.end(body);
        },
        () => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('metrics collection failed\n');
        },
      );
    },
    close() {
      for (const d of subscriptions) d.dispose(); // deleting the current entry is safe in a Set walk
    },
  };
}
