import type { Clock } from '../internal/clock.js';
import { HTTP_METRICS, noopMeter, type Counter, type Gauge, type Histogram, type MetricLabels, type MetricMeter } from '../observability/metrics.js';

/** One time bucket of outbound traffic of one system. */
export interface TrafficPoint {
  /** Bucket start, epoch ms. */
  readonly t: number;
  readonly system: string;
  /** Attempts on the wire. */
  readonly requests: number;
  /** Attempts answered 5xx / 429, or with no answer. */
  readonly errors: number;
  /** Median and 95th percentile attempt duration in the bucket, ms (null when none). */
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
}

interface Bucket {
  t: number;
  requests: number;
  errors: number;
  durations: number[];
}

const KEEP_DURATIONS = 256;

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? null;
}

/**
 * Outbound traffic over time (requests, errors, latency per system), for the dashboard's charts.
 * It is a {@link MetricMeter} reading the HTTP metrics a connection records, in fixed buckets, for
 * a bounded window.
 */
export class TrafficSeries implements MetricMeter {
  readonly #buckets = new Map<string, Bucket[]>();
  constructor(
    private readonly clock: Clock,
    readonly bucketMs = 5_000,
    readonly keep = 720,
  ) {}

  #bucket(system: string): Bucket {
    const t = Math.floor(this.clock.now() / this.bucketMs) * this.bucketMs;
    let list = this.#buckets.get(system);
    if (list === undefined) this.#buckets.set(system, (list = []));
    const last = list[list.length - 1];
    if (last !== undefined && last.t === t) return last;
    const b: Bucket = { t, requests: 0, errors: 0, durations: [] };
    list.push(b);
    if (list.length > this.keep) list.splice(0, list.length - this.keep);
    return b;
  }

  counter(name: string): Counter {
    if (name !== HTTP_METRICS.requests) return noopMeter.counter(name);
    return {
      add: (value = 1, labels?: MetricLabels) => {
        const b = this.#bucket(labels?.['system'] ?? 'unknown');
        b.requests += value;
        const cls = labels?.['status_class'];
        if (cls === '5xx' || cls === 'error') b.errors += value;
      },
    };
  }

  histogram(name: string): Histogram {
    if (name !== HTTP_METRICS.attemptDuration) return noopMeter.histogram(name);
    return {
      record: (seconds: number, labels?: MetricLabels) => {
        const b = this.#bucket(labels?.['system'] ?? 'unknown');
        if (b.durations.length < KEEP_DURATIONS) b.durations.push(seconds * 1000);
        else b.durations[Math.floor(Math.random() * KEEP_DURATIONS)] = seconds * 1000;
      },
    };
  }

  gauge(name: string): Gauge {
    return noopMeter.gauge(name);
  }

  /** Points since `sinceMs` (epoch ms), oldest first, per system. */
  points(sinceMs = 0): TrafficPoint[] {
    const out: TrafficPoint[] = [];
    for (const [system, list] of this.#buckets) {
      for (const b of list) {
        if (b.t < sinceMs) continue;
        const sorted = b.durations.toSorted((x, y) => x - y);
        out.push({ t: b.t, system, requests: b.requests, errors: b.errors, p50Ms: percentile(sorted, 0.5), p95Ms: percentile(sorted, 0.95) });
      }
    }
    return out.toSorted((a, b) => a.t - b.t || a.system.localeCompare(b.system));
  }
}

/** A meter that records into several. */
export function teeMeter(...meters: readonly MetricMeter[]): MetricMeter {
  return {
    counter: (name, o) => {
      const all = meters.map((m) => m.counter(name, o));
      return { add: (v, l) => all.forEach((c) => c.add(v, l)) };
    },
    histogram: (name, o) => {
      const all = meters.map((m) => m.histogram(name, o));
      return { record: (v, l) => all.forEach((h) => h.record(v, l)) };
    },
    gauge: (name, o) => {
      const all = meters.map((m) => m.gauge(name, o));
      return { set: (v, l) => all.forEach((g) => g.set(v, l)) };
    },
  };
}
