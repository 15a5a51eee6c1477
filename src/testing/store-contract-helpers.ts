import type { NewMessage } from '../store/queue.js';
import type { Awaitable, Store } from '../store/types.js';

/** What each contract test gets: a fresh store, and helpers. @internal */
export interface ContractContext {
  readonly store: Store;
}

/** 2026-01-01T00:00:00Z: every contract test passes explicit times from here. @internal */
export const T0 = Date.UTC(2026, 0, 1);

/** A message with defaults. @internal */
export function message(topic: string, id: string, extra: Partial<NewMessage> = {}): NewMessage {
  return { id, topic, key: null, payload: { id }, headers: {}, runAt: T0, ...extra };
}

/** Calls `f` with the value, or after the promise resolves: one test body for sync and async stores. @internal */
export function andThen<T, R>(value: Awaitable<T>, f: (value: T) => R): Awaitable<R> {
  return value instanceof Promise ? value.then(f) : f(value as T);
}

