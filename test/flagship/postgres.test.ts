// The flagship on PostgreSQL (WEIR_STORE_URL + WEIR_STORE_SCHEMA instead of the SQLite file): the same
// app, restarted on the same database, with a create whose answers are lost.
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { dropSchemas, postgresUrl, service } from '../helpers/services.js';
import { flagship, until, type Flagship } from './harness.js';

const up = await service('postgres', 'the flagship on PostgreSQL');
const schema = `flagship_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let f: Flagship | undefined;
afterAll(async () => {
  await f?.close();
  if (up) await dropSchemas([schema]);
});

describe.skipIf(!up)('the flagship on PostgreSQL', () => {
  it('syncs, survives a restart and a lost create answer, with one contact per customer and nothing lost', { timeout: 60_000 }, async () => {
    f = await flagship({ postgres: { url: await postgresUrl(), schema } });
    const w = f;
    w.esp.faults.commitThenDrop(2, (method, path) => method === 'POST' && path.startsWith('/v3/contacts'));
    const customers = Array.from({ length: 6 }, (_, i) => w.crm.actions.create({ email: `pg${i}@x.io`, name: `PG ${i}` }));
    await until(() => customers.every((c) => w.esp.state.contacts.some((x) => x.external_id === c.id)), 30_000);
    await w.restart();
    w.crm.actions.edit(customers[0]!.id, { name: 'PG renamed' });
    w.crm.actions.edit(customers[1]!.id, { marketing_opt_in: false });
    await until(() => w.esp.state.contacts.some((x) => x.name === 'PG renamed') && w.esp.state.contacts.some((x) => x.external_id === customers[1]!.id && x.subscription === 'unsubscribed'), 30_000);
    await w.settle();
    for (const c of customers) expect(w.esp.state.contacts.filter((x) => x.external_id === c.id)).toHaveLength(1);
    expect(w.esp.state.contacts).toHaveLength(6);
    expect(w.esp.log.requests.filter((r) => r.method === 'POST' && r.status === 'dropped')).toHaveLength(2);
    const links = await w.app.store.sync.listLinks('contacts', { state: 'linked' });
    expect(links).toHaveLength(6);
    // The state is in PostgreSQL: the app's store is not the SQLite file.
    expect(w.app.store.capabilities).toMatchObject({ skipLocked: true });
  });
});
