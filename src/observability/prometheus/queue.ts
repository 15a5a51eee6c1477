import type { QueueMetrics } from '../../queue/metrics.js';
import type { TopicStats } from '../../store/queue.js';
import type { Gauge } from '../metrics.js';
import type { PromInstruments } from './instruments.js';
import { QUEUE_DURATION_BUCKETS, QUEUE_METRICS as Q } from './names.js';

/** The undelivered states `weir_queue_depth` reports. */
export const DEPTH_STATES = ['ready', 'scheduled', 'waiting', 'active'] as const;

/** The queue gauges, set from a stats sample (the `depth` hook or a watched queue at scrape time). @internal */
export interface QueueGauges {
  apply(at: number, topics: readonly TopicStats[], inFlight?: number): void;
}

/** Creates the queue instruments. `collect` runs before each scrape of the gauges. @internal */
export function queueInstruments(ins: PromInstruments, collect: () => Promise<void>): { gauges: QueueGauges; hooks: QueueMetrics } {
  const opts = (description: string, labelNames: readonly string[]) => ({ description, labelNames, collect });
  const depth = ins.gauge(Q.depth, opts('Messages not yet delivered, by state', ['topic', 'state']));
  const age = ins.gauge(Q.oldestReadyAge, opts('Age of the oldest due ready message, seconds', ['topic']));
  const dead = ins.gauge(Q.deadLetters, opts('Dead letters (dead and key-blocking messages)', ['topic']));
  const inFlight: Gauge = ins.gauge(Q.inFlight, { description: "Deliveries running in this process's workers" });
  const enqueued = ins.counter(Q.enqueued, { description: 'Messages accepted by enqueue', labelNames: ['topic'] });
  const deliveries = ins.counter(Q.deliveries, { description: 'Deliveries ended, by outcome', labelNames: ['topic', 'outcome'] });
  const buckets = QUEUE_DURATION_BUCKETS;
  const duration = ins.histogram(Q.deliveryDuration, { description: 'Handler time of one delivery, seconds', labelNames: ['topic', 'outcome'], buckets });
  const wait = ins.histogram(Q.wait, { description: 'Time a message was due before a worker took it, seconds', labelNames: ['topic'], buckets });
  const endToEnd = ins.histogram(Q.endToEnd, { description: 'Enqueue to done, seconds', labelNames: ['topic'], buckets });
  const retries = ins.counter(Q.retries, { description: 'Failed deliveries that will be retried', labelNames: ['topic', 'classification'] });
  const deadLettered = ins.counter(Q.deadLettered, { description: 'Messages dead-lettered', labelNames: ['topic'] });
  inFlight.set(0);

  const gauges: QueueGauges = {
    apply(at, topics, running) {
      for (const t of topics) {
        for (const state of DEPTH_STATES) depth.set(t[state], { topic: t.topic, state });
        age.set(t.oldestReadyAt === null ? 0 : Math.max(0, at - t.oldestReadyAt) / 1000, { topic: t.topic });
        dead.set(t.dead + t.blocked, { topic: t.topic });
      }
      if (running !== undefined) inFlight.set(running);
    },
  };
  const hooks: QueueMetrics = {
    enqueued: ({ topic, count }) => enqueued.add(count, { topic }),
    started: ({ topic, waitMs }) => wait.record(waitMs / 1000, { topic }),
    settled: ({ topic, outcome, durationMs, endToEndMs }) => {
      deliveries.add(1, { topic, outcome });
      duration.record(durationMs / 1000, { topic, outcome });
      if (endToEndMs !== undefined) endToEnd.record(endToEndMs / 1000, { topic });
    },
    retried: ({ topic, classification }) => retries.add(1, { topic, classification }),
    deadLettered: ({ topic }) => deadLettered.add(1, { topic }),
    depth: ({ at, topics, inFlight: running }) => gauges.apply(at, topics, running),
  };
  return { gauges, hooks };
}
