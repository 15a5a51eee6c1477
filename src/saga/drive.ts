import type { Queue } from '../queue/queue.js';
import type { EnqueueItem } from '../queue/types.js';
import type { Awaitable, Store, Transaction } from '../store/types.js';

/**
 * A unit of transactional work written once for both kinds of store: each `yield` hands over a
 * store operation's result, a value on a `'sync'` store (better-sqlite3: the transaction cannot span
 * an await) and a promise on an `'async'` one (pg).
 */
export type Work<R> = Generator<unknown, R, unknown>;

/** Runs `work` synchronously while every yielded value is a plain value; from the first promise on, asynchronously. */
export function drive<R>(work: Work<R>): Awaitable<R> {
  let next = work.next();
  while (next.done !== true) {
    if (next.value instanceof Promise) return finish(work, next.value);
    next = work.next(next.value);
  }
  return next.value;
}

async function finish<R>(work: Work<R>, pending: Promise<unknown>): Promise<R> {
  let next = work.next(await pending);
  while (next.done !== true) next = work.next(await next.value);
  return next.value;
}

/** Runs `body` in the caller's transaction `tx`, or in a new transaction of the store. */
export function inTransaction<R>(store: Store, tx: Transaction | undefined, body: (tx: Transaction) => Work<R>): Awaitable<R> {
  if (tx !== undefined) return drive(body(tx));
  return store.transaction((t) => drive(body(t))) as Promise<R>;
}

/** Enqueues messages in `tx` (one batch); synchronous on a `'sync'` store. */
export function enqueueIn(queue: Queue, tx: Transaction, items: readonly EnqueueItem[]): Awaitable<unknown> {
  if (items.length === 0) return undefined;
  const many = queue.enqueueMany as (tx: Transaction, items: readonly EnqueueItem[]) => Awaitable<string[]>;
  return many.call(queue, tx, items);
}
