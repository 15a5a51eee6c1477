import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from './fake-clock.js';
import { type FaultServer, type FaultServerOptions, faultServer, faults, seededRandom } from './fault-server.js';

let agent: Agent;
const servers: FaultServer[] = [];

async function start(options: FaultServerOptions): Promise<FaultServer> {
  agent ??= new Agent();
  const server = await faultServer(options);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await agent?.close();
  agent = undefined as unknown as Agent;
});

interface Reply {
  status: number | 'error';
  headers: Record<string, unknown>;
  body: string;
  code?: string;
}

async function get(server: FaultServer, path = '/', headers: Record<string, string> = {}): Promise<Reply> {
  try {
    const res = await request(server.url + path, { dispatcher: agent, headers });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  } catch (err) {
    return { status: 'error', headers: {}, body: '', code: (err as { code?: string }).code ?? 'unknown' };
  }
}

async function statuses(server: FaultServer, n: number): Promise<Array<number | 'error'>> {
  const out: Array<number | 'error'> = [];
  for (let i = 0; i < n; i++) out.push((await get(server)).status);
  return out;
}

describe('faultServer', () => {
  it('is healthy without a schedule and listens on 127.0.0.1', async () => {
    const server = await start({});
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const reply = await get(server, '/hello');
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ ok: true, seq: 1 });
  });

  it('moves through phases by request count, then serves normally', async () => {
    const server = await start({
      phases: [
        { fault: faults.flaky(1, { status: 502 }), forRequests: 2 },
        { fault: faults.down({ mode: '503', retryAfterSeconds: 7 }), forRequests: 1 },
      ],
    });
    expect(await statuses(server, 2)).toEqual([502, 502]);
    const down = await get(server);
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('7');
    expect(await statuses(server, 2)).toEqual([200, 200]);
    expect(server.requests.map((r) => r.phaseName)).toEqual(['flaky', 'flaky', 'down', '(after schedule)', '(after schedule)']);
  });

  it('moves through phases by time on its clock, ending each exactly on its boundary', async () => {
    const clock = new FakeClock();
    const server = await start({
      clock,
      phases: [
        { fault: faults.ok(), forMs: '1s' },
        { fault: faults.flaky(1), forMs: 500, name: 'broken' },
        { fault: faults.ok(), forMs: 1000, name: 'healed' },
      ],
    });
    expect((await get(server)).status).toBe(200);
    await clock.advance(999);
    expect(server.phase.index).toBe(0);
    await clock.advance(1);
    expect(server.phase).toEqual({ index: 1, name: 'broken', startedAt: 1000 });
    expect((await get(server)).status).toBe(503);
    await clock.advance(1200); // 2200: past 'broken' (ends 1500) and inside 'healed' (ends 2500)
    expect(server.phase).toEqual({ index: 2, name: 'healed', startedAt: 1500 });
    await clock.advance(300);
    expect(server.phase.index).toBe(3);
    expect(server.requests.map((r) => [r.at, r.phase, r.status])).toEqual([
      [0, 0, 200],
      [1000, 1, 503],
    ]);
  });

  it('repeats the schedule when asked', async () => {
    const server = await start({
      repeat: true,
      phases: [
        { fault: faults.ok(), forRequests: 1 },
        { fault: faults.flaky(1), forRequests: 1 },
      ],
    });
    expect(await statuses(server, 5)).toEqual([200, 503, 200, 503, 200]);
  });

  it('meets the same requests with the same faults for the same seed', async () => {
    const phases = [{ fault: [faults.slow(0, { jitterMs: 5 }), faults.flaky(0.5)] }];
    const a = await start({ seed: 42, phases });
    const b = await start({ seed: 42, phases });
    const c = await start({ seed: 43, phases });
    const runA = await statuses(a, 30);
    expect(await statuses(b, 30)).toEqual(runA);
    expect(await statuses(c, 30)).not.toEqual(runA);
    expect(runA).toContain(200);
    expect(runA).toContain(503);
    expect(b.requests.map((r) => r.delayMs)).toEqual(a.requests.map((r) => r.delayMs));
    a.reset();
    expect(await statuses(a, 30)).toEqual(runA);
  });

  it('answers 429 with Retry-After in seconds and refills its bucket over time', async () => {
    const clock = new FakeClock();
    const server = await start({ clock, phases: [{ fault: faults.rateLimited({ perSecond: 2, burst: 2 }) }] });
    expect(await statuses(server, 2)).toEqual([200, 200]);
    const limited = await get(server);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('1');
    await clock.advance(500);
    expect(await statuses(server, 2)).toEqual([200, 429]);
  });

  it('answers 429 with Retry-After as an HTTP date', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0));
    const server = await start({ clock, phases: [{ fault: faults.rateLimited({ perSecond: 0.25, burst: 1, retryAfter: 'http-date' }) }] });
    expect((await get(server)).status).toBe(200);
    const limited = await get(server);
    expect(limited.status).toBe(429);
    expect(limited.headers['retry-after']).toBe('Thu, 01 Jan 2026 00:00:04 GMT');
    await clock.advance(4000);
    expect((await get(server)).status).toBe(200);
  });

  it('resets connections while down', async () => {
    const server = await start({ phases: [{ fault: faults.down(), forRequests: 2 }] });
    const first = await get(server);
    expect(first.status).toBe('error');
    expect(first.code).toMatch(/^(UND_ERR_SOCKET|ECONNRESET)$/);
    expect((await get(server)).status).toBe('error');
    expect((await get(server)).status).toBe(200);
    expect(server.counters.byStatus).toEqual({ reset: 2, '200': 1 });
  });

  it('delays slow requests and records the delay', async () => {
    const server = await start({ phases: [{ fault: [faults.slow(15, { jitterMs: 10 }), faults.flaky(1)], forRequests: 1 }] });
    expect((await get(server)).status).toBe(503);
    const [record] = server.requests;
    expect(record?.delayMs).toBeGreaterThanOrEqual(15);
    expect(record?.delayMs).toBeLessThan(25);
  });

  it('slows only a share of requests with slow({ rate })', async () => {
    const server = await start({ seed: 5, phases: [{ fault: faults.slow(5, { rate: 0.5 }) }] });
    await statuses(server, 20);
    const delays = server.requests.map((r) => r.delayMs);
    expect(delays.filter((d) => d === 0).length).toBeGreaterThan(0);
    expect(delays.filter((d) => d === 5).length).toBeGreaterThan(0);
    expect(delays.every((d) => d === 0 || d === 5)).toBe(true);
  });

  it('records every request and keeps counters', async () => {
    const server = await start({ phases: [{ fault: faults.flaky(1), forRequests: 1, name: 'blip' }] });
    const seen: number[] = [];
    const sub = server.onRequest((r) => seen.push(r.seq));
    await get(server, '/a?x=1', { 'x-request-id': 'r-1' });
    await get(server, '/b');
    sub.dispose();
    await get(server, '/c');
    expect(seen).toEqual([1, 2]);
    const [first, second] = server.requests;
    expect(first).toMatchObject({ seq: 1, method: 'GET', path: '/a?x=1', phase: 0, phaseName: 'blip', status: 503, delayMs: 0 });
    expect(first?.headers['x-request-id']).toBe('r-1');
    expect(second).toMatchObject({ seq: 2, path: '/b', phase: 1, status: 200 });
    expect(server.counters).toEqual({ requests: 3, byStatus: { '503': 1, '200': 2 }, byPhase: { blip: 1, '(after schedule)': 2 } });
    server.reset();
    expect(server.requests).toEqual([]);
    expect(server.counters.requests).toBe(0);
  });

  it('keeps only counters with record: false, and serves through a custom handler', async () => {
    const server = await start({
      record: false,
      handler: (req, res, info) => {
        res.writeHead(201, { 'content-type': 'text/plain' });
        res.end(`${req.method} ${info.seq} ${info.phase}`);
      },
    });
    const reply = await get(server, '/x');
    expect(reply).toMatchObject({ status: 201, body: 'GET 1 (after schedule)' });
    expect(server.requests).toEqual([]);
    expect(server.counters.byStatus).toEqual({ '201': 1 });
  });

  it('hands the request body to the handler, after a slow phase too', async () => {
    const server = await start({
      phases: [{ fault: faults.slow(10) }],
      handler: async (req, res) => {
        let body = '';
        for await (const chunk of req) body += String(chunk);
        res.end(`echo:${body}`);
      },
    });
    const res = await request(`${server.url}/echo`, { dispatcher: agent, method: 'POST', body: 'hello' });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('echo:hello');
    expect(server.requests[0]).toMatchObject({ method: 'POST', status: 200, delayMs: 10 });
  });

  it('answers 500 when the handler throws', async () => {
    const server = await start({
      handler: () => {
        throw new Error('boom');
      },
    });
    expect((await get(server)).status).toBe(500);
  });

  it('abandons a pending slow answer on close, and close is idempotent', async () => {
    const server = await start({ phases: [{ fault: faults.slow(60_000) }] });
    const pending = get(server);
    await new Promise((r) => setTimeout(r, 50));
    await Promise.all([server.close(), server.close()]);
    expect((await pending).status).toBe('error');
    expect(server.requests[0]?.status).toBe('aborted');
  });

  it('validates the schedule eagerly', async () => {
    expect(() => faults.flaky(1.5)).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION', option: 'flaky.rate' }));
    expect(() => faults.flaky(0.1, { status: 404 })).toThrow(expect.objectContaining({ option: 'flaky.status' }));
    expect(() => faults.slow(-1)).toThrow(expect.objectContaining({ option: 'slow.ms' }));
    expect(() => faults.slow(10, { rate: 2 })).toThrow(expect.objectContaining({ option: 'slow.rate' }));
    expect(() => faults.rateLimited({ perSecond: 0 })).toThrow(expect.objectContaining({ option: 'rateLimited.perSecond' }));
    expect(() => faults.rateLimited({ perSecond: 1, retryAfter: 'minutes' as 'seconds' })).toThrow(
      expect.objectContaining({ option: 'rateLimited.retryAfter' }),
    );
    expect(() => faults.down({ mode: 'refused' as 'reset' })).toThrow(expect.objectContaining({ option: 'down.mode' }));
    await expect(faultServer({ phases: [{ fault: faults.ok(), forRequests: 0 }] })).rejects.toMatchObject({
      option: 'faultServer.phases[0].forRequests',
    });
    await expect(faultServer({ phases: [{ fault: { kind: 'explode' } as never }] })).rejects.toMatchObject({
      option: 'faultServer.phases[0].fault',
    });
    await expect(faultServer({ seed: -1 })).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'faultServer.seed' });
  });
});

describe('seededRandom', () => {
  it('is reproducible and stays in [0, 1)', () => {
    const a = seededRandom(7);
    const b = seededRandom(7);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(990);
    expect(seededRandom(8)()).not.toBe(xs[0]);
  });
});
