/**
 * `weir/queue`: a durable queue on a Weir store. Enqueue inside your own transaction (the
 * transactional outbox), handle with per-key order, leases with fencing tokens, two-tier retries,
 * holds, dead letters with replay, an inbox for exactly-once effect, delayed messages and cron.
 * @packageDocumentation
 */
export { createQueue, Queue } from './queue.js';
export type { ScheduleOptions } from './queue.js';
export { DeadLetters } from './dead-letters.js';
export type { DeadLetterSelection, ReplayOptions } from './dead-letters.js';
export { errorSignature } from './retry.js';
export { nextCronTime } from './cron.js';
export { noopQueueMetrics } from './metrics.js';
export type { DeliveryOutcome, QueueMetrics } from './metrics.js';
export { HANDLE_DEFAULTS, QUEUE_DEFAULTS } from './options.js';
export { CRASH_ALLOWANCE } from './worker.js';
export type {
  EnqueueItem,
  EnqueueOptions,
  Handler,
  HandlerContext,
  HandleOptions,
  Message,
  QueueErrorEvent,
  QueueOptions,
  QueueTracing,
  RetentionOptions,
  RetryOptions,
  TopicPolicy,
} from './types.js';
