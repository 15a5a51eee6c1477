/**
 * Metrics behind an interface, with a no-op default: Weir's components record through a
 * {@link MetricMeter}, and an exporter (Prometheus, OpenTelemetry) is a meter implementation living
 * in its own subpath, never an import of the core. Import from `weir/observability`.
 */

/** Label values by label name. Keep the set small and bounded (no ids, no paths). */
export type MetricLabels = Readonly<Record<string, string>>;

/** A monotonically increasing count. */
export interface Counter {
  /** Adds `value` (default 1, must be >= 0). */
  add(value?: number, labels?: MetricLabels): void;
}

/** A distribution (durations, sizes). */
export interface Histogram {
  record(value: number, labels?: MetricLabels): void;
}

/** A value that goes up and down (state, remaining quota). */
export interface Gauge {
  set(value: number, labels?: MetricLabels): void;
}

export interface InstrumentOptions {
  /** One line of help text. */
  readonly description?: string;
  /** The unit, UCUM style: `s`, `By`, `1`. */
  readonly unit?: string;
  /** The label names this instrument is recorded with (exporters may pre-declare them). */
  readonly labelNames?: readonly string[];
}

export interface HistogramOptions extends InstrumentOptions {
  /** Bucket upper bounds, ascending. Default: the exporter's. */
  readonly buckets?: readonly number[];
}

/**
 * Creates instruments. Components call these once, at construction, and keep the instruments.
 * Asking twice for the same name must return an instrument recording into the same series.
 */
export interface MetricMeter {
  counter(name: string, options?: InstrumentOptions): Counter;
  histogram(name: string, options?: HistogramOptions): Histogram;
  gauge(name: string, options?: InstrumentOptions): Gauge;
}

const noopInstrument: Counter & Histogram & Gauge = { add() {}, record() {}, set() {} };

/**
 * The default meter: records nothing and costs nothing. Components compare against it to skip
 * building label objects on the hot path.
 */
export const noopMeter: MetricMeter = Object.freeze({
  counter: () => noopInstrument,
  histogram: () => noopInstrument,
  gauge: () => noopInstrument,
});

/** The metric names `weir/http` records, with their labels. */
export const HTTP_METRICS = {
  /** Counter: requests sent (one per attempt on the wire). Labels `system`, `method`, `status_class` (`2xx`… or `error`). */
  requests: 'weir_api_requests_total',
  /** Histogram, seconds: one attempt, request to end of response. Labels `system`, `method`, `outcome`. */
  attemptDuration: 'weir_http_attempt_duration_seconds',
  /** Histogram, seconds: one call, all attempts and waits included. Labels `system`, `method`, `outcome`. */
  callDuration: 'weir_http_call_duration_seconds',
  /** Gauge: circuit state, 0 closed, 1 open, 2 half-open (3 isolated). Label `system`. */
  circuitState: 'weir_circuit_state',
  /** Gauge: the remaining quota the server last reported. Label `system`. */
  rateLimitRemaining: 'weir_http_ratelimit_remaining',
  /** Gauge: epoch seconds until which the connection is held (0 when not held). Label `system`. */
  heldUntil: 'weir_http_held_until_seconds',
  /** Counter: retries scheduled. Label `system`. */
  retries: 'weir_http_retries_total',
  /** Counter: retries refused because the retry budget was spent. Label `system`. */
  budgetExhausted: 'weir_http_retry_budget_exhausted_total',
  /** Counter: attempts refused locally (breaker, bulkhead, limiter). Labels `system`, `reason`. */
  rejected: 'weir_http_rejected_total',
} as const;

/** `2xx`, `4xx`, … for a status; `error` when no response arrived. */
export function statusClass(status: number | null | undefined): string {
  if (status === null || status === undefined || !(status >= 100 && status < 600)) return 'error';
  return `${Math.floor(status / 100)}xx`;
}

/** Default buckets of the HTTP duration histograms, in seconds. */
export const HTTP_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One recorded value of a {@link memoryMeter}. */
export interface RecordedMetric {
  readonly kind: 'counter' | 'histogram' | 'gauge';
  readonly name: string;
  readonly value: number;
  readonly labels: MetricLabels;
}

/** A meter that keeps every recording in memory, for tests and small tools. */
export interface MemoryMeter extends MetricMeter {
  /** Every recording, in order. */
  readonly records: readonly RecordedMetric[];
  /** The sum of a counter's values (matching `labels` when given). */
  total(name: string, labels?: MetricLabels): number;
  /** The last value a gauge was set to (matching `labels` when given). */
  last(name: string, labels?: MetricLabels): number | undefined;
  /** Every value recorded into a histogram (matching `labels` when given). */
  values(name: string, labels?: MetricLabels): number[];
}

/**
 * A {@link MetricMeter} that keeps every recording, with helpers to read them back.
 * @example
 * ```ts
 * const meter = memoryMeter();
 * const esp = connection({ name: 'esp', baseUrl, metrics: meter });
 * meter.total('weir_api_requests_total', { system: 'esp', status_class: '2xx' });
 * ```
 */
export function memoryMeter(): MemoryMeter {
  const records: RecordedMetric[] = [];
  const matches = (r: RecordedMetric, name: string, labels: MetricLabels | undefined): boolean =>
    r.name === name && (labels === undefined || Object.entries(labels).every(([k, v]) => r.labels[k] === v));
  const push = (kind: RecordedMetric['kind'], name: string, value: number, labels: MetricLabels | undefined): void => {
    records.push({ kind, name, value, labels: labels ?? {} });
  };
  return {
    records,
    counter: (name) => ({ add: (value = 1, labels) => push('counter', name, value, labels) }),
    histogram: (name) => ({ record: (value, labels) => push('histogram', name, value, labels) }),
    gauge: (name) => ({ set: (value, labels) => push('gauge', name, value, labels) }),
    total: (name, labels) => records.filter((r) => r.kind === 'counter' && matches(r, name, labels)).reduce((a, r) => a + r.value, 0),
    last: (name, labels) => records.filter((r) => r.kind === 'gauge' && matches(r, name, labels)).at(-1)?.value,
    values: (name, labels) => records.filter((r) => r.kind === 'histogram' && matches(r, name, labels)).map((r) => r.value),
  };
}
