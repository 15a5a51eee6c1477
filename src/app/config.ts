import type { Clock } from '../internal/clock.js';
import type { AlertRule } from '../observability/alerts.js';
import type { Secret } from '../security/secret.js';
import type { AppContext } from './context.js';
import type { EnvSchema, EnvValues } from './env.js';

/** A config value, or a function of the validated environment that gives it. */
export type FromEnv<T, E> = T | ((env: E) => T);

/** The admin API and dashboard. */
export interface AdminConfig {
  /** Port on `host` (0: any free port). */
  readonly port: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Every route but `/healthz` needs `Authorization: Bearer <token>` (the dashboard asks for it at login). */
  readonly token: Secret | string;
}

/** The inbound webhook server. */
export interface HooksConfig {
  readonly port: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
}

/** Alerts POSTed to a webhook. */
export interface AlertsConfig {
  /** Where alerts are POSTed (`WEIR_ALERT_WEBHOOK_URL`). Omitted: alerts are only logged and shown on the dashboard. */
  readonly url?: string | undefined;
  /**
   * Rules besides the defaults: breaker open, error rate ≥ 50 % over 5 min, dead letters rising,
   * queue depth > 10 000, oldest ready message > 5 min, sync lag above `syncLagMs`.
   */
  readonly rules?: readonly AlertRule[];
  /** Sync lag alert threshold, ms. Default 120 000. */
  readonly syncLagMs?: number;
  /** How often queue rules, sync lag and metrics are evaluated, ms. Default 5 000. */
  readonly evaluateEveryMs?: number;
}

/**
 * A Weir app: what `weir start --config weir.config.ts` runs in one process (workers, schedules,
 * webhook receivers, admin API, dashboard). Write it with {@link defineConfig}.
 */
export interface WeirConfig<S extends EnvSchema = EnvSchema> {
  /** The app's name (dashboard title, logs). Default `weir`. */
  readonly name?: string;
  /** Environment variables the app needs, validated before anything starts (see `env`). */
  readonly env?: S;
  /** Where durable state lives. Default `process.env.WEIR_DATA_DIR`, else `./.weir`. */
  readonly dataDir?: FromEnv<string | undefined, EnvValues<S>>;
  /**
   * The store: a URL, or `{ url, schema }` for PostgreSQL in a schema of its own. Default
   * `WEIR_STORE_URL` (and `WEIR_STORE_SCHEMA`) from the environment, else `sqlite:<dataDir>/weir.db`;
   * `postgres://…` lets many worker processes share one database.
   */
  readonly store?: FromEnv<string | { readonly url: string; readonly schema?: string } | undefined, EnvValues<S>>;
  /** Admin API + dashboard. Omitted: not served. */
  readonly admin?: FromEnv<AdminConfig | undefined, EnvValues<S>>;
  /** Inbound webhooks server. Omitted: served only when `setup` registers a webhook, on a free port. */
  readonly hooks?: FromEnv<HooksConfig | undefined, EnvValues<S>>;
  readonly alerts?: FromEnv<AlertsConfig | undefined, EnvValues<S>>;
  /**
   * OpenTelemetry: a span per outbound attempt and per message delivery, W3C `traceparent` across
   * HTTP and messages (needs `@opentelemetry/api`; register your SDK's tracer provider before start).
   * Default `false`.
   */
  readonly tracing?: boolean;
  /** Queue tuning. */
  readonly queue?: { readonly pollMs?: number; readonly leaseMs?: number };
  /** Builds the app: connections, syncs, webhooks, schedules, handlers. */
  setup(app: AppContext, env: EnvValues<S>): Promise<void> | void;
}

/**
 * Declares an app config with typed environment variables. The default export of `weir.config.ts`.
 * @example
 * ```ts
 * import { defineConfig, env } from 'weir/app';
 * export default defineConfig({
 *   env: { ESP_BASE_URL: env.url(), ESP_API_KEY: env.secret(), WEIR_ADMIN_PORT: env.port(), WEIR_ADMIN_TOKEN: env.secret() },
 *   admin: (e) => ({ port: e.WEIR_ADMIN_PORT, token: e.WEIR_ADMIN_TOKEN }),
 *   setup(app, e) {
 *     const esp = app.connection({ name: 'esp', baseUrl: e.ESP_BASE_URL, auth: { bearer: e.ESP_API_KEY } });
 *     app.queue.handle('signup', async (msg, ctx) => { await esp.post('/v3/contacts', msg.payload, { idempotencyKey: msg.id }); });
 *   },
 * });
 * ```
 */
export function defineConfig<const S extends EnvSchema = Record<never, never>>(config: WeirConfig<S>): WeirConfig<S> {
  return config;
}

/** Options of `startApp` beyond the config (tests, the demo). */
export interface StartOptions {
  /** Where environment variables are read. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Time source. Default the system clock. */
  readonly clock?: Clock;
  /** Where log lines go (one JSON object per line). Default stderr; `false` silences them. */
  readonly log?: ((line: string) => void) | false;
  /**
   * `false` builds the app without running it: no workers, syncs, tasks, schedules' timers or servers
   * (CLI tools such as `weir reconcile` and `weir escalations`). Default `true`.
   */
  readonly run?: boolean;
  /** Source of the config, for messages (`weir.config.ts`). */
  readonly source?: string;
}
