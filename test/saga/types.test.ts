import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import { describe, expectTypeOf, it } from 'vitest';
import { emits, on, saga, step, type SagaRunDetail, type SagaRuntime, type StepContext } from '../../src/saga/index.js';

// Type-level tests: tsc checks them (npm run typecheck); at run time they only need to exist.

type Order = { id: string; total: number };

function definitionTypes(): void {
  const order = saga<Order>('order', [
    step('reserve', (ctx) => {
      expectTypeOf(ctx.input).toEqualTypeOf<Order>();
      expectTypeOf(ctx).toMatchTypeOf<{ signal: AbortSignal; attempt: number }>();
      return { reservation: ctx.idempotencyKey };
    }, (ctx) => {
      expectTypeOf(ctx.output).toEqualTypeOf<{ reservation: string }>();
      expectTypeOf(ctx.error?.code).toEqualTypeOf<string | null | undefined>();
    }),
    step('announce', emits('order.placed', (ctx: StepContext<Order>) => ({ id: ctx.input.id }))),
    step('paid', on<{ chargeId: string }>('payment.charged', { timeoutMs: 1000 })),
  ]);
  expectTypeOf(order.name).toEqualTypeOf<string>();
}

function startTypes(runtime: SagaRuntime, db: BetterSqlite3.Database, client: pg.PoolClient): void {
  const order = saga<Order>('order', [step('a', () => 1)]);
  expectTypeOf(runtime.start(db, order, { id: 'o1', total: 1 })).toEqualTypeOf<string>();
  expectTypeOf(runtime.start(client, order, { id: 'o1', total: 1 }, { id: 'o1' })).toEqualTypeOf<Promise<string>>();
  expectTypeOf(runtime.start(order, { id: 'o1', total: 1 })).toEqualTypeOf<Promise<string>>();
  // @ts-expect-error the input must match the saga's input type
  void runtime.start(order, { id: 1 });
  expectTypeOf(runtime.get('o1')).toEqualTypeOf<Promise<SagaRunDetail | null>>();
}

describe('saga types', () => {
  it('are checked by tsc', () => {
    void definitionTypes;
    void startTypes;
  });
});
