/**
 * `weir/observability/prometheus`: a Prometheus exporter over prom-client (an optional peer
 * dependency). One registry with the flagship contract's metrics, a {@link MetricMeter} for
 * connections, `QueueMetrics` hooks for queues, breaker watching and a `/metrics` handler.
 * @packageDocumentation
 */
export { prometheusMetrics } from './exporter.js';
export type { PrometheusMetrics, PrometheusMetricsOptions, QueueStatsSource } from './exporter.js';
export { QUEUE_DURATION_BUCKETS, QUEUE_METRICS, SYNC_METRICS } from './names.js';
export { DEPTH_STATES } from './queue.js';
