import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { alerts, type Alert, type AlertManager } from '../../src/observability/alerts.js';
import { circuitBreaker } from '../../src/policy/circuit-breaker.js';
import { Emitter } from '../../src/internal/events.js';
import type { TopicStats } from '../../src/store/queue.js';
import { FakeClock } from '../../src/testing/fake-clock.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

/** A real HTTP receiver collecting the POSTed alerts. */
async function receiver(status = 204): Promise<{ url: string; got: Alert[]; server: Server }> {
  const got: Alert[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      if (req.method === 'POST' && req.headers['content-type'] === 'application/json') got.push(JSON.parse(body) as Alert);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`, got, server };
}

function manager(url: string, clock: FakeClock, extra: Partial<Parameters<typeof alerts>[0]> = {}): AlertManager {
  const m = alerts({
    url,
    clock,
    evaluateEveryMs: 0,
    rules: [
      { kind: 'breaker_open' },
      { kind: 'error_rate', threshold: 0.5, windowMs: '1m', minRequests: 4 },
      { kind: 'queue_depth', max: 10 },
      { kind: 'queue_age', maxAgeMs: '5m' },
      { kind: 'dead_letters', quietMs: '10m' },
      { kind: 'sync_lag', maxLagMs: '15m' },
    ],
    ...extra,
  });
  cleanups.push(() => m.close(0));
  return m;
}

const stats = (over: Partial<TopicStats>): TopicStats => ({
  topic: 't', ready: 0, scheduled: 0, waiting: 0, active: 0, done: 0, dead: 0, blocked: 0, oldestReadyAt: null, ...over,
});

describe('alerts', () => {
  it('a breaker opening on esp fires once, half-open and repeats add nothing, closing resolves once', async () => {
    const clock = new FakeClock();
    const r = await receiver();
    const m = manager(r.url, clock);
    const breaker = circuitBreaker({ consecutive: 1 }, { clock, openMs: 1000, name: 'esp' });
    m.watchBreaker('esp', breaker);
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    expect(breaker.state).toBe('open');
    await m.flush();
    await clock.advance(1000);
    expect(breaker.state).toBe('half-open');
    await breaker.execute(() => Promise.reject(new Error('still down'))).catch(() => undefined); // re-opens
    await m.evaluate();
    await m.evaluate();
    await m.flush();
    await clock.advance(1000);
    await breaker.execute(() => Promise.resolve('ok'));
    expect(breaker.state).toBe('closed');
    await m.flush();
    expect(r.got.map((a) => [a.name, a.state, a.system])).toEqual([
      ['circuit_open', 'firing', 'esp'],
      ['circuit_open', 'resolved', 'esp'],
    ]);
    expect(r.got[0]).toMatchObject({ at: clock.now() - 2000, detail: { from: 'closed', to: 'open' } });
    expect(m.stats).toMatchObject({ sent: 2, failed: 0 });
  });

  it('error rate over a sliding window (FakeClock), through the meter wrapper', async () => {
    const clock = new FakeClock();
    const r = await receiver();
    const m = manager(r.url, clock);
    const requests = m.meter().counter('weir_api_requests_total');
    requests.add(1, { system: 'crm', status_class: '2xx' });
    requests.add(1, { system: 'crm', status_class: '5xx' });
    requests.add(1, { system: 'crm', status_class: 'error' });
    expect(await m.evaluate()).toEqual([]); // 3 < minRequests
    requests.add(1, { system: 'crm', status_class: '4xx' });
    expect((await m.evaluate()).map((a) => a.state)).toEqual(['firing']); // 2 of 4
    expect(await m.evaluate()).toEqual([]);
    await m.flush();
    await clock.advance(66_000); // the window moves in tenths: 60 s plus up to one tenth
    expect((await m.evaluate()).map((a) => a.state)).toEqual(['resolved']); // window emptied
    await m.flush();
    expect(r.got.map((a) => [a.name, a.state, a.system, a.detail['errors']])).toEqual([
      ['error_rate', 'firing', 'crm', 2],
      ['error_rate', 'resolved', 'crm', 0],
    ]);
  });

  it('queue depth and oldest age per topic, dead letters rising then quiet', async () => {
    const clock = new FakeClock();
    const r = await receiver();
    const m = manager(r.url, clock);
    let topics = [stats({ topic: 'a', ready: 11, oldestReadyAt: clock.now() }), stats({ topic: 'b' })];
    m.watchQueue({ stats: () => Promise.resolve(topics) }, { system: 'esp' });
    expect((await m.evaluate()).map((a) => [a.name, a.state, a.detail['topic']])).toEqual([['queue_depth', 'firing', 'a']]);
    await m.flush(); // a POST in flight would see its timeout pass on the fake clock
    await clock.advance(301_000);
    expect((await m.evaluate()).map((a) => [a.name, a.state])).toEqual([['queue_oldest_age', 'firing']]);
    topics = [stats({ topic: 'a', ready: 1, oldestReadyAt: clock.now(), dead: 1 }), stats({ topic: 'b', blocked: 1 })];
    expect((await m.evaluate()).map((a) => [a.name, a.state])).toEqual([
      ['queue_depth', 'resolved'],
      ['queue_oldest_age', 'resolved'],
      ['dead_letters_rising', 'firing'],
    ]);
    await m.flush();
    await clock.advance(300_000);
    expect(await m.evaluate()).toEqual([]); // no rise, not yet quiet
    topics = [stats({ topic: 'a', dead: 3 })];
    expect(await m.evaluate()).toEqual([]); // rose again while firing: deduplicated
    await m.flush();
    await clock.advance(600_000);
    expect((await m.evaluate()).map((a) => [a.name, a.state, a.detail['count']])).toEqual([['dead_letters_rising', 'resolved', 3]]);
    await m.flush();
    expect(r.got.filter((a) => a.name === 'dead_letters_rising').map((a) => [a.state, a.system])).toEqual([
      ['firing', 'esp'],
      ['resolved', 'esp'],
    ]);
  });

  it('sync lag above its threshold fires once and resolves; forwarded reconciliation alerts are deduplicated', async () => {
    const clock = new FakeClock();
    const r = await receiver();
    const m = manager(r.url, clock);
    m.reportSyncLag('crm-esp', 16 * 60_000);
    m.reportSyncLag('crm-esp', 20 * 60_000);
    m.reportSyncLag('crm-esp', 60_000);
    const source = new Emitter<Alert>();
    m.forward({ onAlert: source.event });
    const overdue: Alert = { name: 'reconciliation_overdue', state: 'firing', system: 'crm-esp', at: clock.now(), detail: {} };
    source.emit(overdue);
    source.emit(overdue);
    source.emit({ ...overdue, state: 'resolved' });
    await m.flush();
    expect(r.got.map((a) => [a.name, a.state])).toEqual([
      ['sync_lag', 'firing'],
      ['sync_lag', 'resolved'],
      ['reconciliation_overdue', 'firing'],
      ['reconciliation_overdue', 'resolved'],
    ]);
    expect(r.got[0]?.detail).toEqual({ lagMs: 16 * 60_000, maxLagMs: 15 * 60_000 });
  });

  it('a receiver that is down: no throw, retried, then counted as failed', async () => {
    const clock = new FakeClock();
    const r = await receiver();
    await new Promise((res) => r.server.close(res));
    const m = manager(r.url, clock, { attempts: 2 });
    const failures: unknown[] = [];
    m.onDeliveryError((e) => failures.push(e.attempts));
    expect(() => m.reportSyncLag('crm-esp', 99 * 60_000)).not.toThrow();
    const done = m.flush();
    for (let i = 0; i < 100 && m.stats.retries === 0; i++) await new Promise((res) => setTimeout(res, 5));
    await clock.advance(1000);
    await done;
    expect(m.stats).toMatchObject({ sent: 0, failed: 1, retries: 1 });
    expect(failures).toEqual([2]);
    expect(m.active().map((a) => a.name)).toEqual(['sync_lag']);
  });

  it('a 4xx is not retried; options are validated eagerly', async () => {
    const clock = new FakeClock();
    const r = await receiver(400);
    const m = manager(r.url, clock);
    m.reportSyncLag('x', 99 * 60_000);
    await m.flush();
    expect(m.stats).toMatchObject({ failed: 1, retries: 0 });
    expect(() => alerts({ url: 'ftp://x', rules: [] })).toThrow(expect.objectContaining({ option: 'url' }));
    expect(() => alerts({ url: r.url, rules: [{ kind: 'error_rate', threshold: 2 }] })).toThrow(expect.objectContaining({ option: 'rules[0].threshold' }));
    expect(() => alerts({ url: r.url, rules: [{ kind: 'nope' } as never] })).toThrow(expect.objectContaining({ option: 'rules[0].kind' }));
  });
});
