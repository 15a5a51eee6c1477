import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { permanent } from '../../src/errors.js';
import { createQueue, type Queue } from '../../src/queue/index.js';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres/index.js';
import { sql } from '../../src/store/postgres/queue.sql.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';
import { waitFor } from './harness.js';

const up = await service('postgres', 'the queue tests on PostgreSQL (test/queue/postgres.test.ts)');
const base = testSchema(import.meta.url);
const schemas: string[] = [];
let n = 0;
let open: Array<{ stop(): Promise<void> } | PostgresStore> = [];

async function store(schema: string): Promise<PostgresStore> {
  const s = await openPostgresStore({ connectionString: await postgresUrl(), schema, max: 4 });
  open.push(s);
  return s;
}

function queue(s: PostgresStore, options: Parameters<typeof createQueue>[1] = {}): Queue {
  const q = createQueue(s, options);
  open.unshift({ stop: () => q.stop({ graceMs: 1000 }) });
  return q;
}

function freshSchema(): string {
  const schema = `${base}_${n++}`;
  schemas.push(schema);
  return schema;
}

afterEach(async () => {
  for (const o of open) await ('close' in o ? o.close() : o.stop());
  open = [];
});
afterAll(async () => {
  if (up) await dropSchemas(schemas);
});

describe.skipIf(!up)('queue on PostgreSQL', () => {
  it("is a transactional outbox: the message commits or rolls back with the caller's BEGIN … COMMIT", async () => {
    const s = await store(freshSchema());
    const q = queue(s);
    const handled: unknown[] = [];
    await q.handle('orders', (m) => {
      handled.push(m.payload);
    });
    const client = await s.pool.connect();
    try {
      await client.query('CREATE TABLE IF NOT EXISTS "' + s.schema + '".orders (id text PRIMARY KEY)');
      await client.query('BEGIN');
      await client.query(`INSERT INTO "${s.schema}".orders VALUES ('o1')`);
      await q.enqueue(client, 'orders', { id: 'o1' });
      await client.query('ROLLBACK');
      await client.query('BEGIN');
      await client.query(`INSERT INTO "${s.schema}".orders VALUES ('o2')`);
      await q.enqueue(client, 'orders', { id: 'o2' }, { key: 'c1' });
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await waitFor(() => handled.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(handled).toEqual([{ id: 'o2' }]);
  });

  it("records effects exactly once with once() in the handler's own transaction", async () => {
    const s = await store(freshSchema());
    const q = queue(s);
    await s.pool.query(`CREATE TABLE "${s.schema}".effects (message_id text PRIMARY KEY)`);
    let calls = 0;
    await q.handle('pay', async (m) => {
      calls++;
      await s.transaction(async (client) => {
        if (await q.once(client, 'payments', m.id)) await client.query(`INSERT INTO "${s.schema}".effects VALUES ($1)`, [m.id]);
      });
      if (calls === 1) throw new Error('crash after the effect committed');
    }, { retry: { immediate: 1 } });
    await q.enqueue('pay', null, { id: 'p1' });
    await waitFor(async () => (await s.queue.get('p1'))?.state === 'done');
    expect(calls).toBe(2);
    expect((await s.pool.query(`SELECT count(*)::int AS n FROM "${s.schema}".effects`)).rows).toEqual([{ n: 1 }]);
  });

  it('wakes on LISTEN/NOTIFY: a message enqueued by another process is handled without waiting for the poll', async () => {
    const schema = freshSchema();
    const worker = queue(await store(schema), { pollMs: 60_000 });
    const producer = createQueue(await store(schema));
    const handled: number[] = [];
    await worker.handle('fast', () => {
      handled.push(Date.now());
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const sent = Date.now();
    await producer.enqueue('fast', null);
    await waitFor(() => handled.length === 1, undefined, 5000);
    expect(handled[0]! - sent).toBeLessThan(5000);
  });

  it('keeps per-key order with three workers sharing the schema, each message handled once', async () => {
    const schema = freshSchema();
    const seen = new Map<string, number[]>();
    const counts = new Map<string, number>();
    let violations = 0;
    const workers = await Promise.all([1, 2, 3].map(async (i) => queue(await store(schema), { workerId: `w${i}` })));
    for (const w of workers) {
      await w.handle(
        'keyed',
        async (m) => {
          const { key, n: k } = m.payload as { key: string; n: number };
          const list = seen.get(key) ?? [];
          if (list.length > 0 && list[list.length - 1]! >= k) violations++;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 2));
          list.push(k);
          seen.set(key, list);
          counts.set(m.id, (counts.get(m.id) ?? 0) + 1);
        },
        { concurrency: 4 },
      );
    }
    const items = [];
    for (let k = 0; k < 30; k++) for (let key = 0; key < 10; key++) items.push({ topic: 'keyed', payload: { key: `k${key}`, n: k }, key: `k${key}` });
    await workers[0]!.enqueueMany(items);
    await waitFor(() => [...counts.values()].length === 300, undefined, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(violations).toBe(0);
    expect([...counts.values()].every((c) => c === 1)).toBe(true);
    for (const list of seen.values()) expect(list).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('dead-letters a permanent failure and replays it', async () => {
    const s = await store(freshSchema());
    const q = queue(s);
    let ok = false;
    await q.handle('dl', () => {
      if (!ok) throw permanent(new Error('rejected by CRM'));
    });
    const id = await q.enqueue('dl', { x: 1 }, { key: 'k' });
    await waitFor(async () => (await q.deadLetters.count()) === 1);
    expect((await q.deadLetters.groups())[0]).toMatchObject({ count: 1, code: 'WEIR_PERMANENT', message: 'rejected by CRM' });
    ok = true;
    await q.deadLetters.replay({ ids: [id] });
    await waitFor(async () => (await s.queue.get(id))?.state === 'done');
  });

  it('commits a claim without waiting for its WAL flush, and only the claim', async () => {
    const schema = freshSchema();
    const s = await store(schema);
    await s.queue.enqueue(undefined, [{ id: 'm1', topic: 't', key: null, payload: {}, headers: {}, runAt: 0 }], 0);
    const client = new pg.Client({ connectionString: await postgresUrl() });
    await client.connect();
    const q = sql(`"${schema}"`, `weir_${schema}`);
    const setting = async () => (await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]?.synchronous_commit;
    try {
      const configured = await setting();
      await client.query('BEGIN');
      const rows = (await client.query(q.claim, ['t', 1, 10, 'w', 1e12])).rows;
      expect(rows).toHaveLength(1);
      // In force for the claim's own transaction (read here before its commit)…
      expect(await setting()).toBe('off');
      await client.query('COMMIT');
      // …and not after it: the connection's next transactions (enqueue, settle) commit as configured.
      expect(await setting()).toBe(configured);
      expect(configured).not.toBe('off');
      expect((await s.queue.get('m1'))?.state).toBe('active');
    } finally {
      await client.end();
    }
  });

  it("hands a freed key's next message over as columns (version 7), as version 5's function still does in jsonb", async () => {
    const schema = freshSchema();
    const s = await store(schema);
    const client = new pg.Client({ connectionString: await postgresUrl() });
    await client.connect();
    const q = sql(`"${schema}"`, `weir_${schema}`);
    try {
      const handOff = async (settleSql: string, key: string) => {
        const ids = [`${key}-1`, `${key}-2`];
        await s.queue.enqueue(undefined, ids.map((id) => ({ id, topic: 't', key, payload: { id }, headers: { h: id }, runAt: 0 })), 0);
        const [head] = (await client.query(q.claim, ['t', 1, 10, 'w', 1e12])).rows as Array<{ id: string; lease_token: string }>;
        expect(head?.id).toBe(ids[0]);
        const batch = JSON.stringify([{ kind: 'done', id: head!.id, token: Number(head!.lease_token), next: true }]);
        return (await client.query(settleSql, [batch, 2, 'w', 5000])).rows as Array<Record<string, unknown>>;
      };
      const current = await handOff(q.settle, 'a');
      expect(current[0]).toMatchObject({ ord: '1', promoted: null, id: null });
      expect(current[1]).toMatchObject({ ord: null, promoted: null, id: 'a-2', topic: 't', key: 'a', state: 'active', payload: { id: 'a-2' }, headers: { h: 'a-2' } });
      expect(current[1]).toMatchObject({ attempts: 1, lease_token: '1', lease_until: '5000' });

      const previous = await handOff(`SELECT ord, promoted, claimed FROM "${schema}".settle($1::jsonb, $2, $3, $4)`, 'b');
      expect(previous[1]?.claimed).toMatchObject({ id: 'b-2', key: 'b', state: 'active', attempts: 1, lease_token: 1, lease_until: 5000 });
      expect(Object.keys(current[1]!).filter((k) => k !== 'ord' && k !== 'promoted').toSorted()).toEqual(
        Object.keys(previous[1]!.claimed as object).filter((k) => k in current[1]!).toSorted(),
      );
    } finally {
      await client.end();
    }
  });

  it('enqueues and settles through plans that probe by key even when they were cached while the table was small', async () => {
    const schema = freshSchema();
    await (await store(schema)).close();
    open.pop();
    // One connection, as a pool's: PL/pgSQL caches the functions' plans on it.
    const client = new pg.Client({ connectionString: await postgresUrl() });
    await client.connect();
    const q = sql(`"${schema}"`, `weir_${schema}`);
    try {
      const enqueue = (ids: readonly string[]) =>
        client.query({
          name: 'enqueue',
          text: q.enqueue,
          values: [JSON.stringify(ids.map((id, i) => ({ id, topic: 't', key: `k${i % 50}`, payload: {}, headers: {}, run_at: 0 }))), 0],
        });
      const claim = async (limit: number) =>
        (await client.query<{ id: string; lease_token: string }>({ name: 'claim', text: q.claim, values: ['t', 1, limit, 'w', 1e12] })).rows;
      const settle = (rows: ReadonlyArray<{ id: string; lease_token: string }>) =>
        client.query({
          name: 'settle',
          text: q.settle,
          values: [JSON.stringify(rows.map((r) => ({ kind: 'done', id: r.id, token: Number(r.lease_token), next: true }))), 1, 'w', 1e12],
        });
      for (let i = 0; i < 8; i++) {
        await enqueue([`small-${i}`]);
        await settle(await claim(1));
      }
      for (let i = 0; i < 30; i++) await enqueue(Array.from({ length: 100 }, (_, j) => `big-${i}-${j}`));
      // auto_explain reports the plans of the functions' statements to this client as notices.
      const plans: string[] = [];
      client.on('notice', (notice) => plans.push(notice.message ?? ''));
      await client.query("LOAD 'auto_explain'");
      await client.query('SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice; SET client_min_messages = notice');
      expect((await enqueue(['after-growth', 'small-3'])).rows).toEqual([{ id: 'after-growth' }]);
      const insert = plans.find((p) => p.includes('INSERT INTO'));
      expect(insert).toMatch(/Index (Only )?Scan using messages_pkey on messages x/);
      const rows = await claim(40);
      expect(rows).toHaveLength(40);
      plans.length = 0;
      const settled = await settle(rows);
      expect(settled.rows.filter((r: { ord: unknown }) => r.ord !== null)).toHaveLength(40);
      expect(plans.some((p) => p.includes('UPDATE'))).toBe(true);
      expect(plans.join('\n')).not.toMatch(/Seq Scan on messages/);
      // The freed keys' heads are sought by a statement that writes nothing, and the promotion's
      // UPDATE reaches them by primary key: a seek inside the UPDATE would leave the dead index
      // entries it passes unmarked (the UPDATE changes their page), and later seeks would read them again.
      const seek = plans.find((p) => p.includes('array_agg(h.id)'));
      const promote = plans.find((p) => /Update on messages m\b/.test(p));
      expect(seek).toMatch(/Index Scan using messages_key/);
      expect(promote).toMatch(/Index Scan using messages_pkey/);
      expect(promote).not.toMatch(/messages_key/);
    } finally {
      await client.end();
    }
  });
});
