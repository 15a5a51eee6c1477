import { afterEach, describe, expect, it } from 'vitest';
import { isWeirError } from '../../src/errors.js';
import { on, saga, step, type StepContext } from '../../src/saga/index.js';
import { fastRetry, type Harness, type MakeHarness, settled, tick, until, waitFor } from './harness.js';

/** Resolves never; rejects with the signal's reason when it aborts. */
const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));

/** Per-step timeouts and per-saga deadlines, on the fake clock. */
export function timeBehaviour(make: MakeHarness): void {
  let h: Harness;
  afterEach(async () => {
    await h?.cleanup();
  });

  describe('timeouts', () => {
    it("aborts an attempt at the step's timeoutMs and retries it as a transient failure", async () => {
      h = await make();
      const seen: StepContext[] = [];
      const order = saga('order', [
        step('slow', async (ctx) => {
          seen.push(ctx);
          if (ctx.attempt === 1) await untilAborted(ctx.signal);
          return 'done';
        }, undefined, { timeoutMs: 1000 }),
      ], { retry: fastRetry });
      const rt = h.runtime([order]);
      await rt.ready;
      const t0 = h.clock.now();
      await rt.start(order, null, { id: 'r' });
      await waitFor(() => seen.length === 1, h.clock);
      expect(seen[0]!.deadline?.at).toBe(t0 + 1000);
      await h.clock.advance(1000);
      await waitFor(async () => (await rt.get('r'))?.history[0]?.status === 'retrying', h.clock);
      expect(seen[0]!.signal.aborted).toBe(true);
      expect(isWeirError(seen[0]!.signal.reason, 'WEIR_TIMEOUT')).toBe(true);
      expect((await rt.get('r'))!.history[0]!.error).toMatchObject({ code: 'WEIR_TIMEOUT', classification: 'transient' });
      await tick(h, 1000);
      await until(h, rt, 'r', 'completed');
      expect((await rt.get('r'))!.history[0]).toMatchObject({ status: 'completed', attempts: 2, output: 'done' });
    });

    it('compensates when the saga deadline passes while a step waits for an event', async () => {
      h = await make();
      const undone: string[] = [];
      const order = saga('order', [step('reserve', () => 1, (ctx) => void undone.push(ctx.step)), step('paid', on('payment.charged'))], {
        timeoutMs: 10_000,
      });
      const rt = h.runtime([order]);
      await rt.ready;
      const t0 = h.clock.now();
      await rt.start(order, null, { id: 'r' });
      await waitFor(async () => (await rt.get('r'))?.history[1]?.status === 'waiting', h.clock);
      expect(await rt.get('r')).toMatchObject({ state: 'running', step: 'paid', deadline: t0 + 10_000 });
      await tick(h, 9_999);
      await settled(h);
      expect((await rt.get('r'))!.state).toBe('running');
      await tick(h, 1);
      await until(h, rt, 'r', 'compensated');
      const run = await rt.get('r');
      expect(run!.error).toMatchObject({ code: 'WEIR_TIMEOUT', classification: 'permanent' });
      expect(run!.history.map((s) => [s.phase, s.name, s.status])).toEqual([
        ['action', 'reserve', 'completed'],
        ['action', 'paid', 'failed'],
        ['compensation', 'reserve', 'completed'],
      ]);
      expect(undone).toEqual(['reserve']);
    });

    it("aborts a running step at the saga deadline (ctx.deadline) and compensates, without retrying", async () => {
      h = await make();
      const seen: StepContext[] = [];
      const order = saga('order', [
        step('reserve', () => 1, () => undefined),
        step('charge', (ctx) => (seen.push(ctx), untilAborted(ctx.signal))),
      ], { timeoutMs: 3000, retry: fastRetry });
      const rt = h.runtime([order]);
      await rt.ready;
      const t0 = h.clock.now();
      await rt.start(order, null, { id: 'r' });
      await waitFor(() => seen.length === 1, h.clock);
      expect(seen[0]!.deadline?.at).toBe(t0 + 3000);
      await h.clock.advance(3000);
      await until(h, rt, 'r', 'compensated');
      expect(seen).toHaveLength(1);
      expect((await rt.get('r'))!.history[1]).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'WEIR_TIMEOUT', classification: 'permanent' } });
    });

    it('gives up at once when the next retry could only start after the deadline', async () => {
      h = await make();
      const calls: number[] = [];
      const order = saga('order', [
        step('reserve', () => 1, () => undefined),
        step('charge', (ctx) => {
          calls.push(ctx.attempt);
          throw new Error('flaky');
        }),
      ], { timeoutMs: 5000, retry: { immediate: 0, schedule: ['1s', '10s'], jitter: 0 } });
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 'r' });
      await tick(h, 1000);
      await until(h, rt, 'r', 'compensated');
      expect(calls).toEqual([1, 2]);
      expect((await rt.get('r'))!.error).toMatchObject({ code: 'WEIR_TIMEOUT', classification: 'permanent' });
    });
  });
}
