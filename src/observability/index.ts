/**
 * `weir/observability`: the audit trail (a batching writer over the store, queries, retention) and
 * the metrics interface with its no-op default. Exporters (Prometheus, OpenTelemetry) live in their
 * own subpaths and implement {@link MetricMeter}.
 * @packageDocumentation
 */
export { AuditTrail, auditTrail, toAuditJson } from './audit.js';
export type { AuditDropEvent, AuditEntryJson, AuditFlushEvent, AuditSink, AuditTrailOptions, AuditTrailQuery } from './audit.js';
export { HTTP_DURATION_BUCKETS, HTTP_METRICS, memoryMeter, noopMeter, statusClass } from './metrics.js';
export type { Counter, Gauge, Histogram, HistogramOptions, InstrumentOptions, MemoryMeter, MetricLabels, MetricMeter, RecordedMetric } from './metrics.js';
export { AlertManager, alerts } from './alerts.js';
export type { Alert, AlertDeliveryError, AlertRule, AlertSource, AlertStats, AlertsOptions, BreakerOpenRule, DeadLettersRule, ErrorRateRule, QueueAgeRule, QueueDepthRule, SyncLagRule, WatchableBreaker } from './alerts.js';
export type { AuditEntry, AuditQuery, AuditRecord, AuditStore } from '../store/audit.js';
