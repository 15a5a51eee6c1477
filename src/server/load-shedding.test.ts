import { describe, expect, it } from 'vitest';
import { handle } from './compose.js';
import { loadShedding } from './load-shedding.js';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('loadShedding', () => {
  it('runs maxConcurrent, queues maxQueue, and sheds the rest with 503 + Retry-After at once', async () => {
    const g = gate();
    let running = 0;
    let peak = 0;
    const mw = loadShedding({ maxConcurrent: 2, maxQueue: 1, maxQueueWaitMs: 60_000, retryAfterMs: 2000 });
    const call = () =>
      handle(new Request('http://x/'), [mw], async () => {
        peak = Math.max(peak, ++running);
        await g.opened;
        running--;
        return new Response('ok');
      });
    const inflight = [call(), call(), call()];
    const shed = await call();
    expect(shed.status).toBe(503);
    expect(shed.headers.get('retry-after')).toBe('2');
    expect(await shed.json()).toMatchObject({ code: 'WEIR_OVERLOADED', reason: 'concurrency' });
    g.open();
    expect((await Promise.all(inflight)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(peak).toBe(2);
  });

  it('sheds a queued request whose wait runs out', async () => {
    const g = gate();
    const mw = loadShedding({ maxConcurrent: 1, maxQueue: 5, maxQueueWaitMs: 20 });
    const slow = handle(new Request('http://x/'), [mw], async () => {
      await g.opened;
      return new Response('ok');
    });
    const waited = await handle(new Request('http://x/'), [mw], () => new Response('ok'));
    expect(waited.status).toBe(503);
    expect(await waited.json()).toMatchObject({ reason: 'queue_wait' });
    g.open();
    expect((await slow).status).toBe(200);
  });

  it('answers 429 to a partition over its own concurrency while others proceed', async () => {
    const g = gate();
    const mw = loadShedding({ maxConcurrent: 10, partition: { key: (c) => c.header('x-tenant'), maxConcurrent: 1 } });
    const req = (tenant: string) =>
      handle(new Request('http://x/', { headers: { 'x-tenant': tenant } }), [mw], async () => {
        await g.opened;
        return new Response('ok');
      });
    const first = req('a');
    const again = await req('a');
    expect(again.status).toBe(429);
    const other = req('b');
    g.open();
    expect((await first).status).toBe(200);
    expect((await other).status).toBe(200);
    expect((await req('a')).status).toBe(200);
  });

  it('pushes back while a watched queue is too deep', async () => {
    let depth = 0;
    const mw = loadShedding({ maxConcurrent: 10, queueDepth: () => depth, maxQueueDepth: 100 });
    expect((await handle(new Request('http://x/'), [mw], () => new Response('ok'))).status).toBe(200);
    depth = 100;
    const res = await handle(new Request('http://x/'), [mw], () => new Response('ok'));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ reason: 'queue_depth' });
  });

  it('validates its options', () => {
    expect(() => loadShedding({ maxConcurrent: 0 })).toThrow(expect.objectContaining({ option: 'loadShedding.maxConcurrent' }));
    expect(() => loadShedding({ maxConcurrent: 1, queueDepth: () => 0 })).toThrow(expect.objectContaining({ option: 'loadShedding.maxQueueDepth' }));
  });
});
