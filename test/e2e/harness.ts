// Runs the flagship as a child process (`node dist/cli/bin.js start --config examples/crm-esp/weir.config.ts`)
// against Weir's CRM and ESP simulators, run here in the test process, and gives the tests what they
// may observe from outside: the simulators, the admin API, an alert receiver, the child's output.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CrmSimulator, type CrmSimulatorOptions, crmSimulator, type EspSimulator, type EspSimulatorOptions, espSimulator } from '../../src/testing/index.js';
import type { AlertBody } from './contract.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CONFIG = 'examples/crm-esp/weir.config.ts';
export const BIN = 'dist/cli/bin.js';

/** Fast webhook retries so that a delivery lost to a dead or slow receiver comes back within seconds. */
export const FAST_WEBHOOKS = { webhookRetryDelaysMs: [250, 500, 1000, 2000, 3000, 5000, 8000], webhookTimeoutMs: 2000 } as const;

/** Every secret the child gets, distinct per run so a leak is attributable. */
export interface Secrets {
  readonly crmClientId: string;
  readonly crmClientSecret: string;
  readonly crmRefreshToken: string;
  readonly crmWebhookSecret: string;
  readonly espApiKey: string;
  readonly espWebhookSecret: string;
  readonly adminToken: string;
}

const randomHex = (): string => randomBytes(12).toString('hex');

function makeSecrets(): Secrets {
  return {
    crmClientId: `e2e-client-${randomHex().slice(0, 8)}`,
    crmClientSecret: `crm-client-secret-${randomHex()}`,
    crmRefreshToken: `rt-initial-${randomHex()}`,
    crmWebhookSecret: `crm-whsec-${randomHex()}`,
    espApiKey: `esp-key-${randomHex()}`,
    espWebhookSecret: `esp-whsec-${randomHex()}`,
    adminToken: `admin-token-${randomHex()}`,
  };
}

/** A free TCP port on 127.0.0.1 (listen on 0, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A small HTTP server recording every alert POSTed to it (`WEIR_ALERT_WEBHOOK_URL`). */
export class AlertSink {
  readonly alerts: AlertBody[] = [];
  readonly invalid: string[] = [];
  private readonly server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      try {
        this.alerts.push(JSON.parse(raw) as AlertBody);
      } catch {
        this.invalid.push(raw);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/alerts`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** The child process running `weir start`. Output of every run accumulates in `output`. */
export class WeirProcess {
  stdout = '';
  stderr = '';
  readonly exits: { code: number | null; signal: NodeJS.Signals | null }[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly env: Readonly<Record<string, string>>,
    private readonly adminUrl: string,
  ) {}

  get output(): string {
    return `${this.stdout}\n${this.stderr}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the child and resolves once `GET /healthz` answers 200; rejects if it exits first. */
  async start(timeoutMs = 45_000): Promise<void> {
    const child = spawn(process.execPath, [BIN, 'start', '--config', CONFIG], { cwd: ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (c: Buffer) => (this.stdout += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (this.stderr += c.toString('utf8')));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exits.push({ code, signal });
        resolve();
      }),
    );
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`weir start exited before /healthz answered (${JSON.stringify(this.exits.at(-1))}); stderr:\n${this.stderr.slice(-4000)}`);
      const ok = await fetch(`${this.adminUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`weir start: /healthz not 200 within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-4000)}`);
      await sleep(100);
    }
  }

  /** `kill -9`, and waits for the exit. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 8000): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Runs `weir start` with `env` to its exit (start-up failures); kills it after `timeoutMs`. */
export function runToExit(env: Readonly<Record<string, string>>, timeoutMs = 30_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'start', '--config', CONFIG], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

/** The simulators, an alert sink, a data dir and the child, wired by the contract's environment. */
export interface Flagship {
  readonly crm: CrmSimulator;
  readonly esp: EspSimulator;
  readonly alerts: AlertSink;
  readonly weir: WeirProcess;
  readonly secrets: Secrets;
  readonly dataDir: string;
  readonly hookUrl: string;
  readonly adminUrl: string;
  close(): Promise<void>;
}

export interface FlagshipOptions {
  readonly crm?: Omit<CrmSimulatorOptions, 'webhook' | 'clientId' | 'clientSecret' | 'refreshToken'>;
  readonly esp?: Omit<EspSimulatorOptions, 'webhook' | 'apiKey'>;
  /** `WEIR_POLL_INTERVAL_MS`. Default 1000. */
  readonly pollIntervalMs?: number;
}

/** Starts both simulators and the alert sink, and prepares (does not start) the child. */
export async function flagship(options: FlagshipOptions = {}): Promise<Flagship> {
  const secrets = makeSecrets();
  const [hookPort, adminPort] = [await freePort(), await freePort()];
  const hookUrl = `http://127.0.0.1:${hookPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const crm = await crmSimulator({
    ...FAST_WEBHOOKS,
    ...options.crm,
    clientId: secrets.crmClientId,
    clientSecret: secrets.crmClientSecret,
    refreshToken: secrets.crmRefreshToken,
    webhook: { url: `${hookUrl}/webhooks/crm`, secret: secrets.crmWebhookSecret },
  }).start();
  const esp = await espSimulator({
    ...FAST_WEBHOOKS,
    ...options.esp,
    apiKey: secrets.espApiKey,
    webhook: { url: `${hookUrl}/webhooks/esp`, secret: secrets.espWebhookSecret },
  }).start();
  const alerts = await new AlertSink().start();
  const dataDir = mkdtempSync(join(tmpdir(), 'weir-e2e-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    TMPDIR: tmpdir(),
    NODE_ENV: 'test',
    CRM_BASE_URL: crm.url,
    CRM_CLIENT_ID: secrets.crmClientId,
    CRM_CLIENT_SECRET: secrets.crmClientSecret,
    CRM_REFRESH_TOKEN: secrets.crmRefreshToken,
    CRM_WEBHOOK_SECRET: secrets.crmWebhookSecret,
    ESP_BASE_URL: esp.url,
    ESP_API_KEY: secrets.espApiKey,
    ESP_WEBHOOK_SECRET: secrets.espWebhookSecret,
    WEIR_HOOK_PORT: String(hookPort),
    WEIR_ADMIN_PORT: String(adminPort),
    WEIR_ADMIN_TOKEN: secrets.adminToken,
    WEIR_ALERT_WEBHOOK_URL: alerts.url,
    WEIR_DATA_DIR: dataDir,
    WEIR_POLL_INTERVAL_MS: String(options.pollIntervalMs ?? 1000),
  };
  const weir = new WeirProcess(env, adminUrl);
  return {
    crm,
    esp,
    alerts,
    weir,
    secrets,
    dataDir,
    hookUrl,
    adminUrl,
    async close() {
      await weir.stop();
      await Promise.all([crm.close(), esp.close(), alerts.close()]);
      if (process.env.WEIR_E2E_KEEP !== '1') rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `read` until it returns something other than `undefined`/`false` and resolves with it; a throw
 * counts as not yet. On timeout fails naming `what` and, if given, `state()` (what was seen last).
 */
export async function until<T>(read: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 15_000, state?: () => unknown): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await read();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const seen = state === undefined ? '' : `\nlast seen: ${JSON.stringify(state(), null, 1)?.slice(0, 3000)}`;
      const err = lastError instanceof Error ? `\nlast error: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${seen}${err}`);
    }
    await sleep(100);
  }
}
