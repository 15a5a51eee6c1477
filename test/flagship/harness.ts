// The flagship (examples/crm-esp) running in-process against Weir's CRM and ESP simulators, for
// the rule tests. The config is imported as a user would (it resolves `weir/*` to dist/: build first).
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApp, type App } from 'weir/app';
import type { AuditRecord } from 'weir/store';
import type { Sync } from 'weir/sync';
import config from '../../examples/crm-esp/weir.config.js';
import { crmSimulator, espSimulator, type CrmSimulator, type CrmSimulatorOptions, type EspSimulator, type EspSimulatorOptions } from '../../src/testing/index.js';

export const CRM_WEBHOOK_SECRET = 'crm-webhook-secret';
export const ESP_WEBHOOK_SECRET = 'esp-webhook-secret';
export const ADMIN_TOKEN = 'flagship-admin-token';

/** One run of the flagship: the two systems, the app, the alert sink. */
export interface Flagship {
  readonly crm: CrmSimulator;
  readonly esp: EspSimulator;
  readonly app: App;
  readonly sync: Sync;
  readonly env: Readonly<Record<string, string>>;
  /** Alert webhook bodies received, in order. */
  readonly alerts: unknown[];
  /** Stops the app (gracefully) and starts it again on the same data directory. */
  restart(): Promise<void>;
  /** Waits until no webhook is pending on either system and the app's queue is idle. */
  settle(ms?: number): Promise<void>;
  /** Stops the sync's queue topic (changes pile up, as if both edits happened between two syncs). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Outbound and inbound audit entries (all of them, oldest first). */
  audit(): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export interface FlagshipOptions {
  readonly crm?: CrmSimulatorOptions;
  readonly esp?: EspSimulatorOptions;
  readonly pollMs?: number;
  /** A PostgreSQL store (`WEIR_STORE_URL`, `WEIR_STORE_SCHEMA`) instead of the SQLite file under WEIR_DATA_DIR. */
  readonly postgres?: { readonly url: string; readonly schema: string };
}

/** Starts the simulators, then the flagship app against them, and points their webhooks at it. */
export async function flagship(o: FlagshipOptions = {}): Promise<Flagship> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-flagship-'));
  const fast = { webhookRetryDelaysMs: [200, 500, 1000, 2000], webhookTimeoutMs: 2000 };
  const crm = await crmSimulator({ ...fast, ...o.crm }).start();
  const esp = await espSimulator({ ...fast, ...o.esp }).start();
  const alerts: unknown[] = [];
  const sink = await alertSink(alerts);
  const env = {
    CRM_BASE_URL: crm.url,
    CRM_CLIENT_ID: crm.state.clientId,
    CRM_CLIENT_SECRET: crm.state.clientSecret,
    CRM_REFRESH_TOKEN: crm.state.refreshToken,
    CRM_WEBHOOK_SECRET,
    ESP_BASE_URL: esp.url,
    ESP_API_KEY: esp.state.apiKey,
    ESP_WEBHOOK_SECRET,
    WEIR_HOOK_PORT: '0',
    WEIR_ADMIN_PORT: '0',
    WEIR_ADMIN_TOKEN: ADMIN_TOKEN,
    WEIR_ALERT_WEBHOOK_URL: sink.url,
    WEIR_DATA_DIR: dir,
    WEIR_POLL_INTERVAL_MS: String(o.pollMs ?? 400),
    ...(o.postgres === undefined ? {} : { WEIR_STORE_URL: o.postgres.url, WEIR_STORE_SCHEMA: o.postgres.schema }),
  };
  let app = await start();

  async function start(): Promise<App> {
    const a = await startApp(config, { env, log: false });
    const hooks = a.hooks?.url as string;
    crm.webhooks.configure({ url: `${hooks}/webhooks/crm`, secret: CRM_WEBHOOK_SECRET });
    esp.webhooks.configure({ url: `${hooks}/webhooks/esp`, secret: ESP_WEBHOOK_SECRET });
    return a;
  }

  const f: Flagship = {
    crm,
    esp,
    get app() {
      return app;
    },
    get sync() {
      return app.syncs.get('contacts') as Sync;
    },
    env,
    alerts,
    async restart() {
      await app.close({ graceMs: 2_000 });
      app = await start();
    },
    async settle(ms = 15_000) {
      let quiet = 0;
      await until(async () => {
        quiet = (await idle()) ? quiet + 1 : 0;
        return quiet >= 3;
      }, ms);
    },
    pause: () => app.queue.pause(f.sync.topic),
    async resume() {
      await app.queue.resume(f.sync.topic);
    },
    async audit() {
      const out: AuditRecord[] = [];
      for (let after = 0; ; ) {
        const page = await app.audit.query({ afterSeq: after, limit: 1000 });
        out.push(...page);
        if (page.length < 1000) return out;
        after = page[page.length - 1]?.seq as number;
      }
    },
    async close() {
      await app.close({ graceMs: 200 });
      await Promise.all([crm.close(), esp.close(), sink.close()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  async function idle(): Promise<boolean> {
    if (crm.webhooks.pending > 0 || esp.webhooks.pending > 0) return false;
    const topics = new Set([f.sync.topic, 'webhook.crm', 'webhook.esp']);
    const stats = (await app.queue.stats()).filter((s) => topics.has(s.topic));
    return stats.every((s) => s.ready + s.scheduled + s.waiting + s.active + s.blocked === 0);
  }

  return f;
}

/** Waits until `check` holds (polling every 25 ms), or fails after `ms`. */
export async function until(check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`condition not reached within ${ms} ms`);
    await sleep(25);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A server collecting what is POSTed to `WEIR_ALERT_WEBHOOK_URL`. */
async function alertSink(into: unknown[]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      try {
        into.push(JSON.parse(raw));
      } catch {
        into.push(raw);
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
