import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../../app/app.js';
import { sideNames } from '../../app/admin/shapes.js';
import { startApp } from '../../app/app.js';
import { loadConfig } from '../../app/load.js';
import { json, serveFetch, type FetchServer } from '../../app/serve.js';
import { WeirError } from '../../errors.js';
import type { Sync } from '../../sync/define.js';
import { type CrmSimulator, crmSimulator, type EspSimulator, espSimulator } from '../../testing/simulators/exports.js';

/** The package root (`src/cli/demo` or `dist/cli/demo` → three levels up). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The flagship's config, relative to the package root. */
export const FLAGSHIP_CONFIG = 'examples/crm-esp/weir.config.ts';

/** An alert as the app POSTs it to `WEIR_ALERT_WEBHOOK_URL`. */
export interface ReceivedAlert {
  readonly name: string;
  readonly state: string;
  readonly system?: string;
  /** ms since the demo's start. */
  readonly atMs: number;
}

/** A breaker transition of one of the app's connections. */
export interface BreakerTransition {
  readonly system: string;
  readonly atMs: number;
  readonly from: string;
  readonly to: string;
}

/** Everything the demo runs: both simulators, the app, an alert receiver. */
export interface DemoWorld {
  readonly crm: CrmSimulator;
  readonly esp: EspSimulator;
  readonly app: App;
  readonly sync: Sync;
  /** The sync's side the CRM is on. */
  readonly crmSide: 'left' | 'right';
  readonly dataDir: string;
  readonly logFile: string;
  readonly adminUrl: string;
  readonly adminToken: string;
  readonly hooksUrl: string;
  readonly webhookSecrets: { readonly crm: string; readonly esp: string };
  readonly pollMs: number;
  readonly alerts: ReceivedAlert[];
  readonly breaker: BreakerTransition[];
  close(): Promise<void>;
}

export interface WorldOptions {
  readonly seed: number;
  readonly adminPort: number;
  /** Cursor polling period of the app, ms. */
  readonly pollMs: number;
  /** Time zero of the demo (performance.now()), for alert and breaker times. */
  readonly began: () => number;
}

/** A fresh data directory: `./.weir/demo-<time>` under the working directory, else one under the OS temp dir. */
export function freshDataDir(now = new Date()): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
  try {
    const dir = resolve('.weir', `demo-${stamp}`);
    let path = dir;
    for (let n = 2; existsSync(path); n++) path = `${dir}-${n}`;
    mkdirSync(path, { recursive: true });
    return path;
  } catch {
    return mkdtempSync(join(tmpdir(), `weir-demo-${stamp}-`));
  }
}

const secret = (bytes = 24): string => randomBytes(bytes).toString('base64url');

async function alertReceiver(alerts: ReceivedAlert[], began: () => number): Promise<FetchServer> {
  return serveFetch(async (request) => {
    if (request.method !== 'POST') return json(405, { error: 'method_not_allowed' });
    try {
      const a = (await request.json()) as { name?: unknown; state?: unknown; system?: unknown };
      alerts.push({ name: String(a.name), state: String(a.state), ...(typeof a.system === 'string' ? { system: a.system } : {}), atMs: Math.round(performance.now() - began()) });
    } catch {
      // Not JSON: still acknowledged.
    }
    return json(202, { ok: true });
  }, 0);
}

/**
 * Starts the flagship against both simulators: the simulators on free ports (the ESP's clock 20 s
 * behind, 429s with an HTTP-date on that clock; short CRM access tokens), then the example config
 * with an environment pointing at them, a fresh data dir, a generated admin token and an alert
 * receiver; then points both simulators' webhooks at the app's hooks server.
 * @throws WeirError `WEIR_NOT_FOUND` when the example config is missing.
 */
export async function startWorld(configFile: string, dataDir: string, o: WorldOptions): Promise<DemoWorld> {
  if (!existsSync(configFile)) {
    throw new WeirError('WEIR_NOT_FOUND', `The flagship config ${configFile} is missing: the demo runs examples/crm-esp/weir.config.ts from the package.`);
  }
  const alerts: ReceivedAlert[] = [];
  const breaker: BreakerTransition[] = [];
  const closers: Array<() => Promise<void> | void> = [];
  const close = async (): Promise<void> => {
    for (const fn of closers.splice(0).toReversed()) await Promise.resolve(fn()).catch(() => undefined);
  };
  try {
    const sink = await alertReceiver(alerts, o.began);
    closers.push(() => sink.close());
    const retries = [500, 1000, 2000, 5000, 10_000];
    const crm = await crmSimulator({
      seed: o.seed,
      clockSkewMs: 3000,
      rateLimit: { perSecond: 40, burst: 80 },
      accessTokenTtlSeconds: 120,
      clientId: `demo-client-${secret(6)}`,
      clientSecret: secret(),
      refreshToken: `rt_${secret()}`,
      webhookRetryDelaysMs: retries,
    }).start();
    closers.push(() => crm.close());
    const esp = await espSimulator({
      seed: o.seed + 1,
      apiKey: `esp_${secret()}`,
      clockSkewMs: -20_000,
      retryAfter: 'http-date',
      rateLimit: { perSecond: 40, burst: 80 },
      webhookRetryDelaysMs: retries,
    }).start();
    closers.push(() => esp.close());

    const crmWebhookSecret = secret();
    const espWebhookSecret = secret();
    const adminToken = secret(18);
    const env: Record<string, string | undefined> = {
      ...process.env,
      CRM_BASE_URL: crm.url,
      CRM_CLIENT_ID: crm.state.clientId,
      CRM_CLIENT_SECRET: crm.state.clientSecret,
      CRM_REFRESH_TOKEN: crm.state.refreshToken,
      CRM_WEBHOOK_SECRET: crmWebhookSecret,
      ESP_BASE_URL: esp.url,
      ESP_API_KEY: esp.state.apiKey,
      ESP_WEBHOOK_SECRET: espWebhookSecret,
      WEIR_HOOK_PORT: '0',
      WEIR_ADMIN_PORT: String(o.adminPort),
      WEIR_ADMIN_TOKEN: adminToken,
      WEIR_ALERT_WEBHOOK_URL: `${sink.url}/alerts`,
      WEIR_DATA_DIR: dataDir,
      WEIR_POLL_INTERVAL_MS: String(o.pollMs),
    };
    const logFile = join(dataDir, 'weir.log');
    const log: WriteStream = createWriteStream(logFile, { flags: 'a' });
    closers.push(() => new Promise<void>((r) => log.end(() => r())));
    const config = await loadConfig(configFile);
    const app = await startApp(config, { env, source: configFile, log: (line) => void log.write(`${line}\n`) });
    closers.push(() => app.close({ graceMs: 2000 }));
    if (app.hooks === undefined || app.admin === undefined) throw new WeirError('WEIR_INVALID_STATE', 'The flagship app serves no webhooks or no admin API.');
    crm.webhooks.configure({ url: `${app.hooks.url}/webhooks/crm`, secret: crmWebhookSecret });
    esp.webhooks.configure({ url: `${app.hooks.url}/webhooks/esp`, secret: espWebhookSecret });
    const sync = app.syncs.values().next().value;
    if (sync === undefined) throw new WeirError('WEIR_INVALID_STATE', 'The flagship app defines no sync.');
    const names = sideNames(sync);
    for (const [system, conn] of app.connections) {
      const d = conn.policies.breaker?.onStateChange(({ from, to }) => breaker.push({ system, atMs: Math.round(performance.now() - o.began()), from, to }));
      if (d !== undefined) closers.push(() => d[Symbol.dispose]());
    }
    return {
      crm,
      esp,
      app,
      sync,
      crmSide: names.right === 'crm' ? 'right' : 'left',
      dataDir,
      logFile,
      adminUrl: app.admin.url,
      adminToken,
      hooksUrl: app.hooks.url,
      webhookSecrets: { crm: crmWebhookSecret, esp: espWebhookSecret },
      pollMs: o.pollMs,
      alerts,
      breaker,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
