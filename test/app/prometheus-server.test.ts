import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineConfig, startApp, type App } from '../../src/app/index.js';

const TOKEN = 'prometheus-scrape-token-1';
const hasPrometheus = spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).status === 0;
if (!hasPrometheus) {
  if (process.env['WEIR_REQUIRE_SERVICES'] === '1') throw new Error('prometheus is required (apt-get install -y prometheus)');
  console.warn('SKIPPED: the real Prometheus scrape test (prometheus not on PATH; apt-get install -y prometheus)');
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.toReversed()) await c();
});

async function freePort(): Promise<number> {
  const s = netServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function query(base: string, promql: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
  return body.status === 'success' ? body.data.result : [];
}

describe.skipIf(!hasPrometheus)('a real Prometheus server scrapes the admin /metrics', () => {
  it('with the admin token: up = 1, the contract metrics and the traffic the app sent', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-prom-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const api = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => api.close(() => r())));
    const apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;

    let app: App | undefined;
    app = await startApp(
      defineConfig({
        admin: { port: 0, token: TOKEN },
        setup(a) {
          const esp = a.connection({ name: 'esp', baseUrl: apiUrl });
          void a.queue.handle('ping', async () => (await esp.get('/ping')).body.dump());
          a.every('ping', 200, () => a.queue.enqueue('ping', {}), { immediately: true });
        },
      }),
      { env: { WEIR_DATA_DIR: dir }, log: false },
    );
    cleanups.push(() => app?.close({ graceMs: 100 }));
    const target = new URL(app.admin?.url as string).host;

    const port = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, scrape_timeout: 1s }',
        'scrape_configs:',
        '  - job_name: weir',
        `    authorization: { type: Bearer, credentials: "${TOKEN}" }`,
        `    static_configs: [{ targets: ["${target}"] }]`,
        '',
      ].join('\n'),
    );
    const prom: ChildProcess = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: 'ignore' },
    );
    cleanups.push(() => {
      prom.kill('SIGKILL');
    });
    const base = `http://127.0.0.1:${port}`;

    const deadline = Date.now() + 45_000;
    let requests: Awaited<ReturnType<typeof query>> = [];
    let up: Awaited<ReturnType<typeof query>> = [];
    while (Date.now() < deadline) {
      up = await query(base, 'up{job="weir"}').catch(() => []);
      requests = await query(base, 'weir_api_requests_total{system="esp",status_class="2xx"}').catch(() => []);
      if (up[0]?.value[1] === '1' && Number(requests[0]?.value[1] ?? 0) > 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(up[0]?.value[1]).toBe('1');
    expect(Number(requests[0]?.value[1])).toBeGreaterThan(0);
    for (const name of ['weir_queue_depth', 'weir_circuit_state', 'weir_dead_letters', 'weir_escalations_open', 'weir_conflicts_total']) {
      expect((await query(base, `count({__name__="${name}"})`))[0]?.value[1], name).toBeDefined();
    }
    expect((await query(base, 'weir_circuit_state{system="esp"}'))[0]?.value[1]).toBe('0');
  });
});
