/**
 * The metric names `weir/observability/prometheus` exports besides {@link HTTP_METRICS}, with
 * their labels. Names are shown without the exporter's `prefix` option.
 */
export const QUEUE_METRICS = {
  /** Gauge: messages not yet delivered. Labels `topic`, `state` (`ready`, `scheduled`, `waiting`, `active`). */
  depth: 'weir_queue_depth',
  /** Gauge, seconds: age of the oldest ready message that is due (0 when none). Label `topic`. */
  oldestReadyAge: 'weir_queue_oldest_ready_age_seconds',
  /** Gauge: deliveries running in this process's workers. */
  inFlight: 'weir_queue_in_flight',
  /** Gauge: dead letters (dead and key-blocking messages). Label `topic`. */
  deadLetters: 'weir_dead_letters',
  /** Counter: messages accepted by `enqueue`. Label `topic`. */
  enqueued: 'weir_queue_enqueued_total',
  /** Counter: deliveries ended (throughput). Labels `topic`, `outcome` (`done`, `retry`, `held`, `dead`, `released`, `lease_lost`). */
  deliveries: 'weir_queue_deliveries_total',
  /** Histogram, seconds: handler time of one delivery. Labels `topic`, `outcome`. */
  deliveryDuration: 'weir_queue_delivery_duration_seconds',
  /** Histogram, seconds: how long a message was due before a worker took it. Label `topic`. */
  wait: 'weir_queue_wait_seconds',
  /** Histogram, seconds: enqueue to done. Label `topic`. */
  endToEnd: 'weir_queue_end_to_end_seconds',
  /** Counter: failures that will be retried. Labels `topic`, `classification`. */
  retries: 'weir_queue_retries_total',
  /** Counter: messages dead-lettered. Label `topic`. */
  deadLettered: 'weir_queue_dead_lettered_total',
} as const;

/** Sync and circuit metrics of the flagship contract. */
export const SYNC_METRICS = {
  /** Gauge, seconds: how far a sync is behind its source. Label `sync`. */
  lag: 'weir_sync_lag_seconds',
  /** Counter: conflicts by `resolution` (`resolved_by_policy`, `escalated`). */
  conflicts: 'weir_conflicts_total',
  /** Gauge: escalations waiting for a person. */
  escalationsOpen: 'weir_escalations_open',
  /** Counter: times a circuit opened. Label `system`. */
  circuitOpens: 'weir_circuit_opens_total',
} as const;

/** Buckets of the queue histograms, in seconds (up to an hour: end-to-end time includes retries). */
export const QUEUE_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
