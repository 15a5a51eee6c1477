import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defineConfig, env, startApp, type App } from '../../src/app/index.js';
import { storedApiKeys } from '../../src/server/index.js';
import { authoritative } from '../../src/sync/index.js';
import { adapter } from '../sync/systems.js';

const dirs: string[] = [];
const apps: App[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close({ graceMs: 100 });
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('startApp', () => {
  it('rejects a bad environment naming every variable, never printing a secret', async () => {
    const config = defineConfig({
      env: { BASE_URL: env.url(), PORT: env.port(), TOKEN: env.secret({ minLength: 12 }), MISSING: env.string() },
      setup() {},
    });
    const err = await startApp(config, { env: { BASE_URL: 'ftp://x', PORT: '99999', TOKEN: 'tiny-secret' }, log: false }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_CONFIG_INVALID' });
    const message = (err as Error).message;
    expect(message).toMatch(/BASE_URL: must use http or https/);
    expect(message).toMatch(/PORT: must be a port number/);
    expect(message).toMatch(/TOKEN: must be at least 12 characters/);
    expect(message).toMatch(/MISSING: is not set/);
    expect(message).not.toContain('tiny-secret');
  });

  it('serves /healthz openly and the rest only with the admin token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-app-'));
    dirs.push(dir);
    const app = await startApp(
      defineConfig({ env: { TOKEN: env.secret() }, admin: (e) => ({ port: 0, token: e.TOKEN }), setup() {} }),
      { env: { TOKEN: 'admin-token-123', WEIR_DATA_DIR: dir }, log: false },
    );
    apps.push(app);
    const url = app.admin?.url as string;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong-token-123' } })).status).toBe(401);
    const res = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer admin-token-123' } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('weir_queue_depth');
    // `weir keys rotate admin` adds keys to the store's admin ring: accepted besides the configured token.
    const rotated = await storedApiKeys(app.store, 'admin').rotate();
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${rotated.key.reveal()}` } })).status).toBe(200);
  });
});

describe('startApp, a setup that throws', () => {
  it('rethrows and closes what it opened: the store file can be opened again at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-app-'));
    dirs.push(dir);
    const boom = new Error('setup failed on purpose');
    let closed = 0;
    const config = defineConfig({
      setup(app) {
        app.connection({ name: 'x', baseUrl: 'http://127.0.0.1:9' });
        app.onClose(() => {
          closed++;
        });
        throw boom;
      },
    });
    await expect(startApp(config, { env: { WEIR_DATA_DIR: dir }, log: false })).rejects.toBe(boom);
    expect(closed).toBe(1);
    const again = await startApp(defineConfig({ setup() {} }), { env: { WEIR_DATA_DIR: dir }, log: false });
    apps.push(again);
    expect(await again.queue.stats()).toEqual([]);
  });
});

describe('startApp({ run: false })', () => {
  it('registers a reconciliation schedule but leaves its runs to the running app', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-app-'));
    dirs.push(dir);
    // The systems are never called: nothing runs in either mode before the first fire time.
    const config = defineConfig({
      async setup(app) {
        const sync = app.sync({
          name: 'contacts',
          left: adapter('crm', { url: 'http://127.0.0.1:9' }),
          right: adapter('esp', { url: 'http://127.0.0.1:9' }),
          fields: { email: authoritative('left') },
        });
        await app.reconciliation(sync, { cron: '0 3 * * *', mode: 'dry_run' });
      },
    });
    const topic = 'weir.sync.contacts.reconcile';
    const tool = await startApp(config, { env: { WEIR_DATA_DIR: dir }, log: false, run: false });
    apps.push(tool);
    expect((await tool.store.schedules.list()).map((x) => x.topic)).toContain(topic);
    // No handler in this process: a due cron run would wait for `weir start`, not be taken here.
    expect((await tool.store.queue.topics()).map((t) => t.topic)).not.toContain(topic);
    await tool.close({ graceMs: 0 });
    apps.pop();
    const running = await startApp(config, { env: { WEIR_DATA_DIR: dir }, log: false });
    apps.push(running);
    expect((await running.store.queue.topics()).map((t) => t.topic)).toContain(topic);
  });
});
