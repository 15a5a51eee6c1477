import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { migrations } from '../../src/store/postgres/migrations.js';
import { storeContract } from '../../src/testing/index.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';

const up = await service('postgres', 'the store contract and store tests on PostgreSQL (test/store/postgres.test.ts)');
const base = testSchema(import.meta.url);
const created: string[] = [];
let n = 0;

async function make(): Promise<PostgresStore> {
  const schema = `${base}_${n++}`;
  created.push(schema);
  return openPostgresStore({ connectionString: await postgresUrl(), schema, max: 4 });
}

afterAll(async () => {
  if (up) await dropSchemas(created);
});

describe.skipIf(!up)('postgres', async () => {
  await storeContract('postgres', make, { destroy: (s) => dropSchemas([(s as PostgresStore).schema]) });

  describe('postgres store', () => {
    it('opens from a postgres:// URL with a schema of its own', async () => {
      const schema = `${base}_url`;
      created.push(schema);
      const store = (await openStore(await postgresUrl(), { schema })) as PostgresStore;
      try {
        expect(store.capabilities).toMatchObject({ dialect: 'postgres', skipLocked: true, listenNotify: true, transactions: 'async' });
        expect(store.schema).toBe(schema);
        expect(await store.version()).toBe(migrations('x').length);
      } finally {
        await store.close();
      }
    });

    it('lets several processes migrate one schema at once', async () => {
      const schema = `${base}_race`;
      created.push(schema);
      const url = await postgresUrl();
      const stores = await Promise.all([1, 2, 3].map(() => openPostgresStore({ connectionString: url, schema, max: 2 })));
      for (const s of stores) expect(await s.version()).toBe(migrations('x').length);
      await Promise.all(stores.map((s) => s.close()));
    });

    it('rejects a bad schema name and a non-pg transaction', async () => {
      await expect(openPostgresStore({ connectionString: 'postgres://x', schema: 'Bad-Name' })).rejects.toMatchObject({ option: 'schema' });
      const store = await make();
      try {
        await expect(store.queue.enqueue({ prepare: () => null } as never, [], 0)).resolves.toEqual([]);
        await expect(
          store.queue.enqueue({ prepare: () => null, name: 'x' } as never, [{ id: 'a', topic: 't', key: null, payload: 1, headers: {}, runAt: 0 }], 0),
        ).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'tx' });
      } finally {
        await store.close();
      }
    });
  });
});
