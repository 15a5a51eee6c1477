import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { connection as createConnection, type Connection } from '../http/connection.js';
import { systemClock, type Timer } from '../internal/clock.js';
import { alerts as createAlerts, type Alert, type AlertRule } from '../observability/alerts.js';
import { auditTrail } from '../observability/audit.js';
import { prometheusMetrics } from '../observability/prometheus/exporter.js';
import { createQueue } from '../queue/queue.js';
import type { RetryOptions } from '../queue/types.js';
import { isSecret } from '../security/secret.js';
import { storedApiKeys } from '../server/api-key-store.js';
import { openStore } from '../store/open.js';
import { defineSync, type Sync } from '../sync/define.js';
import { scheduleReconciliation, type ReconciliationSchedule } from '../sync/schedule.js';
import { receiver } from '../webhooks/receiver.js';
import type { WebhookReceiver } from '../webhooks/receiver-options.js';
import { adminFetch } from './admin/router.js';
import type { AdminConfig, AlertsConfig, FromEnv, HooksConfig, StartOptions, WeirConfig } from './config.js';
import type { AppContext, AppRegistry, AppTask } from './context.js';
import { ConfigError, readEnv, type ConfigProblem, type EnvSchema, type EnvValues } from './env.js';
import { createLogger } from './log.js';
import { AppMetricsLoop, type SyncHealth } from './metrics-loop.js';
import { TrafficSeries, teeMeter } from './series.js';
import { json, serveFetch, type FetchServer } from './serve.js';

/** A running app: the parts `setup` saw, what it registered, and the servers. See {@link startApp}. */
export interface App extends AppRegistry, Pick<AppContext, 'name' | 'store' | 'queue' | 'clock' | 'audit' | 'metrics' | 'alerts' | 'log' | 'dataDir'> {
  readonly series: TrafficSeries;
  readonly startedAt: number;
  /** Alerts sent (or logged), newest last, at most 200. */
  readonly recentAlerts: readonly Alert[];
  /** The admin API + dashboard, when configured. */
  readonly admin: FetchServer | undefined;
  /** The webhook server, when any webhook is registered. */
  readonly hooks: FetchServer | undefined;
  /** Sync lag, pending changes and open escalations, as last evaluated. */
  syncHealth(): readonly SyncHealth[];
  /**
   * True when `token` is the configured admin token (constant time), or an active key of the
   * store's `admin` key ring (`weir keys rotate admin`; hashed at rest, read at every check).
   */
  checkAdminToken(token: string): Promise<boolean>;
  /** Stops intake, lets running work finish (up to `graceMs`), closes everything. */
  close(options?: { readonly graceMs?: number }): Promise<void>;
}

type MutableTask = { -readonly [K in keyof AppTask]: AppTask[K] } & { readonly run: () => Promise<unknown> | unknown; readonly immediately: boolean };

function resolveValue<T, E>(v: FromEnv<T, E> | undefined, env: E): T | undefined {
  return typeof v === 'function' ? (v as (e: E) => T)(env) : v;
}

function portProblem(field: string, port: unknown, problems: ConfigProblem[]): void {
  if (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65_535) problems.push({ variable: field, message: 'must be a port number 0-65535' });
}

function validate(admin: AdminConfig | undefined, hooks: HooksConfig | undefined, alertCfg: AlertsConfig | undefined): void {
  const problems: ConfigProblem[] = [];
  if (admin !== undefined) {
    portProblem('admin.port', admin.port, problems);
    const token = isSecret(admin.token) ? admin.token.reveal() : admin.token;
    if (typeof token !== 'string' || token.length < 8) problems.push({ variable: 'admin.token', message: 'must be a token of at least 8 characters' });
  }
  if (hooks !== undefined) portProblem('hooks.port', hooks.port, problems);
  if (alertCfg?.url !== undefined) {
    try {
      const u = new URL(alertCfg.url);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    } catch {
      problems.push({ variable: 'alerts.url', message: 'must be an absolute http(s) URL' });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems, 'config');
}

function defaultRules(cfg: AlertsConfig | undefined): AlertRule[] {
  return [
    { kind: 'breaker_open' },
    { kind: 'error_rate', threshold: 0.5 },
    { kind: 'dead_letters' },
    { kind: 'queue_depth', max: 10_000 },
    { kind: 'queue_age', maxAgeMs: 300_000 },
    { kind: 'sync_lag', maxLagMs: cfg?.syncLagMs ?? 120_000 },
    ...(cfg?.rules ?? []),
  ];
}

/**
 * Starts an app from its config: validates the environment and the config, opens the store
 * (migrating it), runs `setup`, starts workers, syncs, schedules, the webhook server and the admin
 * API + dashboard.
 * @throws ConfigError naming every bad variable or field.
 */
export async function startApp<S extends EnvSchema>(config: WeirConfig<S>, options: StartOptions = {}): Promise<App> {
  if (config === null || typeof config !== 'object' || typeof config.setup !== 'function') {
    throw new ConfigError([{ variable: 'setup', message: 'the config must be defineConfig({ setup(app, env) { … } }) as the default export' }], options.source ?? 'config');
  }
  const source = options.env ?? process.env;
  const env = readEnv((config.env ?? {}) as S, source);
  const clock = options.clock ?? systemClock;
  const running = options.run !== false;
  const name = config.name ?? 'weir';
  const log = createLogger(name, options.log === undefined ? (line) => process.stderr.write(`${line}\n`) : options.log, Object.values(env).filter(isSecret));
  const dataDir = resolve(resolveValue(config.dataDir, env) ?? source['WEIR_DATA_DIR'] ?? '.weir');
  const admin = resolveValue(config.admin, env);
  const hooksCfg = resolveValue(config.hooks, env);
  const alertCfg = resolveValue(config.alerts, env);
  validate(admin, hooksCfg, alertCfg);
  mkdirSync(dataDir, { recursive: true });
  const fromEnv = source['WEIR_STORE_URL'] === undefined || source['WEIR_STORE_URL'] === '' ? undefined : { url: source['WEIR_STORE_URL'], ...(source['WEIR_STORE_SCHEMA'] ? { schema: source['WEIR_STORE_SCHEMA'] } : {}) };
  const storeOption = resolveValue(config.store, env) ?? fromEnv ?? `sqlite:${join(dataDir, 'weir.db')}`;
  const { url: storeUrl, schema } = typeof storeOption === 'string' ? { url: storeOption, schema: undefined } : storeOption;
  const store = await openStore(storeUrl, schema === undefined ? {} : { schema });

  const metrics = prometheusMetrics({ clock });
  const series = new TrafficSeries(clock);
  const recentAlerts: Alert[] = [];
  const alerts = createAlerts({
    url: alertCfg?.url ?? 'http://127.0.0.1:9/unused',
    rules: defaultRules(alertCfg),
    clock,
    evaluateEveryMs: alertCfg?.evaluateEveryMs ?? 5_000,
    ...(alertCfg?.url === undefined
      ? {
          transport: async (a: Alert) => {
            log.info('alert', { alert: a.name, state: a.state, system: a.system });
          },
        }
      : {}),
  });
  const meter = alerts.meter(teeMeter(metrics.meter, series));
  const tracing = config.tracing === true ? (await import('../observability/otel/index.js')).otelTracing() : undefined;
  const queue = createQueue(store, { clock, metrics: metrics.queueMetrics, ...(tracing === undefined ? {} : { tracing }), ...(config.queue?.pollMs === undefined ? {} : { pollMs: config.queue.pollMs }), ...(config.queue?.leaseMs === undefined ? {} : { leaseMs: config.queue.leaseMs }) });
  queue.onError((e) => log.error('queue error', { error: e.error instanceof Error ? e.error.message : String(e.error) }));
  // Written as recorded (one batch per event-loop turn): an attempt's entry reaches the store before its answer is acted upon.
  const audit = auditTrail({ store, clock, flushIntervalMs: 0 });
  const disposables: Disposable[] = [metrics.watchQueue(queue), alerts.watchQueue(queue)];

  const connections = new Map<string, Connection>();
  const syncs = new Map<string, Sync>();
  const syncStart = new Map<string, { readonly concurrency: number; readonly retry?: RetryOptions }>();
  const reconciliations = new Map<string, ReconciliationSchedule>();
  const webhooks = new Map<string, WebhookReceiver>();
  const tasks = new Map<string, MutableTask>();
  const closers: (() => Promise<void> | void)[] = [];
  const pendingHandlers: (() => Promise<void>)[] = [];

  const parts = { name, store, queue, clock, audit, metrics, alerts, log, dataDir };
  const ctx: AppContext = {
    ...parts,
    connection(o) {
      if (connections.has(o.name)) throw new ConfigError([{ variable: `connection ${o.name}`, message: 'is registered twice; give each connection its own name' }], 'config');
      const conn = createConnection({ clock, audit, ...(tracing === undefined ? {} : { tracing }), ...o, metrics: o.metrics === undefined ? meter : teeMeter(meter, o.metrics) });
      connections.set(o.name, conn);
      const breaker = conn.policies.breaker;
      if (breaker !== undefined) disposables.push(alerts.watchBreaker(o.name, breaker));
      return conn;
    },
    sync(o) {
      const { concurrency, retry, ...rest } = o;
      const sync = defineSync({ ...rest, store, queue, clock });
      syncs.set(sync.name, sync);
      syncStart.set(sync.name, { concurrency: concurrency ?? 4, ...(retry === undefined ? {} : { retry }) });
      return sync;
    },
    webhook(path, o) {
      const { handler, handle, topic: topicOption, ...receiverOptions } = o;
      const topic = topicOption ?? `webhook.${path.split('/').filter(Boolean).pop() ?? 'default'}`;
      const r = receiver({ ...(receiverOptions as object), queue, topic, audit, clock } as unknown as Parameters<typeof receiver>[0]);
      webhooks.set(path, r);
      pendingHandlers.push(() => queue.handle(topic, handler as never, handle ?? { concurrency: 4 }));
      return r;
    },
    async reconciliation(sync, o) {
      // Not running (CLI tools next to `weir start`): the schedule is registered, its runs are left to the app.
      const schedule = await scheduleReconciliation(sync, o, { passive: !running });
      reconciliations.set(sync.name, schedule);
      disposables.push(alerts.forward(schedule));
      closers.push(() => schedule.close());
      return schedule;
    },
    every(taskName, everyMs, task, o = {}) {
      if (!Number.isFinite(everyMs) || everyMs <= 0) throw new ConfigError([{ variable: `every(${taskName})`, message: 'everyMs must be a positive number of ms' }], 'config');
      tasks.set(taskName, { name: taskName, everyMs, lastRunAt: null, lastError: null, runs: 0, run: task, immediately: o.immediately === true });
    },
    onClose(fn) {
      closers.push(fn);
    },
  };

  try {
    await config.setup(ctx, env as EnvValues<S>);
    if (running) {
      for (const start of pendingHandlers) await start();
      for (const [n, sync] of syncs) await sync.start(syncStart.get(n) ?? {});
    }
  } catch (err) {
    // Undo what setup built, then the parts, so a failed start leaves no timer, socket or file open.
    await queue.stop({ graceMs: 0 }).catch(() => {});
    for (const fn of closers.toReversed()) await Promise.resolve(fn()).catch(() => {});
    for (const d of disposables) d[Symbol.dispose]();
    await alerts.close(0).catch(() => {});
    metrics.close();
    await audit.close().catch(() => {});
    for (const c of connections.values()) await c.close().catch(() => {});
    await store.close().catch(() => {});
    throw err;
  }

  const token = admin === undefined ? '' : isSecret(admin.token) ? admin.token.reveal() : admin.token;
  const startedAt = clock.now();
  const adminKeys = storedApiKeys(store, 'admin', { clock, cacheMs: 0 });
  const loop = new AppMetricsLoop({ clock, queue, syncs, metrics, alerts, log, everyMs: alertCfg?.evaluateEveryMs ?? 5_000 });
  const taskTimers = new Map<string, Timer>();
  let closing = false;
  for (const t of running ? tasks.values() : []) {
    let busy = false;
    const tick = async (): Promise<void> => {
      if (closing || busy) return;
      busy = true;
      try {
        await t.run();
        t.lastError = null;
      } catch (err) {
        t.lastError = err instanceof Error ? err.message : String(err);
        log.warn('task failed', { task: t.name, error: t.lastError });
      } finally {
        t.lastRunAt = clock.now();
        t.runs++;
        busy = false;
      }
    };
    const next = (): void => {
      if (closing) return;
      const timer = clock.setTimer(t.everyMs, () => void tick().finally(next));
      timer.unref();
      taskTimers.set(t.name, timer);
    };
    if (t.immediately) void tick().finally(next);
    else next();
  }

  const app: App = {
    ...parts,
    series,
    startedAt,
    recentAlerts,
    connections,
    syncs,
    reconciliations,
    webhooks,
    tasks,
    admin: undefined,
    hooks: undefined,
    syncHealth: () => loop.health,
    async checkAdminToken(candidate) {
      if (token === '' || candidate === '') return false;
      if (constantTimeEqual(candidate, token)) return true;
      return (await adminKeys.verify(candidate, clock.now()).catch(() => ({ ok: false }))).ok;
    },
    async close(o = {}) {
      if (closing) return;
      closing = true;
      for (const t of taskTimers.values()) t.close();
      loop.close();
      await Promise.all([app.hooks?.close(), app.admin?.close()]);
      await queue.stop({ graceMs: o.graceMs ?? 10_000 });
      for (const fn of closers.toReversed()) await Promise.resolve(fn()).catch((err: unknown) => log.warn('close hook failed', { error: String(err) }));
      for (const d of disposables) d[Symbol.dispose]();
      await alerts.close(2_000).catch(() => {});
      metrics.close();
      await audit.close().catch(() => {});
      for (const c of connections.values()) await c.close().catch(() => {});
      await store.close();
    },
  };
  alerts.onAlert((a: Alert) => {
    recentAlerts.push(a);
    if (recentAlerts.length > 200) recentAlerts.shift();
  });

  const servers: { admin?: FetchServer; hooks?: FetchServer } = {};
  try {
    if (running && webhooks.size > 0) {
      servers.hooks = await serveFetch(hooksFetch(webhooks), hooksCfg?.port ?? 0, hooksCfg?.host ?? '127.0.0.1');
    }
    if (running && admin !== undefined) servers.admin = await serveFetch(adminFetch(app), admin.port, admin.host ?? '127.0.0.1');
  } catch (err) {
    await app.close({ graceMs: 0 });
    throw err;
  }
  Object.assign(app, { admin: servers.admin, hooks: servers.hooks });
  if (running) loop.start();
  log.info('started', { admin: servers.admin?.url, hooks: servers.hooks?.url, dataDir, syncs: [...syncs.keys()], connections: [...connections.keys()] });
  return app;
}


const sha256 = (v: string): Buffer => createHash('sha256').update(v).digest();

function constantTimeEqual(a: string, b: string): boolean {
  return timingSafeEqual(sha256(a), sha256(b));
}

/** Routes `POST <path>` to the webhook receiver mounted there. */
function hooksFetch(webhooks: ReadonlyMap<string, WebhookReceiver>): (request: Request) => Promise<Response> {
  return async (request) => {
    const path = new URL(request.url).pathname;
    const r = webhooks.get(path);
    if (r === undefined) return json(404, { error: 'not_found', detail: `no webhook at ${path}` });
    if (request.method !== 'POST') return json(405, { error: 'method_not_allowed' }, { allow: 'POST' });
    return r.fetch(request);
  };
}
