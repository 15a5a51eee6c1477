import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../src/internal/clock.js';
import { createQueue, type Queue, type QueueOptions } from '../../src/queue/index.js';
import type { Store } from '../../src/store/types.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { authoritative, defineSync, equivalent, escalate, lastWriterWins, sticky, type FieldPolicy, type Sync, type SyncAdapter } from '../../src/sync/index.js';
import { adapter, TestSystem, type Rec } from './systems.js';

export interface World {
  crm: TestSystem;
  esp: TestSystem;
  store: Store;
  queue: Queue;
  sync: Sync;
  /** The SQLite file (unused with `makeStore`). */
  file: string;
  close(): Promise<void>;
}

/** Two systems, a store, a queue and a sync with R1–R15-like policies. */
export async function world(
  makeStore?: () => Promise<Store>,
  options: { readonly pageSize?: number; readonly clock?: Clock; readonly queue?: QueueOptions } = {},
): Promise<World> {
  const crm = await new TestSystem('crm').start();
  const esp = await new TestSystem('esp').start();
  const file = join(tmpdir(), `weir-sync-${randomUUID()}.db`);
  const store = makeStore === undefined ? await openSqliteStore(file) : await makeStore();
  const queue = createQueue(store, { pollMs: 50, ...(options.clock === undefined ? {} : { clock: options.clock }), ...options.queue });
  const left = adapter('crm', crm);
  const right = adapter('esp', esp);
  const sync = contacts({ left, right, store, queue, pageSize: options.pageSize ?? 25, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  return {
    crm,
    esp,
    store,
    queue,
    sync,
    file,
    async close() {
      await queue.stop({ graceMs: 100 });
      await left.connection.close();
      await right.connection.close();
      await store.close();
      await crm.stop();
      await esp.stop();
      if (makeStore === undefined) for (const s of ['', '-wal', '-shm']) rmSync(`${file}${s}`, { force: true });
    },
  };
}

const unsubscribed = (v: unknown): boolean => typeof v === 'string' && v.startsWith('unsubscribed');

/** R3: a lost CRM customer is never subscribed on the ESP, whatever changed there. */
const lostIsUnsubscribed: FieldPolicy = {
  name: 'crm_lost_unsubscribes',
  decide: (c) => ((c.records.left as Rec).status === 'lost' ? { take: 'left' } : 'next'),
};

/**
 * The test sync `contacts` (CRM left, ESP right) with the contract's R1–R15 policies; shared with
 * the crash test's child process. `consent` is `'subscribed' | 'unsubscribed'` on the CRM (from
 * `status` and `marketing_opt_in`) and `'subscribed' | 'unsubscribed' | 'unsubscribed:user'` on the
 * ESP (from `subscription` and `unsubscribe_origin`), so an ESP user unsubscribing an already
 * API-unsubscribed contact is a change the three-way comparison sees (R8).
 */
export function contacts(o: {
  readonly left: SyncAdapter<Rec>;
  readonly right: SyncAdapter<Rec>;
  readonly store: Store;
  readonly queue: Queue;
  readonly pageSize: number;
  readonly clock?: Clock;
}): Sync {
  return defineSync({
    name: 'contacts',
    ...o,
    fields: {
      email: authoritative('left', { name: 'crm_authoritative' }), // R6
      name: [lastWriterWins({ clock: 'server-date', skewMarginMs: 1000 }), escalate('other')], // R5
      consent: [
        equivalent((l, r) => unsubscribed(l) && unsubscribed(r), { name: 'both_unsubscribed' }),
        sticky('unsubscribed:user', { side: 'right', origin: (r) => (r as Rec).unsubscribe_origin === 'user', escalate: 'reconsent_required', name: 'unsubscribe_wins' }), // R4, R7, R8
        lostIsUnsubscribed, // R3
        lastWriterWins({ skewMarginMs: 1000 }),
        authoritative('left'), // R3
      ],
    },
    create: { right: (f) => f.consent === 'subscribed' }, // R1; ESP contacts never create CRM customers (R12)
  });
}

/** Waits until `check` holds (polling), or fails. */
export async function until(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
}
