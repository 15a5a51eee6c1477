import { afterEach, describe, expect, it } from 'vitest';
import { permanent } from '../../src/errors.js';
import { emits, on, SAGA_RUN_HEADER, saga, step } from '../../src/saga/index.js';
import { type Harness, type MakeHarness, settled, tick, until, waitFor } from './harness.js';

type Order = { id: string; total: number };

/** reserve → request payment (an event) → wait for the answer → ship. */
const checkout = (log: string[], timeoutMs = 60_000) =>
  saga<Order>('checkout', [
    step('reserve', () => void log.push('reserve'), () => void log.push('release')),
    step('request-payment', emits('payment.requested', (ctx) => ({ orderId: ctx.input.id, total: ctx.input.total })), emits('payment.cancel')),
    step(
      'paid',
      on(['payment.charged', 'payment.declined'], {
        timeoutMs,
        accept: (event) => {
          if (event.topic === 'payment.declined') throw permanent(new Error('card declined'));
          return event.payload;
        },
      }),
    ),
    step('ship', (ctx) => void log.push(`ship ${JSON.stringify(ctx.outputs.paid)}`)),
  ]);

/** Choreography: `emits()` publishes through the outbox, `on()` waits for another service's event. */
export function eventBehaviour(make: MakeHarness): void {
  let h: Harness;
  afterEach(async () => {
    await h?.cleanup();
  });

  /** Another service: answers each payment request with `answer`, echoing the run header. */
  async function paymentService(answer: (total: number) => string | null): Promise<void> {
    await h.queue.handle('payment.requested', async (m) => {
      const { total } = m.payload as { total: number };
      const topic = answer(total);
      if (topic !== null) await h.queue.enqueue(topic, { chargeId: `ch-${total}` }, { headers: { [SAGA_RUN_HEADER]: m.headers[SAGA_RUN_HEADER]! } });
    });
  }

  describe('choreography', () => {
    it('publishes an event through the outbox, waits for the answer, and goes on with it', async () => {
      h = await make();
      const log: string[] = [];
      const order = checkout(log);
      const rt = h.runtime([order]);
      await paymentService(() => 'payment.charged');
      await rt.ready;
      await rt.start(order, { id: 'o1', total: 42 }, { id: 'o1' });
      await until(h, rt, 'o1', 'completed');
      expect(log).toEqual(['reserve', 'ship {"chargeId":"ch-42"}']);
      const run = await rt.get('o1');
      expect(run!.outputs).toMatchObject({ 'request-payment': { orderId: 'o1', total: 42 }, paid: { chargeId: 'ch-42' } });
      // The answer may arrive before the run reaches the waiting step: the event record may come first.
      expect(run!.history.map((s) => [s.phase, s.name, s.status]).toSorted()).toEqual([
        ['action', 'paid', 'completed'],
        ['action', 'request-payment', 'completed'],
        ['action', 'reserve', 'completed'],
        ['action', 'ship', 'completed'],
        ['event', 'paid', 'completed'],
      ]);
      expect(run!.history.find((s) => s.phase === 'event')!.output).toMatchObject({ topic: 'payment.charged', payload: { chargeId: 'ch-42' } });
      const published = await h.store.queue.get('o1:request-payment:emit:0');
      expect(published).toMatchObject({ topic: 'payment.requested', payload: { orderId: 'o1', total: 42 }, state: 'done' });
      expect(published!.headers).toMatchObject({ [SAGA_RUN_HEADER]: 'o1', 'weir-saga': 'checkout', 'weir-saga-step': 'request-payment' });
    });

    it('compensates when the answer is a failure event, or when none comes in time', async () => {
      h = await make();
      const log: string[] = [];
      const order = checkout(log);
      const rt = h.runtime([order]);
      await paymentService((total) => (total > 100 ? 'payment.declined' : null));
      await rt.ready;
      await rt.start(order, { id: 'big', total: 500 }, { id: 'big' });
      await rt.start(order, { id: 'silent', total: 5 }, { id: 'silent' });
      await until(h, rt, 'big', 'compensated');
      expect((await rt.get('big'))!.error).toMatchObject({ code: 'WEIR_PERMANENT', message: 'card declined' });
      await settled(h);
      expect((await rt.get('silent'))!.state).toBe('running');
      await tick(h, 60_000);
      await until(h, rt, 'silent', 'compensated');
      expect((await rt.get('silent'))!.error).toMatchObject({ code: 'WEIR_TIMEOUT', classification: 'permanent' });
      expect(log.filter((l) => l === 'release')).toHaveLength(2);
      // The compensation of the emitting step emitted too, with the compensation's own key.
      expect(await h.store.queue.get('silent:request-payment:compensate:emit:0')).toMatchObject({ topic: 'payment.cancel' });
    });

    it('keeps an event that arrives before the run reaches the step; the first one wins; strays are ignored', async () => {
      h = await make();
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const order = saga('shipping', [
        step('pack', () => gate),
        step('delivered', on('shipment.delivered', { correlate: (e) => (e.payload as { orderId?: string }).orderId })),
      ]);
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 's1' });
      await waitFor(async () => (await rt.get('s1'))?.history[0]?.status === 'running', h.clock);
      await h.queue.enqueue('shipment.delivered', { orderId: 's1', n: 1 });
      await waitFor(async () => (await rt.get('s1'))?.history.some((s) => s.phase === 'event') === true, h.clock);
      // Unkeyed messages may be handled in any order by concurrent slots, so "first" is made
      // unambiguous: the second event for s1 is sent only once the first has been kept.
      await h.queue.enqueue('shipment.delivered', { orderId: 's1', n: 2 });
      await h.queue.enqueue('shipment.delivered', { orderId: 'unknown', n: 3 });
      await h.queue.enqueue('shipment.delivered', { n: 4 });
      release();
      await until(h, rt, 's1', 'completed');
      await settled(h);
      expect((await rt.get('s1'))!.outputs.delivered).toEqual({ orderId: 's1', n: 1 });
      expect(await rt.get('unknown')).toBeNull();
      expect(await h.queue.deadLetters.list()).toEqual([]);
    });

    it('publishes an emitted event once, only when the step completes', async () => {
      h = await make();
      let failOnce = true;
      const order = saga('notify', [
        step('announce', (ctx) => {
          ctx.emit('order.placed', { id: ctx.runId }, { key: ctx.runId, headers: { 'x-trace': 't1' } });
          if (failOnce) {
            failOnce = false;
            throw new Error('flaky after emitting');
          }
        }),
      ], { retry: { immediate: 0, schedule: ['1s'], jitter: 0 } });
      const rt = h.runtime([order]);
      await rt.ready;
      await rt.start(order, null, { id: 'n1' });
      await settled(h);
      expect(await h.store.queue.get('n1:announce:emit:0')).toBeNull();
      await tick(h, 1000);
      await until(h, rt, 'n1', 'completed');
      expect(await h.store.queue.get('n1:announce:emit:0')).toMatchObject({ key: 'n1', headers: { 'x-trace': 't1', [SAGA_RUN_HEADER]: 'n1' } });
      expect((await h.queue.stats()).find((s) => s.topic === 'order.placed')).toMatchObject({ ready: 1 });
    });
  });
}
