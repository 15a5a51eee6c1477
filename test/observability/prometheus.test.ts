import { spawnSync } from 'node:child_process';
import { writeFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { permanent } from '../../src/errors.js';
import { connection } from '../../src/http/index.js';
import { prometheusMetrics } from '../../src/observability/prometheus/index.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { reply, testServer } from '../http/helpers.js';
import { sqliteQueue, waitFor } from '../queue/harness.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

/** The sample lines of `name` (`name{labels} value`), and its `# TYPE`. */
function series(text: string, name: string): { type: string | undefined; samples: Map<string, number> } {
  const type = new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name) samples.set(m[2] ?? '', Number(m[3]));
  }
  return { type, samples };
}

function promtool(): string | undefined {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return found.status === 0 ? 'promtool' : undefined;
}

describe('prometheusMetrics', () => {
  it('exports every contract metric after a real connection, a SQLite queue and a breaker through its states', async () => {
    const clock = new FakeClock();
    const prom = prometheusMetrics({ clock });
    let failing = true;
    const server = await testServer((_req, res) => reply(res, failing ? 500 : 200), { clock });
    cleanups.push(() => server.close());
    const esp = connection({
      name: 'esp',
      baseUrl: server.url,
      clock,
      metrics: prom.meter,
      policy: { retry: false, breaker: { strategy: { consecutive: 2 }, openMs: 1000 } },
    });
    cleanups.push(() => esp.close());
    const breaker = esp.policies.breaker;
    if (breaker === undefined) throw new Error('no breaker');
    cleanups.push(() => prom.close());
    prom.watchBreaker('esp', breaker);

    await esp.get('/a').catch(() => undefined);
    await esp.get('/a').catch(() => undefined);
    expect(breaker.state).toBe('open');
    let text = await prom.text();
    expect(series(text, 'weir_circuit_state').samples.get('{system="esp"}')).toBe(1);
    await clock.advance(1000);
    expect(breaker.state).toBe('half-open');
    expect(series(await prom.text(), 'weir_circuit_state').samples.get('{system="esp"}')).toBe(2);
    failing = false;
    await (await esp.get('/b')).dump();
    expect(breaker.state).toBe('closed');

    // A queue on SQLite: one message done, one dead-lettered, one still waiting.
    const h = await sqliteQueue({ metrics: prom.queueMetrics, metricsIntervalMs: 1000 });
    cleanups.push(() => h.cleanup());
    await h.queue.handle('jobs', (m) => {
      if (m.payload === 'bad') throw permanent(new Error('no'));
    });
    await h.queue.enqueue('jobs', 'ok');
    await h.queue.enqueue('jobs', 'bad');
    await h.queue.enqueue('later', 'x');
    await waitFor(async () => (await h.queue.stats()).find((t) => t.topic === 'jobs')?.dead === 1, h.clock);
    await waitFor(async () => (await h.queue.stats()).find((t) => t.topic === 'jobs')?.done === 1, h.clock);
    await h.clock.advance(1000);
    await waitFor(async () => series(await prom.text(), 'weir_dead_letters').samples.get('{topic="jobs"}') === 1, h.clock);
    prom.watchQueue(h.queue);
    await h.clock.advance(5000);
    await clock.advance(h.clock.now() - clock.now()); // the exporter's clock measures the age

    prom.syncLag.set(12.5, { sync: 'crm-esp' });
    prom.conflicts.add(1, { resolution: 'escalated' });
    prom.escalationsOpen.set(1);
    text = await prom.text();

    const req = series(text, 'weir_api_requests_total');
    expect(req.type).toBe('counter');
    expect(req.samples.get('{system="esp",method="GET",status_class="5xx"}')).toBe(2);
    expect(req.samples.get('{system="esp",method="GET",status_class="2xx"}')).toBe(1);
    const circuit = series(text, 'weir_circuit_state');
    expect(circuit.type).toBe('gauge');
    expect(circuit.samples.get('{system="esp"}')).toBe(0);
    expect(series(text, 'weir_circuit_opens_total').samples.get('{system="esp"}')).toBe(1);
    const depth = series(text, 'weir_queue_depth');
    expect(depth.type).toBe('gauge');
    expect(depth.samples.get('{topic="later",state="ready"}')).toBe(1);
    expect(depth.samples.get('{topic="jobs",state="ready"}')).toBe(0);
    // watched at scrape time: the later topic's oldest message is 5 s old now
    expect(series(text, 'weir_queue_oldest_ready_age_seconds').samples.get('{topic="later"}')).toBeGreaterThanOrEqual(5);
    const dead = series(text, 'weir_dead_letters');
    expect(dead.type).toBe('gauge');
    expect(dead.samples.get('{topic="jobs"}')).toBe(1);
    expect(series(text, 'weir_sync_lag_seconds')).toEqual({ type: 'gauge', samples: new Map([['{sync="crm-esp"}', 12.5]]) });
    const conflicts = series(text, 'weir_conflicts_total');
    expect(conflicts.type).toBe('counter');
    expect(conflicts.samples.get('{resolution="escalated"}')).toBe(1);
    expect(conflicts.samples.get('{resolution="resolved_by_policy"}')).toBe(0);
    expect(series(text, 'weir_escalations_open')).toEqual({ type: 'gauge', samples: new Map([['', 1]]) });
    // HTTP and queue extras
    expect(series(text, 'weir_http_attempt_duration_seconds_count').samples.get('{system="esp",method="GET",outcome="ok"}')).toBe(1);
    expect(series(text, 'weir_http_call_duration_seconds').type).toBe('histogram');
    expect(series(text, 'weir_queue_enqueued_total').samples.get('{topic="jobs"}')).toBe(2);
    expect(series(text, 'weir_queue_deliveries_total').samples.get('{topic="jobs",outcome="done"}')).toBe(1);
    expect(series(text, 'weir_queue_deliveries_total').samples.get('{topic="jobs",outcome="dead"}')).toBe(1);
    expect(series(text, 'weir_queue_dead_lettered_total').samples.get('{topic="jobs"}')).toBe(1);
    expect(series(text, 'weir_queue_end_to_end_seconds_count').samples.get('{topic="jobs"}')).toBe(1);
    expect(series(text, 'weir_queue_in_flight').samples.get('')).toBe(0);

    // /metrics over HTTP, then promtool on the exposition.
    const metricsServer = createServer((rq, rs) => prom.handler(rq, rs));
    await new Promise<void>((r) => metricsServer.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => metricsServer.close(r)));
    const { port } = metricsServer.address() as AddressInfo;
    const scraped = await new Promise<{ type: string | undefined; body: string }>((resolve, reject) => {
      request({ port, host: '127.0.0.1', path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ type: res.headers['content-type'], body }));
      }).on('error', reject).end();
    });
    expect(scraped.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scraped.body).toContain('weir_api_requests_total{system="esp",method="GET",status_class="2xx"} 1');

    const tool = promtool();
    if (tool === undefined) {
      if (process.env['WEIR_REQUIRE_SERVICES'] === '1') throw new Error('promtool is required (apt-get install -y prometheus)');
      console.warn('SKIPPED: promtool check metrics (promtool not on PATH; apt-get install -y prometheus)');
      return;
    }
    const file = join(tmpdir(), `weir-metrics-${process.pid}.txt`);
    writeFileSync(file, scraped.body);
    cleanups.push(() => rmSync(file, { force: true }));
    const checked = spawnSync('sh', ['-c', `${tool} check metrics < "${file}"`], { encoding: 'utf8' });
    expect({ status: checked.status, out: checked.stdout + checked.stderr }).toEqual({ status: 0, out: '' });
  });

  it('shows the contract metrics before anything happened, honours a prefix, and refuses a clashing name', async () => {
    const prom = prometheusMetrics({ prefix: 'app_' });
    const text = await prom.text();
    for (const name of ['weir_queue_depth', 'weir_api_requests_total', 'weir_sync_lag_seconds', 'weir_conflicts_total', 'weir_escalations_open', 'weir_circuit_state', 'weir_dead_letters']) {
      expect(text).toContain(`# TYPE app_${name} `);
    }
    expect(() => prom.meter.histogram('weir_api_requests_total')).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    expect(() => prometheusMetrics({ registry: prom.registry, prefix: 'app_' })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    // labels the instrument does not declare are dropped rather than thrown
    prom.meter.counter('weir_http_retries_total').add(1, { system: 'crm', extra: 'x' });
    expect(await prom.text()).toContain('app_weir_http_retries_total{system="crm"} 1');
  });
});
