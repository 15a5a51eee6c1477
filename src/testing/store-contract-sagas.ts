import { describe, expect, it } from 'vitest';
import type { ErrorRecord } from '../store/queue.js';
import type { NewSagaRun, SagaStepKey } from '../store/sagas.js';
import { andThen, type ContractContext, T0 } from './store-contract-helpers.js';

const failure = (code: string): ErrorRecord => ({ name: 'Error', code, message: `failed: ${code}`, classification: 'permanent' });
const run = (id: string, extra: Partial<NewSagaRun> = {}): NewSagaRun => ({
  id,
  name: 'order',
  step: 'reserve',
  input: { orderId: id, total: 12.5 },
  deadline: null,
  now: T0,
  ...extra,
});
const key = (runId: string, index: number, extra: Partial<SagaStepKey> = {}): SagaStepKey => ({
  runId,
  phase: 'action',
  index,
  name: `s${index}`,
  now: T0,
  ...extra,
});

/** Saga runs and step records: idempotent create, compare-and-set transitions, record-once steps. @internal */
export function sagasContract(ctx: ContractContext): void {
  describe('sagas', () => {
    it('creates a run once; the same id again changes nothing', async () => {
      const { sagas } = ctx.store;
      expect(await sagas.create(undefined, run('r1', { deadline: T0 + 60_000 }))).toBe(true);
      expect(await sagas.create(undefined, run('r1', { name: 'other', input: 'x' }))).toBe(false);
      expect(await sagas.get('r1')).toMatchObject({
        id: 'r1',
        name: 'order',
        state: 'running',
        version: 1,
        stepIndex: 0,
        step: 'reserve',
        input: { orderId: 'r1', total: 12.5 },
        error: null,
        compensationError: null,
        deadline: T0 + 60_000,
        createdAt: T0,
        updatedAt: T0,
        finishedAt: null,
      });
      expect(await sagas.get('missing')).toBeNull();
    });

    it('transitions by compare and set on the version; a stale version changes nothing', async () => {
      const { sagas } = ctx.store;
      await sagas.create(undefined, run('r1'));
      const step = { id: 'r1', state: 'running', stepIndex: 1, step: 'charge', now: T0 + 10 } as const;
      expect(await sagas.transition(undefined, { ...step, version: 1 })).toBe(true);
      expect(await sagas.transition(undefined, { ...step, version: 1, stepIndex: 9 })).toBe(false);
      expect(await sagas.get('r1')).toMatchObject({ version: 2, stepIndex: 1, step: 'charge', updatedAt: T0 + 10, finishedAt: null });
      const compensate = { id: 'r1', version: 2, state: 'compensating', stepIndex: 0, step: 'reserve', error: failure('E1'), now: T0 + 20 } as const;
      expect(await sagas.transition(undefined, compensate)).toBe(true);
      const paused = { id: 'r1', version: 3, state: 'paused', stepIndex: 0, step: 'reserve', compensationError: failure('E2'), now: T0 + 30 } as const;
      expect(await sagas.transition(undefined, paused)).toBe(true);
      expect(await sagas.get('r1')).toMatchObject({ state: 'paused', version: 4, error: failure('E1'), compensationError: failure('E2'), finishedAt: null });
      // Omitted errors are kept; null clears.
      expect(await sagas.transition(undefined, { ...paused, version: 4, state: 'compensating', compensationError: null, now: T0 + 40 })).toBe(true);
      expect(await sagas.get('r1')).toMatchObject({ state: 'compensating', error: failure('E1'), compensationError: null });
      expect(await sagas.transition(undefined, { id: 'r1', version: 5, state: 'compensated', stepIndex: 0, step: null, now: T0 + 50 })).toBe(true);
      expect(await sagas.get('r1')).toMatchObject({ state: 'compensated', version: 6, step: null, finishedAt: T0 + 50 });
      expect(await sagas.transition(undefined, { id: 'missing', version: 1, state: 'aborted', stepIndex: 0, step: null, now: T0 })).toBe(false);
    });

    it('counts attempts and records a step once: the first completion wins', async () => {
      const { sagas } = ctx.store;
      await sagas.create(undefined, run('r1'));
      expect(await sagas.attempt(undefined, key('r1', 0))).toBe(1);
      expect(await sagas.record(undefined, { ...key('r1', 0, { now: T0 + 5 }), status: 'retrying', error: failure('E1') })).toBe(true);
      expect(await sagas.attempt(undefined, key('r1', 0, { now: T0 + 6 }))).toBe(2);
      expect(await sagas.record(undefined, { ...key('r1', 0, { now: T0 + 7 }), status: 'completed', output: { reservation: 'x1' } })).toBe(true);
      expect(await sagas.record(undefined, { ...key('r1', 0, { now: T0 + 8 }), status: 'completed', output: { reservation: 'x2' } })).toBe(false);
      expect(await sagas.record(undefined, { ...key('r1', 0, { now: T0 + 8 }), status: 'failed', error: failure('E2') })).toBe(false);
      expect(await sagas.attempt(undefined, key('r1', 0, { now: T0 + 9 }))).toBeNull();
      const [s0] = await sagas.steps('r1');
      expect(s0).toMatchObject({
        runId: 'r1',
        phase: 'action',
        index: 0,
        name: 's0',
        status: 'completed',
        attempts: 2,
        output: { reservation: 'x1' },
        startedAt: T0,
        updatedAt: T0 + 7,
        finishedAt: T0 + 7,
      });
    });

    it('keeps the history in the order records were first written, per phase', async () => {
      const { sagas } = ctx.store;
      await sagas.create(undefined, run('r1'));
      await sagas.create(undefined, run('r2'));
      await sagas.record(undefined, { ...key('r1', 2, { phase: 'event', name: 'paid' }), status: 'completed', output: { topic: 'paid' } });
      await sagas.attempt(undefined, key('r1', 0));
      await sagas.record(undefined, { ...key('r1', 0), status: 'completed', output: null });
      await sagas.attempt(undefined, key('r2', 0));
      await sagas.attempt(undefined, key('r1', 1));
      await sagas.record(undefined, { ...key('r1', 1), status: 'failed', error: failure('E1') });
      await sagas.attempt(undefined, key('r1', 0, { phase: 'compensation' }));
      const history = await sagas.steps('r1');
      expect(history.map((s) => [s.phase, s.index, s.status])).toEqual([
        ['event', 2, 'completed'],
        ['action', 0, 'completed'],
        ['action', 1, 'failed'],
        ['compensation', 0, 'running'],
      ]);
      expect(history[1]!.output).toBeNull();
      expect(history[2]).toMatchObject({ error: failure('E1'), output: null, attempts: 1, finishedAt: T0 });
      expect(history[0]).toMatchObject({ attempts: 0, output: { topic: 'paid' } });
      expect(await sagas.steps('missing')).toEqual([]);
    });

    it('lists runs newest first, by state and name, in pages', async () => {
      const { sagas } = ctx.store;
      for (const [id, name] of [['a', 'order'], ['b', 'refund'], ['c', 'order'], ['d', 'order']] as const) {
        await sagas.create(undefined, run(id, { name }));
      }
      await sagas.transition(undefined, { id: 'c', version: 1, state: 'completed', stepIndex: 3, step: null, now: T0 + 1 });
      expect((await sagas.list()).map((r) => r.id)).toEqual(['d', 'c', 'b', 'a']);
      expect((await sagas.list({ name: 'order' })).map((r) => r.id)).toEqual(['d', 'c', 'a']);
      expect((await sagas.list({ state: 'running', name: 'order' })).map((r) => r.id)).toEqual(['d', 'a']);
      expect((await sagas.list({ state: 'completed' })).map((r) => r.id)).toEqual(['c']);
      const page = await sagas.list({ limit: 2 });
      expect(page.map((r) => r.id)).toEqual(['d', 'c']);
      expect((await sagas.list({ limit: 2, beforeSeq: page[1]!.seq })).map((r) => r.id)).toEqual(['b', 'a']);
    });

    it("writes inside a caller's transaction: committed with it, or rolled back with it", async () => {
      const s = ctx.store;
      await s.transaction((tx) => andThen(s.sagas.create(tx, run('in')), () => s.sagas.attempt(tx, key('in', 0))));
      expect((await s.sagas.get('in'))?.state).toBe('running');
      const boom = new Error('rollback');
      await expect(
        s.transaction((tx) =>
          andThen(s.sagas.transition(tx, { id: 'in', version: 1, state: 'completed', stepIndex: 1, step: null, now: T0 }), (moved) => {
            expect(moved).toBe(true);
            return andThen(s.sagas.record(tx, { ...key('in', 0), status: 'completed', output: 1 }), () => {
              throw boom;
            });
          }),
        ),
      ).rejects.toBe(boom);
      expect(await s.sagas.get('in')).toMatchObject({ state: 'running', version: 1 });
      expect((await s.sagas.steps('in')).map((r) => r.status)).toEqual(['running']);
      expect(await s.transaction((tx) => s.sagas.get('in', tx))).toMatchObject({ id: 'in' });
      expect(await s.transaction((tx) => s.sagas.steps('in', tx))).toHaveLength(1);
    });

    it('purges runs finished before a time, with their steps; unfinished runs stay', async () => {
      const { sagas } = ctx.store;
      for (const id of ['old', 'new', 'paused', 'live']) {
        await sagas.create(undefined, run(id));
        await sagas.attempt(undefined, key(id, 0));
      }
      await sagas.transition(undefined, { id: 'old', version: 1, state: 'completed', stepIndex: 1, step: null, now: T0 + 10 });
      await sagas.transition(undefined, { id: 'new', version: 1, state: 'aborted', stepIndex: 0, step: null, now: T0 + 100 });
      await sagas.transition(undefined, { id: 'paused', version: 1, state: 'paused', stepIndex: 0, step: 's0', now: T0 + 10 });
      expect(await sagas.purge(T0 + 50)).toBe(1);
      expect(await sagas.get('old')).toBeNull();
      expect(await sagas.steps('old')).toEqual([]);
      expect((await sagas.list()).map((r) => r.id).toSorted()).toEqual(['live', 'new', 'paused']);
      expect(await sagas.steps('live')).toHaveLength(1);
    });
  });
}
