import type { Awaitable, Store } from '../store/types.js';
import type { ContractContext } from './store-contract-helpers.js';

/** Options of {@link storeContract}. */
export interface StoreContractOptions {
  /** Called after each test, once the store is closed: remove what `makeStore` created (a file, a schema). */
  destroy?: (store: Store) => Awaitable<void>;
}

/**
 * The store contract: a vitest suite that checks a {@link Store} implementation against the
 * behaviour the queue and every other module relies on (idempotent enqueue, per-key order, fencing
 * tokens, holds, reclaim, dead letters, the inbox, cron firing, idempotency records, audit, kv, saga runs).
 * Each test gets a fresh store from `makeStore` and closes it afterwards. All times are explicit,
 * so no test sleeps. Import from `weir/testing`; run inside vitest, awaiting the call while the
 * test file is collected (vitest is loaded only then, so `weir/testing` works without it).
 *
 * @example
 * ```ts
 * import { storeContract } from 'weir/testing';
 * import { openSqliteStore } from 'weir/store/sqlite';
 * await storeContract('sqlite', () => openSqliteStore(join(tmpdir(), `${randomUUID()}.db`)));
 * ```
 */
export async function storeContract(name: string, makeStore: () => Promise<Store>, options: StoreContractOptions = {}): Promise<void> {
  const [{ afterEach, beforeEach, describe, expect, it }, { message, T0, andThen }, { queueContract }, { recordsContract }, { sagasContract }, { syncContract }] = await Promise.all([
    import('vitest'),
    import('./store-contract-helpers.js'),
    import('./store-contract-queue.js'),
    import('./store-contract-records.js'),
    import('./store-contract-sagas.js'),
    import('./store-contract-sync.js'),
  ]);
  describe(`store contract: ${name}`, () => {
    let store: Store | undefined;
    const ctx: ContractContext = {
      get store(): Store {
        if (store === undefined) throw new Error('store contract: no store (beforeEach failed)');
        return store;
      },
    };

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(async () => {
      const s = store;
      store = undefined;
      if (s === undefined) return;
      await s.close();
      await options.destroy?.(s);
    });

    it('declares its capabilities as data', () => {
      const c = ctx.store.capabilities;
      expect(['sqlite', 'postgres']).toContain(c.dialect);
      expect(typeof c.skipLocked).toBe('boolean');
      expect(typeof c.listenNotify).toBe('boolean');
      expect(typeof c.concurrentWriters).toBe('boolean');
      expect(['host', 'network']).toContain(c.sharing);
      expect(['sync', 'async']).toContain(c.transactions);
      expect(c.backstopPollMs).toBeGreaterThan(0);
    });

    it('is migrated at open, and migrating again applies nothing', async () => {
      const version = await ctx.store.version();
      expect(version).toBeGreaterThanOrEqual(1);
      const again = await ctx.store.migrate();
      expect(again).toEqual({ from: version, to: version, applied: [] });
    });

    it('rolls back a transaction whose function throws', async () => {
      const { store: s } = ctx;
      const boom = new Error('rollback');
      await expect(s.transaction((tx) => andThen(s.queue.enqueue(tx, [message('tx', 'm1')], T0), () => {
        throw boom;
      }))).rejects.toBe(boom);
      expect(await s.queue.get('m1')).toBeNull();
      await s.transaction((tx) => s.queue.enqueue(tx, [message('tx', 'm2')], T0));
      expect((await s.queue.get('m2'))?.state).toBe('ready');
    });

    queueContract(ctx);
    recordsContract(ctx);
    sagasContract(ctx);
    syncContract(ctx);
  });
}
