import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_JS } from '../../src/dashboard/assets.js';
import { until } from '../sync/setup.js';
import { adminWorld, DLQ_TOPIC, seed, TOKEN, type AdminWorld } from './admin-fixture.js';

let w: AdminWorld;
let s: Awaited<ReturnType<typeof seed>>;
beforeAll(async () => {
  w = await adminWorld();
  s = await seed(w);
}, 60_000);
afterAll(async () => {
  await w?.close();
});

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** A report once it is no longer running. */
async function finished(id: string): Promise<any> {
  let report: any;
  await until(async () => {
    report = (await w.call('GET', `/reconciliations/${id}`)).body;
    return report.state !== 'running';
  }, 20_000);
  return report;
}

describe('admin API: auth', () => {
  const routes: [string, string][] = [
    ['GET', '/metrics'], ['GET', '/overview'], ['GET', '/audit'], ['GET', '/conflicts'], ['GET', '/escalations'], ['GET', '/escalations/x'],
    ['POST', '/escalations/x/resolve'], ['POST', '/reconciliations'], ['GET', '/reconciliations'], ['GET', '/reconciliations/x'],
    ['GET', '/dlq'], ['GET', '/dlq/x'], ['POST', '/dlq/x/replay'], ['POST', '/dlq/x/discard'], ['GET', '/queues'], ['GET', '/sagas'],
    ['GET', '/sagas/x'], ['GET', '/connections'], ['GET', '/series'], ['GET', '/alerts'], ['GET', '/syncs'], ['GET', '/tasks'], ['GET', '/nope'],
  ];

  it('serves /healthz and the dashboard files openly, and answers 401 on every other route without or with a wrong token', async () => {
    expect(await w.call('GET', '/healthz', { token: null })).toMatchObject({ status: 200, body: { ok: true } });
    const page = await w.call('GET', '/', { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.body).toContain('id="login-form"');
    expect(page.body).not.toContain(TOKEN);
    expect((await w.call('GET', '/dashboard.js', { token: null })).status).toBe(200);
    expect((await w.call('GET', '/dashboard.css', { token: null })).status).toBe(200);
    for (const [method, path] of routes) {
      for (const token of [null, 'wrong-token-for-tests-123', '']) {
        const res = await w.call(method, path, { token, ...(method === 'POST' ? { body: { mode: 'apply', choose: 'crm' } } : {}) });
        expect(res.status, `${method} ${path} with ${String(token)}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
      }
    }
    expect(s.deadId).toBeTruthy(); // nothing above replayed or resolved anything
    expect((await w.call('GET', '/dlq')).body.count).toBe(1);
  });

  it('answers 404 for an unknown route and 405 (with Allow) for a wrong method', async () => {
    expect(await w.call('GET', '/nope')).toMatchObject({ status: 404, body: { error: 'not_found' } });
    const res = await w.call('DELETE', '/conflicts');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect((await w.call('GET', '/dlq/x/replay')).status).toBe(405);
  });

  it('serves a dashboard script that parses', () => {
    expect(() => new vm.Script(DASHBOARD_JS)).not.toThrow();
    expect(DASHBOARD_JS).not.toMatch(/innerHTML|eval\(/);
    expect(DASHBOARD_JS.replaceAll("'http://www.w3.org/2000/svg'", '')).not.toMatch(/https?:\/\//); // no external request
  });
});

describe('admin API: audit, metrics, status', () => {
  it('GET /audit pages oldest first with after/limit/next and filters by system, outcome, correlation and request id', async () => {
    const first = await w.call('GET', '/audit?limit=3');
    expect(first.status).toBe(200);
    expect(first.body.entries).toHaveLength(3);
    const e = first.body.entries[0];
    expect(Object.keys(e).toSorted()).toEqual(expect.arrayContaining(['attempt', 'correlation_id', 'direction', 'duration_ms', 'method', 'outcome', 'path', 'request_id', 'seq', 'status', 'system', 'ts']));
    expect(e).toMatchObject({ direction: 'outbound', system: expect.stringMatching(/^(crm|esp)$/), outcome: 'ok', attempt: 1 });
    expect(first.body.next).toBe(first.body.entries[2].seq);
    const seqs = first.body.entries.map((x: { seq: number }) => x.seq);
    expect(seqs).toEqual(seqs.toSorted((a: number, b: number) => a - b));
    const second = await w.call('GET', `/audit?after=${first.body.next}&limit=3`);
    expect(second.body.entries[0].seq).toBeGreaterThan(first.body.next);
    const end = await w.call('GET', '/audit?after=999999999');
    expect(end.body).toEqual({ entries: [], next: null });
    const esp = await w.call('GET', '/audit?system=esp&limit=1000');
    expect(esp.body.entries.length).toBeGreaterThan(0);
    expect(esp.body.entries.every((x: { system: string }) => x.system === 'esp')).toBe(true);
    const one = await w.call('GET', `/audit?request_id=${encodeURIComponent(e.request_id)}`);
    expect(one.body.entries.map((x: { seq: number }) => x.seq)).toEqual([e.seq]);
    const ok = await w.call('GET', '/audit?outcome=ok&limit=1000');
    expect(ok.body.entries.every((x: { outcome: string }) => x.outcome === 'ok')).toBe(true);
    await (await w.app.connections.get('crm')?.get('/records', { correlationId: 'job-42' }))?.body.dump();
    const byCorrelation = await w.call('GET', '/audit?correlation_id=job-42');
    expect(byCorrelation.body.entries).toMatchObject([{ correlation_id: 'job-42', system: 'crm', method: 'GET', path: '/records', status: 200, outcome: 'ok' }]);
    const back = await w.call('GET', `/audit?before=${second.body.next}&limit=2`);
    expect(back.body.entries.map((x: { seq: number }) => x.seq)).toEqual([second.body.next - 1, second.body.next - 2]);
    expect(JSON.stringify(esp.body)).not.toMatch(/authorization|bearer/i);
    for (const bad of ['after=-1', 'after=x', 'limit=0', 'limit=5000', 'order=up']) expect((await w.call('GET', `/audit?${bad}`)).status, bad).toBe(400);
  });

  it('GET /metrics is Prometheus text with the contract metrics', async () => {
    const res = await w.call('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const name of ['weir_queue_depth', 'weir_api_requests_total', 'weir_dead_letters']) expect(res.body).toContain(name);
  });

  it('GET /connections, /queues, /series, /alerts, /syncs, /tasks, /overview in their shapes', async () => {
    const conns = (await w.call('GET', '/connections')).body;
    expect(conns.map((c: { name: string }) => c.name)).toEqual(['crm', 'esp', 'billing']);
    expect(conns[0]).toMatchObject({
      name: 'crm', base_url: w.crm.url, breaker: 'closed', held_until: null,
      rate_limit: { limit: null, remaining: null, waiting: 0 }, bulkhead: { running: 0, queued: 0 }, retry_budget: { calls: expect.any(Number), retries: expect.any(Number), allowed: expect.any(Number) },
    });
    expect(conns[2].retry_budget).toBeNull();
    const queues = (await w.call('GET', '/queues')).body;
    expect(queues.topics.find((t: { topic: string }) => t.topic === DLQ_TOPIC)).toMatchObject({ dead: 1, ready: 0, depth: 0 });
    expect(queues.holds).toEqual([]);
    const series = (await w.call('GET', '/series?since=0')).body;
    expect(series.bucket_ms).toBe(5000);
    expect(series.points.some((p: { system: string; requests: number }) => p.system === 'esp' && p.requests > 0)).toBe(true);
    expect(Object.keys(series.points[0])).toEqual(['t', 'system', 'requests', 'errors', 'p50_ms', 'p95_ms']);
    expect(series.points.some((p: { p50_ms: number | null; p95_ms: number | null }) => typeof p.p50_ms === 'number' && typeof p.p95_ms === 'number')).toBe(true);
    expect((await w.call('GET', `/series?since=${Date.now() + 60_000}`)).body.points).toEqual([]);
    await until(async () => (await w.call('GET', '/alerts')).body.active.some((a: { name: string }) => a.name === 'dead_letters_rising'));
    const alerts = (await w.call('GET', '/alerts')).body;
    expect(alerts.recent[0]).toMatchObject({ name: expect.any(String), state: expect.stringMatching(/firing|resolved/), at: expect.stringMatching(ISO) });
    const [sync] = (await w.call('GET', '/syncs')).body;
    expect(sync).toMatchObject({ name: 'contacts', topic: 'weir.sync.contacts', sides: { left: 'crm', right: 'esp' }, escalations_open: 2, lag_ms: expect.any(Number), pending: expect.any(Number) });
    expect(sync.skew.esp).toEqual({ offset_ms: expect.any(Number), uncertainty_ms: expect.any(Number), samples: expect.any(Number) });
    expect(sync.skew.esp.samples).toBeGreaterThan(0);
    expect((await w.call('GET', '/tasks')).body).toEqual([{ name: 'poll', every_ms: 60_000, last_run_at: null, last_error: null, runs: 0 }]);
    expect((await w.call('GET', '/overview')).body).toMatchObject({ name: 'crm-esp-test', dead_letters: 1, escalations_open: 2, connections: 3, breakers_open: 0, syncs: ['contacts'], started_at: expect.stringMatching(ISO) });
  });

  it('GET /sagas lists runs newest first with their state; GET /sagas/:id has the steps; 404 for an unknown run', async () => {
    const runs = (await w.call('GET', '/sagas')).body;
    expect(runs.map((r: { id: string; state: string }) => [r.id, r.state])).toEqual([['order-1002', 'compensated'], ['order-1001', 'completed']]);
    expect(runs[0]).toMatchObject({ name: 'signup', error: { code: 'WEIR_PERMANENT', message: 'card declined' }, finished_at: expect.stringMatching(ISO) });
    expect((await w.call('GET', '/sagas?state=completed')).body.map((r: { id: string }) => r.id)).toEqual(['order-1001']);
    const one = (await w.call('GET', '/sagas/order-1002')).body;
    expect(one.steps.map((x: { phase: string; name: string; status: string }) => [x.phase, x.name, x.status])).toEqual([
      ['action', 'reserve_seat', 'completed'], ['action', 'charge_card', 'failed'], ['compensation', 'reserve_seat', 'completed'],
    ]);
    expect((await w.call('GET', '/sagas/nope')).status).toBe(404);
    expect((await w.call('GET', '/sagas?state=bogus')).status).toBe(400);
  });
});

describe('admin API: conflicts and escalations', () => {
  it('GET /conflicts: the R6 email revert, sides named by the adapters (crm_*, esp_*)', async () => {
    const list = (await w.call('GET', '/conflicts')).body;
    const c = list.find((x: { field: string }) => x.field === 'email');
    expect(c).toEqual({
      id: expect.any(String), sync: 'contacts', crm_id: s.r6.l, esp_id: s.r6.r, field: 'email', baseline: 'ada@x.io', crm_value: 'ada@x.io', esp_value: 'hijack@x.io',
      detected_at: expect.stringMatching(ISO), resolution: 'resolved_by_policy', policy: 'crm_authoritative', final_value: 'ada@x.io',
    });
    expect(list.find((x: { field: string; resolution: string }) => x.field === 'name')).toMatchObject({ resolution: 'escalated', crm_value: 'Bo from CRM', esp_value: 'Bo from ESP' });
    expect(list.find((x: { field: string; resolution: string }) => x.field === 'name')).not.toHaveProperty('final_value');
    expect((await w.call('GET', '/conflicts?sync=nope')).status).toBe(404);
    expect((await w.call('GET', '/conflicts?limit=1')).body).toHaveLength(1);
  });

  it('GET /escalations?state=open lists R7 reconsent_required and the name escalation in the contract shape', async () => {
    const open = (await w.call('GET', '/escalations?state=open')).body;
    expect(open).toHaveLength(2);
    expect(open[0]).toMatchObject({
      id: expect.any(String), kind: 'reconsent_required', crm_id: s.r7.l, esp_id: s.r7.r, field: 'consent', crm_value: 'subscribed', esp_value: 'unsubscribed:user',
      created_at: expect.stringMatching(ISO), state: 'open', policy: 'unsubscribe_wins', resolved_at: null, resolution: null,
    });
    expect(open[1]).toMatchObject({ kind: 'other', crm_id: s.r5.l, esp_id: s.r5.r, field: 'name', crm_value: 'Bo from CRM', esp_value: 'Bo from ESP', state: 'open' });
    expect((await w.call('GET', '/escalations?state=resolved')).body).toEqual([]);
    expect((await w.call('GET', '/escalations')).body).toHaveLength(2);
    expect((await w.call('GET', `/escalations/${open[0].id}`)).body).toEqual(open[0]);
    expect((await w.call('GET', '/escalations?state=closed')).status).toBe(400);
  });

  it('POST /escalations/:id/resolve: 400 on a bad body, 404 on an unknown id; choose "crm" closes R7 without resubscribing; 409 when resolved again', async () => {
    const [esc] = (await w.call('GET', '/escalations?state=open')).body;
    const path = `/escalations/${esc.id}/resolve`;
    for (const body of ['{not json', '[]', { choose: 'left' }, {}, { choose: 'value' }]) {
      const res = await w.call('POST', path, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ error: 'bad_request', detail: expect.any(String) });
    }
    expect((await w.call('POST', path, { body: { choose: 'left' } })).body.detail).toContain('"crm", "esp", "value"');
    expect((await w.call('POST', '/escalations/no-such-id/resolve', { body: { choose: 'crm' } })).status).toBe(404);
    expect((await w.call('GET', '/escalations/no-such-id')).status).toBe(404);
    const res = await w.call('POST', path, { body: { choose: 'crm' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: esc.id, kind: 'reconsent_required', state: 'resolved', resolved_at: expect.stringMatching(ISO), resolution: { choose: 'crm' } });
    expect(w.esp.records.get(s.r7.r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' }); // R7: never resubscribed
    expect(await w.sync.escalations.get(esc.id)).toMatchObject({ state: 'resolved' });
    expect((await w.call('POST', path, { body: { choose: 'crm' } })).status).toBe(409);
    expect((await w.call('GET', '/escalations?state=resolved')).body.map((e: { id: string }) => e.id)).toEqual([esc.id]);
  });

  it('POST /escalations/:id/resolve {choose:"value"} writes the value to both sides', async () => {
    const [esc] = (await w.call('GET', '/escalations?state=open')).body;
    expect(esc.field).toBe('name');
    const res = await w.call('POST', `/escalations/${esc.id}/resolve`, { body: { choose: 'value', value: 'Bo Decided' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ state: 'resolved', resolution: { choose: 'value', value: 'Bo Decided' } });
    expect(res.body.resolution.written.toSorted()).toEqual(['crm', 'esp']);
    expect(w.crm.records.get(s.r5.l)?.name).toBe('Bo Decided');
    expect(w.esp.records.get(s.r5.r)?.name).toBe('Bo Decided');
    expect((await w.call('GET', '/escalations?state=open')).body).toEqual([]);
  });
});

describe('admin API: reconciliations', () => {
  it('400 on a bad body, 404 on an unknown report', async () => {
    for (const body of [{}, { mode: 'fix' }, { mode: 'apply', sync: 'nope' }, 'x']) expect((await w.call('POST', '/reconciliations', { body })).status, JSON.stringify(body)).toBe(400);
    expect((await w.call('GET', '/reconciliations/no-such-run')).status).toBe(404);
  });

  it('a dry run writes nothing and reports the unsynced customer; apply creates it; a second apply finds nothing to repair', async () => {
    await w.drained();
    const writes = w.esp.writes.length;
    const started = await w.call('POST', '/reconciliations', { body: { mode: 'dry_run' } });
    expect(started.status).toBe(202);
    expect(started.body).toEqual({ id: expect.any(String), sync: 'contacts', mode: 'dry_run', state: 'running' });
    expect(started.headers.get('location')).toBe(`/reconciliations/${started.body.id}`);
    const dry = await finished(started.body.id);
    expect(dry).toMatchObject({
      id: started.body.id, mode: 'dry_run', state: 'done', started_at: expect.stringMatching(ISO), finished_at: expect.stringMatching(ISO), compared: expect.any(Number),
      diffs_by_class: { missing_remote: 1, unlinked_remote: 0, missing_link: 0, field_drift: 0, duplicate: 0 },
      repairs: { attempted: 0, succeeded: 0, failed: 0 }, escalations_raised: 0, api_calls: { crm: expect.any(Number), esp: expect.any(Number) },
    });
    expect(dry.items).toEqual([{ class: 'missing_remote', crm_id: s.unsynced, action: 'create' }]);
    expect(dry.api_calls.crm).toBeGreaterThan(0);
    expect(w.esp.writes.length).toBe(writes);

    const apply = await w.call('POST', '/reconciliations', { body: { mode: 'apply', sync: 'contacts' } });
    expect(apply.status).toBe(202);
    const applied = await finished(apply.body.id);
    expect(applied).toMatchObject({ mode: 'apply', state: 'done', diffs_by_class: { missing_remote: 1 }, repairs: { attempted: 1, succeeded: 1, failed: 0 } });
    expect([...w.esp.records.values()].filter((r) => r.email === 'new@x.io')).toHaveLength(1);

    await w.drained();
    const again = await finished((await w.call('POST', '/reconciliations', { body: { mode: 'apply' } })).body.id);
    expect(again).toMatchObject({ state: 'done', repairs: { attempted: 0, succeeded: 0, failed: 0 }, escalations_raised: 0 });
    expect(Object.values(again.diffs_by_class)).toEqual([0, 0, 0, 0, 0]);
    expect(again.items).toEqual([]);

    const list = (await w.call('GET', '/reconciliations')).body;
    expect(list.map((r: { id: string }) => r.id)).toEqual([again.id, applied.id, dry.id]);
    expect(list[2]).toMatchObject({ mode: 'dry_run', state: 'done', trigger: 'api', findings: 1 });
    expect(list[0]).not.toHaveProperty('items');
  });
});

describe('admin API: dead letters', () => {
  it('GET /dlq lists the dead letter with its error; GET /dlq/:id has payload and history', async () => {
    const dlq = (await w.call('GET', '/dlq')).body;
    expect(dlq.count).toBe(1);
    expect(dlq.groups).toMatchObject([{ topic: DLQ_TOPIC, count: 1, code: 'WEIR_PERMANENT' }]);
    expect(dlq.items).toEqual([expect.objectContaining({
      id: s.deadId, topic: DLQ_TOPIC, state: 'dead', attempts: 1, replays: 0, dead_at: expect.stringMatching(ISO),
      error: expect.objectContaining({ code: 'WEIR_PERMANENT', message: 'mailbox rejected the welcome email', classification: 'permanent' }),
      payload_preview: '{"to":"zoe@x.io","template":"welcome"}',
    })]);
    expect(dlq.items[0].error).not.toHaveProperty('stack');
    const one = (await w.call('GET', `/dlq/${s.deadId}`)).body;
    expect(one).toMatchObject({ payload: { to: 'zoe@x.io', template: 'welcome' }, history: [{ delivery: 1, outcome: 'dead' }] });
    expect(one.error.stack).toContain('mailbox rejected');
    expect((await w.call('GET', '/dlq/nope')).status).toBe(404);
    expect((await w.call('GET', `/dlq?topic=${DLQ_TOPIC}&limit=1`)).body.items).toHaveLength(1);
    expect((await w.call('GET', '/dlq?topic=other')).body).toMatchObject({ count: 0, items: [] });
  });

  it('POST /dlq/:id/replay runs it again (gone from the DLQ, handled); discard removes another; 404 for unknown ids', async () => {
    w.failing = false;
    const res = await w.call('POST', `/dlq/${s.deadId}/replay`);
    expect(res).toMatchObject({ status: 200, body: { replayed: [s.deadId] } });
    await until(() => w.delivered.length === 1);
    expect(w.delivered).toEqual([{ to: 'zoe@x.io', template: 'welcome' }]);
    expect((await w.call('GET', '/dlq')).body.count).toBe(0);
    expect((await w.app.store.queue.get(s.deadId))?.state).toBe('done');
    expect((await w.call('POST', `/dlq/${s.deadId}/replay`)).status).toBe(404);

    w.failing = true;
    const other = await w.app.queue.enqueue(DLQ_TOPIC, { to: 'yan@x.io' });
    await until(async () => (await w.call('GET', '/dlq')).body.count === 1);
    expect((await w.call('POST', `/dlq/${other}/discard`)).body).toEqual({ discarded: [other] });
    expect((await w.call('GET', '/dlq')).body.count).toBe(0);
    expect(await w.app.store.queue.get(other)).toBeNull();
    expect((await w.call('POST', '/dlq/nope/discard')).status).toBe(404);
  });
});
