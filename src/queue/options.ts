import { hostname } from 'node:os';
import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { toMs } from '../internal/duration.js';
import { uuidv4 } from '../internal/ids.js';
import { finite, fn, integer, oneOf } from '../internal/validate.js';
import { classifyError } from '../policy/classify.js';
import type { StoreCapabilities } from '../store/types.js';
import { type QueueMetrics, noopQueueMetrics } from './metrics.js';
import type { HandleOptions, QueueOptions, QueueTracing, RetryOptions, TopicPolicy } from './types.js';

const DAY = 86_400_000;

/** Defaults of `createQueue()`, in one place. */
export const QUEUE_DEFAULTS = {
  leaseMs: 30_000,
  heartbeatMs: 2_000,
  deadWorkerMs: 10_000,
  maintenanceMs: 1_000,
  metricsIntervalMs: 15_000,
  retention: { doneMs: 7 * DAY, deadMs: 14 * DAY, inboxMs: 30 * DAY },
} as const;

/** Defaults of `handle()`, in one place. */
export const HANDLE_DEFAULTS = {
  concurrency: 1,
  ordering: 'key',
  onExhausted: 'dead-letter',
  holdOnRateLimit: false,
  retry: { immediate: 2, schedule: ['0s', '1s', '5s', '30s', '5m'], jitter: 0.2, maxRetryAfterMs: 3_600_000 },
} as const;

export interface ResolvedQueueOptions {
  readonly clock: Clock;
  readonly workerId: string;
  readonly leaseMs: number;
  readonly heartbeatMs: number;
  readonly deadWorkerMs: number;
  readonly pollMs: number;
  readonly maintenanceMs: number;
  readonly retention: { readonly doneMs: number; readonly deadMs: number; readonly inboxMs: number };
  readonly metrics: QueueMetrics;
  readonly metricsIntervalMs: number;
  readonly random: () => number;
  readonly tracing: QueueTracing | undefined;
}

/** Validates and merges `createQueue()` options once. @throws InvalidOptionError naming the option. */
export function resolveQueueOptions(o: QueueOptions, capabilities: StoreCapabilities): ResolvedQueueOptions {
  const leaseMs = integer(o.leaseMs ?? QUEUE_DEFAULTS.leaseMs, 'leaseMs', 100);
  const heartbeatMs = integer(o.heartbeatMs ?? Math.min(QUEUE_DEFAULTS.heartbeatMs, Math.floor(leaseMs / 3)), 'heartbeatMs', 10);
  if (heartbeatMs * 2 > leaseMs) throw new InvalidOptionError('heartbeatMs', `at most half of leaseMs (${leaseMs / 2})`, heartbeatMs);
  const r = o.retention ?? {};
  const workerId = o.workerId ?? `${hostname()}:${process.pid}:${uuidv4().slice(0, 8)}`;
  if (typeof workerId !== 'string' || workerId.length === 0) throw new InvalidOptionError('workerId', 'a non-empty string', workerId);
  return {
    clock: o.clock ?? systemClock,
    workerId,
    leaseMs,
    heartbeatMs,
    deadWorkerMs: integer(o.deadWorkerMs ?? Math.max(QUEUE_DEFAULTS.deadWorkerMs, heartbeatMs * 3), 'deadWorkerMs', heartbeatMs * 2),
    pollMs: integer(o.pollMs ?? capabilities.backstopPollMs, 'pollMs', 1),
    maintenanceMs: integer(o.maintenanceMs ?? QUEUE_DEFAULTS.maintenanceMs, 'maintenanceMs', 1),
    retention: {
      doneMs: integer(r.doneMs ?? QUEUE_DEFAULTS.retention.doneMs, 'retention.doneMs', 0),
      deadMs: integer(r.deadMs ?? QUEUE_DEFAULTS.retention.deadMs, 'retention.deadMs', 0),
      inboxMs: integer(r.inboxMs ?? QUEUE_DEFAULTS.retention.inboxMs, 'retention.inboxMs', 0),
    },
    metrics: o.metrics ?? noopQueueMetrics,
    metricsIntervalMs: integer(o.metricsIntervalMs ?? QUEUE_DEFAULTS.metricsIntervalMs, 'metricsIntervalMs', 1),
    random: o.random === undefined ? Math.random : fn<() => number>(o.random, 'random'),
    tracing: o.tracing === undefined ? undefined : tracingOption(o.tracing),
  };
}

function tracingOption(t: QueueTracing): QueueTracing {
  if (typeof t !== 'object' || t === null || typeof t.injectContext !== 'function' || typeof t.runHandler !== 'function') {
    throw new InvalidOptionError('tracing', 'a tracing hook with injectContext and runHandler functions', t);
  }
  return t;
}

/** A handler's options after validation, with its classifier. */
export interface ResolvedHandleOptions {
  readonly policy: TopicPolicy;
  readonly classify: (error: unknown) => ReturnType<typeof classifyError>;
}

/** Validates and merges `handle()` options once. @throws InvalidOptionError naming the option. */
export function resolveHandleOptions(topic: string, o: HandleOptions, leaseMs: number): ResolvedHandleOptions {
  const concurrency = integer(o.concurrency ?? HANDLE_DEFAULTS.concurrency, 'concurrency', 1, 10_000);
  const prefetch = o.prefetch === undefined || o.prefetch === 'auto' ? 'auto' : prefetchCount(o.prefetch);
  const r: RetryOptions = o.retry ?? {};
  const steps = r.schedule ?? HANDLE_DEFAULTS.retry.schedule;
  if (!Array.isArray(steps)) throw new InvalidOptionError('retry.schedule', 'an array of durations', steps);
  const scheduleMs = steps.map((s, i) => toMs(s, `retry.schedule[${i}]`));
  const hold = o.holdOnRateLimit ?? HANDLE_DEFAULTS.holdOnRateLimit;
  if (hold !== false && hold !== 'topic' && hold !== 'key') {
    throw new InvalidOptionError('holdOnRateLimit', "'topic', 'key' or false", hold);
  }
  const policy: TopicPolicy = {
    topic,
    concurrency,
    ordering: oneOf(o.ordering ?? HANDLE_DEFAULTS.ordering, 'ordering', ['key', 'none'] as const),
    onExhausted: oneOf(o.onExhausted ?? HANDLE_DEFAULTS.onExhausted, 'onExhausted', ['dead-letter', 'block-key'] as const),
    batchSize: integer(o.batchSize ?? Math.min(10_000, concurrency + (prefetch === 'auto' ? concurrency : prefetch)), 'batchSize', 1, 10_000),
    prefetch,
    timeoutMs: o.timeoutMs === undefined ? null : integer(o.timeoutMs, 'timeoutMs', 1),
    holdOnRateLimit: hold,
    leaseMs,
    retry: {
      immediate: integer(r.immediate ?? HANDLE_DEFAULTS.retry.immediate, 'retry.immediate', 0, 100),
      scheduleMs,
      jitter: finite(r.jitter ?? HANDLE_DEFAULTS.retry.jitter, 'retry.jitter', 0, 1),
      maxRetryAfterMs: integer(r.maxRetryAfterMs ?? HANDLE_DEFAULTS.retry.maxRetryAfterMs, 'retry.maxRetryAfterMs', 0),
      maxDeliveries: scheduleMs.length + 1,
    },
  };
  const classify = r.classify === undefined ? classifyError : fn<(e: unknown) => ReturnType<typeof classifyError>>(r.classify, 'retry.classify');
  return { policy, classify };
}

function prefetchCount(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 10_000) {
    throw new InvalidOptionError('prefetch', "'auto' or an integer from 0 to 10000", value);
  }
  return value;
}

/** Checks a topic name. @throws InvalidOptionError naming `option`. */
export function topicName(value: unknown, option = 'topic'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw new InvalidOptionError(option, 'a non-empty string of at most 200 characters', value);
  }
  return value;
}
