import type { Connection } from '../http/connection.js';
import type { ConnectionOptions } from '../http/connection-options.js';
import type { Clock } from '../internal/clock.js';
import type { AlertManager } from '../observability/alerts.js';
import type { AuditTrail } from '../observability/audit.js';
import type { PrometheusMetrics } from '../observability/prometheus/exporter.js';
import type { Queue } from '../queue/queue.js';
import type { Handler, HandleOptions, RetryOptions } from '../queue/types.js';
import type { Store } from '../store/types.js';
import type { Sync } from '../sync/define.js';
import type { SyncOptions } from '../sync/runtime.js';
import type { ReconciliationSchedule, ReconciliationScheduleOptions } from '../sync/schedule.js';
import type { ReceiverOptions, WebhookReceiver } from '../webhooks/receiver-options.js';

/** Structured log lines (JSON, one per line); fields are redacted. */
export interface AppLogger {
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** A webhook route: a receiver (verify, dedup, enqueue, fast 2xx) and the handler of what it enqueued. */
export type AppWebhookOptions<T = unknown> = Omit<ReceiverOptions, 'queue' | 'topic' | 'audit' | 'clock'> & {
  /** The topic deliveries go to. Default `webhook.<last path segment>`. */
  readonly topic?: string;
  /** Handles each accepted delivery (its parsed payload), asynchronously, with the queue's retries. */
  readonly handler: Handler<T>;
  /** Queue options of the handler (concurrency, ordering, retry). */
  readonly handle?: HandleOptions;
};

/** A sync registered with the app: store, queue and clock are the app's. */
export type AppSyncOptions = Omit<SyncOptions, 'store' | 'queue' | 'clock'> & {
  /** Handler concurrency. Default 4. */
  readonly concurrency?: number;
  /** The retry schedule of the sync's changes. Default `SYNC_RETRY` (see `Sync.start`). */
  readonly retry?: RetryOptions;
};

/** A periodic task (e.g. cursor polling): runs every `everyMs` on the app's clock, never overlapping itself. */
export interface AppTask {
  readonly name: string;
  readonly everyMs: number;
  readonly lastRunAt: number | null;
  readonly lastError: string | null;
  readonly runs: number;
}

/**
 * What a config's `setup(app, env)` builds with. Everything registered here is wired to the app's
 * store, queue, audit trail, metrics, alerts, admin API and dashboard, and closed on shutdown.
 */
export interface AppContext {
  readonly name: string;
  readonly store: Store;
  readonly queue: Queue;
  readonly clock: Clock;
  readonly audit: AuditTrail;
  readonly metrics: PrometheusMetrics;
  readonly alerts: AlertManager;
  readonly log: AppLogger;
  /** Where durable state lives (`WEIR_DATA_DIR`). */
  readonly dataDir: string;
  /** A `weir/http` connection with the app's audit trail, metrics and alerts; shown on the dashboard. */
  connection(options: ConnectionOptions): Connection;
  /** A two-way sync on the app's store and queue; started with the app; its conflicts and escalations are served by the admin API. */
  sync(options: AppSyncOptions): Sync;
  /** Mounts a webhook receiver at `path` on the hooks server and handles what it accepts. */
  webhook<T = unknown>(path: string, options: AppWebhookOptions<T>): WebhookReceiver;
  /** Schedules a sync's reconciliation (cron); its alerts go to the app's alert webhook. */
  reconciliation(sync: Sync, options: ReconciliationScheduleOptions): Promise<ReconciliationSchedule>;
  /** Runs `task` every `everyMs` once the app has started (first run after `everyMs`, or at once with `immediately`). */
  every(name: string, everyMs: number, task: () => Promise<unknown> | unknown, options?: { readonly immediately?: boolean }): void;
  /** Called on shutdown, in reverse order of registration, before the store closes. */
  onClose(fn: () => Promise<void> | void): void;
}

/** What the app registered: read by the admin API and the dashboard. */
export interface AppRegistry {
  readonly connections: ReadonlyMap<string, Connection>;
  readonly syncs: ReadonlyMap<string, Sync>;
  readonly reconciliations: ReadonlyMap<string, ReconciliationSchedule>;
  readonly webhooks: ReadonlyMap<string, WebhookReceiver>;
  readonly tasks: ReadonlyMap<string, AppTask>;
}
