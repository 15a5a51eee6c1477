import type { Clock, Timer } from '../internal/clock.js';
import type { AlertManager } from '../observability/alerts.js';
import type { PrometheusMetrics } from '../observability/prometheus/exporter.js';
import type { Queue } from '../queue/queue.js';
import type { Sync } from '../sync/define.js';
import type { AppLogger } from './context.js';

/** What one evaluation saw, per sync (also served by the admin API). */
export interface SyncHealth {
  readonly sync: string;
  /** Age of the oldest change waiting in the sync's queue topic, ms (0 when none). */
  readonly lagMs: number;
  readonly pending: number;
  readonly escalationsOpen: number;
}

/**
 * Feeds the metrics and alerts that are computed rather than recorded: sync lag (age of the oldest
 * waiting change), open escalations, conflicts by resolution. Runs every `everyMs` on an unref'd timer.
 */
export class AppMetricsLoop {
  #timer: Timer | undefined;
  #closed = false;
  #running: Promise<void> | undefined;
  readonly #seenConflicts = new Set<string>();
  #health: readonly SyncHealth[] = [];

  constructor(
    private readonly o: {
      readonly clock: Clock;
      readonly queue: Queue;
      readonly syncs: ReadonlyMap<string, Sync>;
      readonly metrics: PrometheusMetrics;
      readonly alerts: AlertManager;
      readonly log: AppLogger;
      readonly everyMs: number;
    },
  ) {}

  /** The last evaluation. */
  get health(): readonly SyncHealth[] {
    return this.#health;
  }

  start(): void {
    const next = (): void => {
      if (this.#closed) return;
      this.#timer = this.o.clock.setTimer(this.o.everyMs, () => void this.evaluate().finally(next));
      this.#timer.unref();
    };
    void this.evaluate().finally(next);
  }

  /** Evaluates now (one at a time). */
  evaluate(): Promise<void> {
    this.#running ??= this.#run()
      .catch((err: unknown) => this.o.log.warn('metrics evaluation failed', { error: err instanceof Error ? err.message : String(err) }))
      .finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #run(): Promise<void> {
    if (this.o.syncs.size === 0) {
      this.o.metrics.escalationsOpen.set(0);
      return;
    }
    const now = this.o.clock.now();
    const stats = await this.o.queue.stats();
    const health: SyncHealth[] = [];
    let open = 0;
    for (const sync of this.o.syncs.values()) {
      const t = stats.find((s) => s.topic === sync.topic);
      const lagMs = t?.oldestReadyAt == null ? 0 : Math.max(0, now - t.oldestReadyAt);
      this.o.metrics.syncLag.set(lagMs / 1000, { sync: sync.name });
      this.o.alerts.reportSyncLag(sync.name, lagMs, now);
      const m = await sync.metrics();
      open += m.escalationsOpen;
      health.push({ sync: sync.name, lagMs, pending: (t?.ready ?? 0) + (t?.scheduled ?? 0) + (t?.active ?? 0), escalationsOpen: m.escalationsOpen });
      for (const c of await sync.conflicts({ limit: 500 })) {
        if (this.#seenConflicts.has(c.id)) continue;
        this.#seenConflicts.add(c.id);
        this.o.metrics.conflicts.add(1, { resolution: c.resolution });
      }
    }
    this.o.metrics.escalationsOpen.set(open);
    this.#health = health;
  }

  close(): void {
    this.#closed = true;
    this.#timer?.close();
  }
}
