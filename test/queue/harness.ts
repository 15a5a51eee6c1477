import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createQueue, type Queue, type QueueOptions } from '../../src/queue/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { FakeClock } from '../../src/testing/index.js';

/** A temporary SQLite file store; `cleanup()` closes and deletes it. */
export async function tempSqlite(): Promise<{ store: SqliteStore; cleanup(): Promise<void> }> {
  const file = join(tmpdir(), `weir-queue-${randomUUID()}.db`);
  const store = await openSqliteStore(file, { durability: 'normal' });
  return {
    store,
    async cleanup() {
      await store.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    },
  };
}

/**
 * Polls `condition` in real time (up to `timeoutMs`), letting the fake clock's due timers fire at
 * the current time, so tests never depend on how fast a machine is.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, clock?: FakeClock, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error('waitFor: condition still false');
    if (clock !== undefined) await clock.advance(0);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A SQLite store, a FakeClock and a queue on them; stops and deletes everything after. */
export async function sqliteQueue(options: QueueOptions = {}): Promise<{
  store: SqliteStore;
  clock: FakeClock;
  queue: Queue;
  errors: unknown[];
  cleanup(): Promise<void>;
}> {
  const { store, cleanup } = await tempSqlite();
  const clock = new FakeClock();
  const queue = createQueue(store, { clock, random: () => 0.5, ...options });
  const errors: unknown[] = [];
  queue.onError((e) => errors.push(e.error));
  return {
    store,
    clock,
    queue,
    errors,
    async cleanup() {
      const stopping = queue.stop({ graceMs: 0 });
      await clock.advance(0);
      await stopping;
      await cleanup();
    },
  };
}

/** A promise that stays pending until `release()`: holds a store call to test what runs meanwhile. */
export function gate(): { readonly wait: Promise<void>; release(): void } {
  let release!: () => void;
  const wait = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { wait, release };
}

/** A handler that blocks until `release(id)`; `started` lists the ids in start order. */
export function gated(): { readonly started: string[]; handler(m: { id: string }): Promise<void>; release(id: string): void } {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const handler = (m: { id: string }) =>
    new Promise<void>((resolve) => {
      started.push(m.id);
      gates.set(m.id, resolve);
    });
  return { started, handler, release: (id: string) => gates.get(id)?.() };
}
