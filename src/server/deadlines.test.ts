import { describe, expect, it } from 'vitest';
import { timeout } from '../policy/timeout.js';
import { FakeClock } from '../testing/fake-clock.js';
import { handle } from './compose.js';
import { deadlines } from './deadlines.js';

const req = (value?: string) => new Request('http://x/', { headers: value === undefined ? {} : { 'x-weir-deadline': value } });

describe('deadlines', () => {
  it('adopts the caller’s budget, capped at maxMs, for the handler and its downstream calls', async () => {
    const clock = new FakeClock();
    const mw = deadlines({ maxMs: 5000, clock });
    const seen: number[] = [];
    await handle(req('2500'), [mw], (c) => {
      seen.push(c.deadline!.remainingMs());
      return new Response('ok');
    });
    await handle(req('999999'), [mw], (c) => {
      seen.push(c.deadline!.remainingMs());
      expect(c.policy.deadline).toBe(c.deadline);
      return new Response('ok');
    });
    await handle(req(), [mw], (c) => {
      seen.push(c.deadline === undefined ? -1 : 0);
      return new Response('ok');
    });
    expect(seen).toEqual([2500, 5000, -1]);
  });

  it('answers 504 at once when the budget is already spent, without running the handler', async () => {
    let ran = false;
    const res = await handle(req('0'), [deadlines({ maxMs: 5000 })], () => {
      ran = true;
      return new Response('ok');
    });
    expect(res.status).toBe(504);
    expect(await res.json()).toMatchObject({ code: 'WEIR_TIMEOUT' });
    expect(ran).toBe(false);
  });

  it('aborts ctx.signal when the deadline passes, and a downstream policy stops with it (504)', async () => {
    const clock = new FakeClock();
    const started = handle(req('1000'), [deadlines({ maxMs: 5000, clock })], async (c) => {
      await timeout({ ms: 60_000, clock }).execute(({ signal }) => new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason))), c.policy);
      return new Response('never');
    });
    await clock.advance(1000);
    const res = await started;
    expect(res.status).toBe(504);
  });

  it('uses defaultMs without a header, and ignores a malformed one', async () => {
    const mw = deadlines({ maxMs: 5000, defaultMs: 1000, clock: new FakeClock() });
    const left: number[] = [];
    for (const r of [req(), req('soon')]) await handle(r, [mw], (c) => (left.push(c.deadline!.remainingMs()), new Response('ok')));
    expect(left).toEqual([1000, 1000]);
    expect(() => deadlines({ maxMs: 0 })).toThrow(expect.objectContaining({ option: 'deadlines.maxMs' }));
  });
});
