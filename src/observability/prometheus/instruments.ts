import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, type Registry } from 'prom-client';
import { InvalidOptionError } from '../../errors.js';
import type { Counter, Gauge, Histogram, HistogramOptions, InstrumentOptions, MetricLabels, MetricMeter } from '../metrics.js';

type Kind = 'counter' | 'histogram' | 'gauge';
type Labels = Record<string, string>;

interface Entry {
  readonly kind: Kind;
  readonly metric: PromCounter | PromGauge | PromHistogram;
  readonly labelNames: readonly string[];
}

/** Creation options of one instrument, with an optional scrape-time `collect`. @internal */
export interface CreateOptions extends HistogramOptions {
  readonly collect?: () => Promise<void> | void;
}

/**
 * The prom-client instruments of one registry, created once per name. Labels not declared in
 * `labelNames` are dropped (prom-client would throw); invalid values are ignored, so recording
 * never throws on the request path. @internal
 */
export class PromInstruments {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly registry: Registry,
    private readonly prefix: string,
  ) {}

  /** The prom-client metric for `name` (prefix added), created on first use. */
  get(kind: Kind, name: string, options: CreateOptions = {}): Entry {
    const full = `${this.prefix}${name}`;
    const found = this.entries.get(full);
    if (found !== undefined) {
      if (found.kind !== kind) throw new InvalidOptionError('name', `a ${found.kind} (the kind ${full} was first created as)`, kind);
      return found;
    }
    if (this.registry.getSingleMetric(full) !== undefined) {
      throw new InvalidOptionError('name', `a metric name not yet registered elsewhere in the registry`, full);
    }
    const labelNames = [...(options.labelNames ?? [])];
    const help = options.description ?? full;
    const registers = [this.registry];
    const collect = options.collect;
    const base = { name: full, help, labelNames, registers, ...(collect === undefined ? {} : { collect }) };
    const metric =
      kind === 'counter'
        ? new PromCounter(base)
        : kind === 'gauge'
          ? new PromGauge(base)
          : new PromHistogram({ ...base, ...(options.buckets === undefined ? {} : { buckets: [...options.buckets] }) });
    const entry: Entry = { kind, metric, labelNames };
    this.entries.set(full, entry);
    return entry;
  }

  counter(name: string, options?: CreateOptions): Counter {
    const { metric, labelNames } = this.get('counter', name, options);
    const c = metric as PromCounter;
    return {
      add(value = 1, labels) {
        if (!(value >= 0) || !Number.isFinite(value)) return;
        c.inc(pick(labels, labelNames), value);
      },
    };
  }

  gauge(name: string, options?: CreateOptions): Gauge {
    const { metric, labelNames } = this.get('gauge', name, options);
    const g = metric as PromGauge;
    return {
      set(value, labels) {
        if (Number.isNaN(value)) return;
        g.set(pick(labels, labelNames), value);
      },
    };
  }

  histogram(name: string, options?: CreateOptions): Histogram {
    const { metric, labelNames } = this.get('histogram', name, options);
    const h = metric as PromHistogram;
    return {
      record(value, labels) {
        if (!Number.isFinite(value)) return;
        h.observe(pick(labels, labelNames), value);
      },
    };
  }

  /** Zero-valued series for known label values, so they appear before anything happened. */
  zero(name: string, labels: MetricLabels): void {
    const entry = this.entries.get(`${this.prefix}${name}`);
    if (entry?.kind === 'counter') (entry.metric as PromCounter).inc(pick(labels, entry.labelNames), 0);
    else if (entry?.kind === 'gauge') (entry.metric as PromGauge).set(pick(labels, entry.labelNames), 0);
  }

  /** A {@link MetricMeter} over these instruments. */
  meter(): MetricMeter {
    return {
      counter: (name: string, options?: InstrumentOptions) => this.counter(name, options),
      histogram: (name: string, options?: HistogramOptions) => this.histogram(name, options),
      gauge: (name: string, options?: InstrumentOptions) => this.gauge(name, options),
    };
  }
}

function pick(labels: MetricLabels | undefined, names: readonly string[]): Labels {
  const out: Labels = {};
  if (labels === undefined) return out;
  for (const n of names) {
    const v = labels[n];
    if (v !== undefined) out[n] = String(v);
  }
  return out;
}
