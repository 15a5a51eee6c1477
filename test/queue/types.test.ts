import type BetterSqlite3 from 'better-sqlite3';
import type pg from 'pg';
import { describe, expectTypeOf, it } from 'vitest';
import type { Queue } from '../../src/queue/index.js';
import type { PostgresStore } from '../../src/store/postgres/index.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';

// Type-level tests: tsc checks them (npm run typecheck); at run time they only need to exist.

function enqueueTypes(queue: Queue, db: BetterSqlite3.Database, client: pg.PoolClient, plain: pg.Client): void {
  expectTypeOf(queue.enqueue(db, 't', { a: 1 })).toEqualTypeOf<string>();
  expectTypeOf(queue.enqueue(client, 't', { a: 1 })).toEqualTypeOf<Promise<string>>();
  expectTypeOf(queue.enqueue(plain, 't', 1, { key: 'k' })).toEqualTypeOf<Promise<string>>();
  expectTypeOf(queue.enqueue('t', 1)).toEqualTypeOf<Promise<string>>();
  expectTypeOf(queue.enqueueMany(db, [{ topic: 't', payload: 1 }])).toEqualTypeOf<string[]>();
  expectTypeOf(queue.once(db, 'consumer', 'id')).toEqualTypeOf<boolean>();
  expectTypeOf(queue.once(client, 'consumer', 'id')).toEqualTypeOf<Promise<boolean>>();
}

function transactionTypes(sqlite: SqliteStore, postgres: PostgresStore, queue: Queue): void {
  void sqlite.transaction((db) => {
    expectTypeOf(db.prepare('SELECT 1').pluck().get()).toBeUnknown();
    return queue.enqueue(db, 't', 1);
  });
  void postgres.transaction(async (client) => {
    await client.query('SELECT 1');
    return queue.enqueue(client, 't', 1);
  });
}

describe('queue types', () => {
  it('returns the id synchronously with a better-sqlite3 Database, and a promise otherwise', () => {
    expectTypeOf(enqueueTypes).toBeFunction();
  });

  it("gives each store's transaction its own driver handle", () => {
    expectTypeOf(transactionTypes).toBeFunction();
  });
});
