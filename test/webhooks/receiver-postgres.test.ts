import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createQueue } from '../../src/queue/index.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { receiver } from '../../src/webhooks/index.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';
import { crmDelivery, crmScheme, CRM_SECRET, post, serveHono } from './receiver-helpers.js';

const up = await service('postgres', 'the webhook receiver on PostgreSQL (test/webhooks/receiver-postgres.test.ts)');
const schema = testSchema(import.meta.url);
let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.toReversed()) await c();
  cleanups = [];
});
afterAll(async () => {
  if (up) await dropSchemas([schema]);
});

describe.skipIf(!up)('webhook receiver on PostgreSQL (concurrent writers)', () => {
  it('duplicate burst: the same delivery 20 times concurrently, on a pool of 8 connections, gives exactly one message', async () => {
    const store: PostgresStore = await openPostgresStore({ connectionString: await postgresUrl(), schema, max: 8 });
    const queue = createQueue(store);
    cleanups.push(() => store.close());
    const crm = receiver({ scheme: crmScheme, secret: CRM_SECRET, queue, topic: 'crm-events', dedupBy: (w) => w.json<{ event_id: string }>().event_id });
    const served = await serveHono({ '/webhooks/crm': crm });
    cleanups.push(() => served.close());
    for (let round = 0; round < 3; round++) {
      const d = crmDelivery({ eventId: `evt_pg_${round}` });
      const answers = await Promise.all(Array.from({ length: 20 }, () => post(`${served.url}/webhooks/crm`, d.body, d.headers)));
      expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    }
    const stats = (await queue.stats()).find((s) => s.topic === 'crm-events');
    expect(stats?.ready).toBe(3);
    const audit = await store.audit.list({ direction: 'inbound', limit: 1000 });
    expect(audit.filter((e) => e.outcome === 'ok')).toHaveLength(3);
    expect(audit.filter((e) => e.outcome === 'duplicate_ignored')).toHaveLength(57);
  });
});
