import type { Classification } from '../errors.js';
import type { TopicStats } from '../store/queue.js';

/** How a delivery ended, for metrics. */
export type DeliveryOutcome = 'done' | 'retry' | 'held' | 'dead' | 'released' | 'lease_lost';

/**
 * Metrics hooks of a queue. Every hook is optional; the default is none (no cost). A hook that
 * throws is reported on `onError` and never disturbs the worker. Exporters (Prometheus, OTel) in
 * `weir/observability` implement this interface.
 */
export interface QueueMetrics {
  /** Messages accepted by `enqueue` (duplicates of existing ids included). */
  enqueued?(event: { readonly topic: string; readonly count: number }): void;
  /** A delivery started; `waitMs` is how long it was due before a worker took it. */
  started?(event: { readonly topic: string; readonly messageId: string; readonly delivery: number; readonly waitMs: number }): void;
  /**
   * A delivery ended. `durationMs` is the handler time of this delivery; `endToEndMs` (done only) is
   * enqueue-to-done time. Count these for throughput.
   */
  settled?(event: {
    readonly topic: string;
    readonly messageId: string;
    readonly outcome: DeliveryOutcome;
    readonly delivery: number;
    readonly durationMs: number;
    readonly endToEndMs?: number;
  }): void;
  /** A failure will be retried: at once (`immediate`) or after `delayMs`. */
  retried?(event: {
    readonly topic: string;
    readonly messageId: string;
    readonly delivery: number;
    readonly immediate: boolean;
    readonly delayMs: number;
    readonly classification: Classification;
  }): void;
  /** A message was dead-lettered. */
  deadLettered?(event: {
    readonly topic: string;
    readonly messageId: string;
    readonly code: string | null;
    readonly signature: string;
    readonly blockKey: boolean;
  }): void;
  /** Sampled every `metricsIntervalMs` by running workers: depth by state, oldest ready age, local in-flight. */
  depth?(event: { readonly at: number; readonly topics: readonly TopicStats[]; readonly inFlight: number }): void;
}

/** The default: no hooks. */
export const noopQueueMetrics: QueueMetrics = Object.freeze({});
