import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/open.js';
import { requireBuild, root, spawnWeir, until, weir } from './run-cli.js';

let dir: string;
let config: string;
const TOKEN = 'admin-token-for-tests';

/** An app with an admin API and one slow queue handler that records when it starts and finishes. */
const CONFIG = `
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineConfig, env } from '${root}dist/app/index.js';

export default defineConfig({
  name: 'start-test',
  env: {
    TEST_ADMIN_TOKEN: env.secret({ minLength: 12 }),
    TEST_ADMIN_PORT: env.port({ default: 0 }),
    TEST_WORK_MS: env.int({ default: 1500, min: 0 }),
    WEIR_DATA_DIR: env.path(),
  },
  dataDir: (e) => e.WEIR_DATA_DIR,
  admin: (e) => ({ port: e.TEST_ADMIN_PORT, token: e.TEST_ADMIN_TOKEN }),
  async setup(app, e) {
    await app.queue.handle('work', async (msg) => {
      writeFileSync(join(app.dataDir, 'started'), msg.id);
      await sleep(e.TEST_WORK_MS);
      writeFileSync(join(app.dataDir, 'finished'), msg.id);
    });
    await app.queue.enqueue('work', { n: 1 }, { id: 'job-1' });
  },
});
`;

function dataDir(name: string): string {
  return join(dir, name);
}

beforeAll(() => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'weir-cli-start-'));
  config = join(dir, 'weir.config.ts');
  writeFileSync(config, CONFIG);
  // An ESM project, as the config's imports are ESM.
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('weir start', () => {
  it('serves, and on SIGTERM lets the running handler finish, closes the store cleanly and exits 0', { timeout: 60_000 }, async () => {
    const data = dataDir('graceful');
    const p = spawnWeir(['start', '--config', config, '--json'], { env: { TEST_ADMIN_TOKEN: TOKEN, WEIR_DATA_DIR: data } });
    const listening = JSON.parse(await p.line(/^\{/)) as { name: string; admin: string; dataDir: string; pid: number };
    expect(listening).toMatchObject({ name: 'start-test', dataDir: data, pid: p.child.pid });
    expect((await fetch(`${listening.admin}/healthz`)).status).toBe(200);
    expect((await fetch(`${listening.admin}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);

    await until(() => existsSync(join(data, 'started')), 'the handler to start');
    expect(existsSync(join(data, 'finished'))).toBe(false);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.stderr).toContain('SIGTERM: stopping');
    expect(p.stderr).toMatch(/weir: stopped/);
    expect(p.stderr).not.toContain(TOKEN);
    // The handler that was running got to finish, and its message is done.
    expect(readFileSync(join(data, 'finished'), 'utf8')).toBe('job-1');
    // A clean close checkpoints the WAL into the database file and removes it.
    expect(existsSync(join(data, 'weir.db-wal'))).toBe(false);
    const store = await openStore(`sqlite:${join(data, 'weir.db')}`, { migrate: false });
    try {
      expect((await store.queue.get('job-1'))?.state).toBe('done');
    } finally {
      await store.close();
    }
  });

  it('prints where it listens for people, and exits at once on a second signal', { timeout: 60_000 }, async () => {
    const data = dataDir('twice');
    const p = spawnWeir(['start', '--config', config, '--grace', '60s'], { env: { TEST_ADMIN_TOKEN: TOKEN, WEIR_DATA_DIR: data, TEST_WORK_MS: '60000' } });
    await p.line(/admin API \+ dashboard\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(p.stdout).toMatch(/^weir: start-test started \(pid \d+\)$/m);
    expect(p.stdout).toContain(`data                    ${data}`);
    await until(() => existsSync(join(data, 'started')), 'the handler to start');
    p.child.kill('SIGINT');
    await until(() => p.stderr.includes('stopping'), 'the graceful stop to begin');
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(130);
    expect(p.stderr).toContain('SIGINT again, exiting now');
    expect(existsSync(join(data, 'finished'))).toBe(false);
  });

  it('exits 2 naming every bad variable of the config, never printing a secret', { timeout: 60_000 }, async () => {
    const res = await weir(['start', '--config', config], { env: { TEST_ADMIN_TOKEN: 'too-short', TEST_WORK_MS: 'soon' } });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('WEIR_CONFIG_INVALID');
    expect(res.stderr).toMatch(/TEST_ADMIN_TOKEN: must be at least 12 characters/);
    expect(res.stderr).toMatch(/TEST_WORK_MS: must be an integer/);
    expect(res.stderr).toMatch(/WEIR_DATA_DIR: is not set/);
    expect(res.stderr).not.toContain('too-short');
    expect(res.stdout).toBe('');
  });

  it('exits 2 for the flagship config without its environment, naming the contract variables', { timeout: 60_000 }, async () => {
    const res = await weir(['start', '--config', 'examples/crm-esp/weir.config.ts'], { env: { CRM_BASE_URL: 'ftp://crm.example', WEIR_ADMIN_TOKEN: 'tiny' } });
    expect(res.code).toBe(2);
    for (const name of ['CRM_BASE_URL', 'CRM_CLIENT_ID', 'CRM_REFRESH_TOKEN', 'ESP_BASE_URL', 'ESP_API_KEY', 'WEIR_HOOK_PORT', 'WEIR_ADMIN_TOKEN', 'WEIR_DATA_DIR']) {
      expect(res.stderr).toMatch(new RegExp(`- ${name}: `));
    }
    expect(res.stderr).not.toContain('tiny');
  });

  it('exits 2 when the config file does not exist, 1 when start-up fails otherwise', { timeout: 60_000 }, async () => {
    const missing = await weir(['start', '--config', join(dir, 'nope.config.ts')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--config: .*nope\.config\.ts does not exist/);

    // The admin port is taken: not a config problem, a start failure.
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const port = (busy.address() as { port: number }).port;
      const res = await weir(['start', '--config', config], { env: { TEST_ADMIN_TOKEN: TOKEN, TEST_ADMIN_PORT: String(port), WEIR_DATA_DIR: dataDir('busy') } });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('EADDRINUSE');
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });
});
