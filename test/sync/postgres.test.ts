import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { reconcile } from '../../src/sync/index.js';
import { postgresUrl, service } from '../helpers/services.js';
import { world, type World } from './setup.js';

const up = await service('postgres', 'sync core cases on PostgreSQL');

describe.skipIf(!up)('sync on PostgreSQL', () => {
  let w: World;
  let schema = '';
  beforeEach(async () => {
    const url = await postgresUrl();
    schema = `sync_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    w = await world(() => openPostgresStore({ connectionString: url, schema, max: 4 }));
  });
  afterEach(async () => {
    await w.close();
    const client = new pg.Client({ connectionString: await postgresUrl() });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  });

  it('creates, suppresses the echo, resolves a conflict by policy, escalates and reconciles to zero', async () => {
    const c = w.crm.put({ email: 'P@x.io', name: 'Ada' });
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('created');
    const link = await w.store.sync.getLink('contacts', 'left', c.id);
    const r = link!.rightId!;
    expect(await w.sync.process({ side: 'right', id: r, record: w.esp.records.get(r) })).toBe('stale');
    w.esp.edit(r, { email: 'other@x.io' });
    expect(await w.sync.process({ side: 'right', id: r })).toBe('synced');
    expect(w.esp.records.get(r)?.email).toBe('p@x.io');
    expect((await w.sync.conflicts())[0]).toMatchObject({ field: 'email', policy: 'crm_authoritative' });
    w.esp.unsubscribe(r, 'user');
    await w.sync.process({ side: 'right', id: r });
    w.crm.edit(c.id, { marketing_opt_in: true });
    expect(await w.sync.process({ side: 'left', id: c.id })).toBe('escalated');
    expect((await w.sync.metrics()).escalationsOpen).toBe(1);
    w.crm.put({ email: 'new@x.io' });
    const first = await reconcile(w.sync, { mode: 'apply' });
    expect(first.repairs).toMatchObject({ attempted: 1, succeeded: 1 });
    const second = await reconcile(w.sync, { mode: 'apply' });
    expect(second.repairs.attempted).toBe(0);
  });
});
