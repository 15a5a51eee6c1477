/**
 * `weir/observability/otel`: OpenTelemetry spans and W3C trace context through HTTP and messages,
 * on `@opentelemetry/api` (an optional peer dependency). `otelTracing()` is the hook object that
 * `connection({ tracing })` and `createQueue(store, { tracing })` accept.
 * @packageDocumentation
 */
export { otelTracing } from './tracing.js';
export type { OtelTracing, OtelTracingOptions } from './tracing.js';
export { w3cTraceContext } from './w3c.js';
