/**
 * `weir/app`: the runtime. One process running workers, syncs, schedules, webhook receivers, the
 * admin API and the dashboard from a typed config (`weir.config.ts`, `defineConfig`), started by
 * `weir start --config weir.config.ts` or {@link startApp}.
 * @packageDocumentation
 */
export { startApp, type App } from './app.js';
export { defineConfig, type AdminConfig, type AlertsConfig, type FromEnv, type HooksConfig, type StartOptions, type WeirConfig } from './config.js';
export type { AppContext, AppLogger, AppRegistry, AppSyncOptions, AppTask, AppWebhookOptions } from './context.js';
export { ConfigError, env, readEnv, type ConfigProblem, type EnvSchema, type EnvValues, type EnvVar } from './env.js';
export { loadConfig } from './load.js';
export type { SyncHealth } from './metrics-loop.js';
export { TrafficSeries, teeMeter, type TrafficPoint } from './series.js';
