import { afterEach, describe, expect, it } from 'vitest';
import { permanent } from '../../src/errors.js';
import { saga, step, type StepContext } from '../../src/saga/index.js';
import { fastRetry, type Harness, type MakeHarness, settled, tick, until, waitFor } from './harness.js';

type Order = { id: string; total: number };

const boom = (): never => {
  throw permanent(new Error('no'));
};

/** Forward steps, compensation in reverse, retries, pause/resume/abort, the outbox start. */
export function coreBehaviour(make: MakeHarness): void {
  let h: Harness;
  afterEach(async () => {
    await h?.cleanup();
  });

  describe('forward', () => {
    it('runs the steps in order, records each output once, and gives later steps the earlier outputs', async () => {
      h = await make();
      const seen: StepContext<Order>[] = [];
      const order = saga<Order>(
        'order',
        [
          step('reserve', (ctx) => (seen.push(ctx), { reservation: `r-${ctx.input.id}` }), () => undefined),
          step('charge', async (ctx) => (seen.push(ctx), { charged: ctx.input.total })),
          step('ship', (ctx) => {
            seen.push(ctx);
          }),
        ],
        { retry: fastRetry },
      );
      const rt = h.runtime([order]);
      await rt.ready;
      const ids: string[] = [];
      for (const id of ['o1', 'o2', 'o3']) ids.push(await rt.start(order, { id, total: 10 }, { id }));
      expect(ids).toEqual(['o1', 'o2', 'o3']);
      for (const id of ids) await until(h, rt, id, 'completed');
      const run = await rt.get('o1');
      expect(run).toMatchObject({
        name: 'order',
        state: 'completed',
        step: null,
        stepIndex: 3,
        version: 4,
        input: { id: 'o1', total: 10 },
        error: null,
        finishedAt: h.clock.now(),
        outputs: { reserve: { reservation: 'r-o1' }, charge: { charged: 10 }, ship: null },
      });
      expect(run!.history.map((s) => [s.phase, s.index, s.name, s.status, s.attempts])).toEqual([
        ['action', 0, 'reserve', 'completed', 1],
        ['action', 1, 'charge', 'completed', 1],
        ['action', 2, 'ship', 'completed', 1],
      ]);
      const o1 = seen.filter((c) => c.runId === 'o1');
      expect(o1.map((c) => [c.step, c.idempotencyKey, c.attempt, c.saga])).toEqual([
        ['reserve', 'o1:reserve', 1, 'order'],
        ['charge', 'o1:charge', 1, 'order'],
        ['ship', 'o1:ship', 1, 'order'],
      ]);
      expect(o1[2]!.outputs).toEqual({ reserve: { reservation: 'r-o1' }, charge: { charged: 10 } });
      expect(o1[0]!.signal.aborted).toBe(false);
      expect(o1[0]!.deadline).toBeUndefined();
      expect((await rt.list({ state: 'completed', name: 'order' })).map((r) => r.id)).toEqual(['o3', 'o2', 'o1']);
      expect(await rt.list({ state: 'running' })).toEqual([]);
    });

    it("starts inside the caller's transaction (the outbox), idempotently by id", async () => {
      h = await make();
      const ran: string[] = [];
      const order = saga<Order>('order', [step('only', (ctx) => void ran.push(ctx.runId))]);
      const rt = h.runtime([order]);
      await rt.ready;
      await h.inCallerTx((tx) => rt.start(tx as never, order, { id: 'gone', total: 1 }, { id: 'gone' }), false);
      await h.inCallerTx((tx) => rt.start(tx as never, order, { id: 'kept', total: 1 }, { id: 'kept' }), true);
      await until(h, rt, 'kept', 'completed');
      expect(await rt.get('gone')).toBeNull();
      expect(await rt.start(order, { id: 'kept', total: 2 }, { id: 'kept' })).toBe('kept');
      await settled(h);
      expect(ran).toEqual(['kept']);
      expect((await rt.get('kept'))!.input).toEqual({ id: 'kept', total: 1 });
      const other = saga('other', [step('x', () => 1)]);
      await expect(h.runtime([other], { handle: false }).start(other, {}, { id: 'kept' })).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'id' });
      await expect(rt.start(order, { id: 'x', total: 1 }, { id: '' })).rejects.toMatchObject({ option: 'id' });
      const generated = await rt.start(order, { id: 'y', total: 1 });
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('compensation', () => {
    it('when step 3 fails permanently, compensates steps 2 and 1 in that order, once each, with step-scoped keys', async () => {
      h = await make();
      const log: string[] = [];
      const order = saga<Order>(
        'order',
        [
          step('reserve', () => void log.push('reserve'), (ctx) => void log.push(`release ${ctx.idempotencyKey} ${ctx.error?.code}`)),
          step('charge', () => (log.push('charge'), { chargeId: 'c1' }), (ctx) => void log.push(`refund ${ctx.output.chargeId} ${ctx.idempotencyKey}`)),
          step('ship', () => {
            log.push('ship');
            throw permanent(new Error('address invalid'));
          }, () => void log.push('unship')),
        ],
        { retry: fastRetry },
      );
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, { id: 'o1', total: 5 }, { id: 'o1' });
      await until(h, rt, 'o1', 'compensated');
      expect(log).toEqual(['reserve', 'charge', 'ship', 'refund c1 o1:charge:compensate', 'release o1:reserve:compensate WEIR_PERMANENT']);
      const run = await rt.get('o1');
      expect(run).toMatchObject({ state: 'compensated', step: null, stepIndex: 0, error: { code: 'WEIR_PERMANENT', classification: 'permanent' } });
      expect(run!.finishedAt).not.toBeNull();
      expect(run!.history.map((s) => [s.phase, s.name, s.status, s.attempts])).toEqual([
        ['action', 'reserve', 'completed', 1],
        ['action', 'charge', 'completed', 1],
        ['action', 'ship', 'failed', 1],
        ['compensation', 'charge', 'completed', 1],
        ['compensation', 'reserve', 'completed', 1],
      ]);
      expect(run!.history[2]!.error).toMatchObject({ code: 'WEIR_PERMANENT', message: 'address invalid' });
      expect(await h.queue.deadLetters.list()).toEqual([]);
    });

    it('fails (no compensation runs) when no completed step has one; skips steps without one', async () => {
      h = await make();
      const log: string[] = [];
      const first = saga('first', [step('a', boom, () => void log.push('undo a'))]);
      const middle = saga('middle', [step('a', () => 1, () => void log.push('undo a')), step('b', () => 2), step('c', boom)]);
      const rt = h.runtime([first, middle]);
      await rt.ready;
      await rt.start(first, null, { id: 'f' });
      await rt.start(middle, null, { id: 'm' });
      await until(h, rt, 'f', 'failed');
      await until(h, rt, 'm', 'compensated');
      expect(await rt.get('f')).toMatchObject({ step: 'a', stepIndex: 0, error: { code: 'WEIR_PERMANENT' } });
      expect(log).toEqual(['undo a']);
    });

    it('fails a step for good when its output is not JSON (instead of failing every commit)', async () => {
      h = await make();
      const order = saga('order', [step('a', () => 1, () => undefined), step('b', () => ({ big: 1n }))]);
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 'j' });
      await until(h, rt, 'j', 'compensated');
      expect((await rt.get('j'))!.error).toMatchObject({ code: 'WEIR_PERMANENT', classification: 'permanent' });
    });

    it('retries a transient failure on the queue schedule, then goes on; exhausted retries start compensation', async () => {
      h = await make();
      const attempts: Array<[string, number, number]> = [];
      let flaky = 2;
      const undone: string[] = [];
      const order = saga(
        'order',
        [
          step('flaky', (ctx) => {
            attempts.push([ctx.runId, ctx.attempt, h.clock.now()]);
            if (ctx.runId === 'ok' && flaky-- > 0) throw new Error('503 upstream');
            if (ctx.runId === 'bad') throw new Error('still down');
            return 'fine';
          }, (ctx) => void undone.push(ctx.runId)),
          step('after', (ctx) => {
            if (ctx.runId === 'bad2') throw new Error('down');
          }),
        ],
        { retry: fastRetry },
      );
      const rt = h.runtime([order]);
      await rt.ready;
      const t0 = h.clock.now();
      await rt.start(order, null, { id: 'ok' });
      await rt.start(order, null, { id: 'bad2' });
      await settled(h);
      expect((await rt.get('ok'))!.history[0]).toMatchObject({ status: 'retrying', attempts: 1, error: { message: '503 upstream', classification: 'transient' } });
      await tick(h, 1000);
      await tick(h, 5000);
      await until(h, rt, 'ok', 'completed');
      expect(attempts.filter((a) => a[0] === 'ok')).toEqual([
        ['ok', 1, t0],
        ['ok', 2, t0 + 1000],
        ['ok', 3, t0 + 6000],
      ]);
      expect((await rt.get('ok'))!.history[0]).toMatchObject({ status: 'completed', attempts: 3, output: 'fine' });
      await until(h, rt, 'bad2', 'compensated');
      expect(undone).toEqual(['bad2']);
      expect((await rt.get('bad2'))!.history[1]).toMatchObject({ status: 'failed', attempts: 3, error: { message: 'down', classification: 'transient' } });
      expect(await h.queue.deadLetters.list()).toEqual([]);
    });
  });

  describe('paused runs', () => {
    it('pauses when a compensation exhausts its retries; resume retries it, abort stops the run', async () => {
      h = await make();
      let refundWorks = false;
      const refunds: string[] = [];
      const order = saga(
        'order',
        [
          step('reserve', () => 'r', () => undefined),
          step('charge', () => 'c', (ctx) => {
            if (!refundWorks) throw new Error('bank unavailable');
            refunds.push(ctx.runId);
          }),
          step('ship', () => {
            throw permanent(new Error('no stock'));
          }),
        ],
        { retry: fastRetry },
      );
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 'p1' });
      await rt.start(order, null, { id: 'p2' });
      await tick(h, 1000);
      await tick(h, 5000);
      await until(h, rt, 'p1', 'paused');
      await until(h, rt, 'p2', 'paused');
      const paused = await rt.get('p1');
      expect(paused).toMatchObject({
        state: 'paused',
        step: 'charge',
        stepIndex: 1,
        error: { message: 'no stock' },
        compensationError: { message: 'bank unavailable', classification: 'transient' },
        finishedAt: null,
      });
      expect(paused!.history.at(-1)).toMatchObject({ phase: 'compensation', name: 'charge', status: 'failed', attempts: 3 });
      expect((await rt.list({ state: 'paused' })).map((r) => r.id)).toEqual(['p2', 'p1']);

      refundWorks = true;
      expect(await rt.resume('p1')).toMatchObject({ state: 'compensating', compensationError: null });
      await until(h, rt, 'p1', 'compensated');
      expect(refunds).toEqual(['p1']);
      expect((await rt.get('p1'))!.history.find((s) => s.phase === 'compensation' && s.name === 'charge')).toMatchObject({ status: 'completed', attempts: 4 });

      expect(await rt.abort('p2')).toMatchObject({ state: 'aborted', step: 'charge' });
      await settled(h);
      expect(refunds).toEqual(['p1']);
      await expect(rt.resume('p2')).rejects.toMatchObject({ code: 'WEIR_INVALID_STATE' });
      await expect(rt.abort('p1')).rejects.toMatchObject({ code: 'WEIR_INVALID_STATE' });
      await expect(rt.resume('nope')).rejects.toMatchObject({ code: 'WEIR_NOT_FOUND' });
    });

    it('pauses at once on a permanent compensation failure', async () => {
      h = await make();
      const order = saga('order', [
        step('a', () => 1, () => {
          throw permanent(new Error('refund refused'));
        }),
        step('b', () => {
          throw permanent(new Error('no'));
        }),
      ]);
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 'r' });
      await until(h, rt, 'r', 'paused');
      expect(await rt.get('r')).toMatchObject({ compensationError: { message: 'refund refused', classification: 'permanent' } });
    });

    it('resume on a running run re-sends its current message, which is harmless when one is pending', async () => {
      h = await make();
      const ran: number[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const order = saga('order', [step('slow', async (ctx) => (ran.push(ctx.attempt), await gate)), step('b', () => 2)]);
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 'r' });
      await waitFor(() => ran.length === 1, h.clock);
      expect(await rt.resume('r')).toMatchObject({ state: 'running', version: 1 });
      release();
      await until(h, rt, 'r', 'completed');
      await settled(h);
      expect(ran).toEqual([1]);
    });

    it('purges finished runs older than a cut-off', async () => {
      h = await make();
      const order = saga('order', [step('a', () => 1)]);
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 'old' });
      await until(h, rt, 'old', 'completed');
      await h.clock.advance(60_000);
      await rt.start(order, null, { id: 'new' });
      await until(h, rt, 'new', 'completed');
      expect(await rt.purge({ olderThanMs: 30_000 })).toBe(1);
      expect(await rt.get('old')).toBeNull();
      expect(await rt.get('new')).not.toBeNull();
    });
  });
}
