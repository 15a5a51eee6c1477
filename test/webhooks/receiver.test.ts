import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createQueue, type Queue } from '../../src/queue/index.js';
import type { AuditRecord } from '../../src/store/audit.js';
import type { SqliteStore } from '../../src/store/sqlite/index.js';
import { eventVersion, receiver, WEBHOOK_ID_HEADER, type WebhookReceiver } from '../../src/webhooks/index.js';
import { tempSqlite } from '../queue/harness.js';
import { CRM_SECRET, crmDelivery, crmScheme, ESP_SECRET, espDelivery, espScheme, post, type Served, serveExpress, serveFastify, serveHono } from './receiver-helpers.js';

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.toReversed()) await c();
  cleanups = [];
});

async function setup(): Promise<{ store: SqliteStore; queue: Queue; esp: WebhookReceiver; crm: WebhookReceiver }> {
  const { store, cleanup } = await tempSqlite();
  const queue = createQueue(store);
  cleanups.push(async () => {
    await queue.stop({ graceMs: 0 });
    await cleanup();
  });
  const esp = receiver({ scheme: espScheme, secret: ESP_SECRET, queue, topic: 'esp-events', dedupBy: 'X-ESP-Delivery' });
  const crm = receiver({
    scheme: crmScheme,
    secret: CRM_SECRET,
    queue,
    topic: 'crm-events',
    dedupBy: (w) => w.json<{ event_id?: string }>().event_id,
    keyBy: (w) => w.json<{ data: { id: string } }>().data.id,
    versionBy: (w) => w.json<{ data: { version: number } }>().data.version,
  });
  return { store, queue, esp, crm };
}

async function serve(routes: Record<string, WebhookReceiver>, how: (r: Record<string, WebhookReceiver>) => Promise<Served> = serveHono): Promise<Served> {
  const served = await how(routes);
  cleanups.push(() => served.close());
  return served;
}

async function messages(queue: Queue, topic: string): Promise<number> {
  const s = (await queue.stats()).find((t) => t.topic === topic);
  return s === undefined ? 0 : s.ready + s.scheduled + s.waiting + s.active + s.done + s.dead + s.blocked;
}

const inbound = async (store: SqliteStore): Promise<AuditRecord[]> => [...(await store.audit.list({ direction: 'inbound', order: 'asc' }))];

describe('webhook receiver over real sockets (Hono on @hono/node-server, SQLite)', () => {
  it('verifies, records the delivery id in the inbox, enqueues, answers 200, and audits the delivery', async () => {
    const { store, esp } = await setup();
    const { url } = await serve({ '/webhooks/esp': esp });
    const d = espDelivery('esp_42', 'd-1');
    expect((await post(`${url}/webhooks/esp`, d.body, d.headers)).status).toBe(200);
    const m = await store.queue.get('esp-events:d-1');
    expect(m).toMatchObject({ topic: 'esp-events', state: 'ready', payload: { type: 'contact.unsubscribed', contact_id: 'esp_42' } });
    expect(m!.headers[WEBHOOK_ID_HEADER]).toBe('d-1');
    expect(await inbound(store)).toMatchObject([
      { direction: 'inbound', system: 'esp', requestId: 'd-1', method: 'POST', path: '/webhooks/esp', status: 200, outcome: 'ok', correlationId: 'esp-events:d-1' },
    ]);
  });

  it('duplicate burst: the same delivery 20 times concurrently gives one message, twenty 200s, and 1 ok + 19 duplicate_ignored', async () => {
    const { store, queue, esp } = await setup();
    const { url } = await serve({ '/webhooks/esp': esp });
    const d = espDelivery('esp_1', 'burst-1');
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(`${url}/webhooks/esp`, d.body, d.headers)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(await messages(queue, 'esp-events')).toBe(1);
    const outcomes = (await inbound(store)).map((e) => e.outcome);
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'duplicate_ignored')).toHaveLength(19);
    expect((await inbound(store)).every((e) => e.requestId === 'burst-1')).toBe(true);
  });

  it('a replayed old delivery (signed 400 s ago) is refused with 401 and changes nothing; a replay inside the window is a duplicate', async () => {
    const { store, queue, crm } = await setup();
    const { url } = await serve({ '/webhooks/crm': crm });
    const old = crmDelivery({ eventId: 'evt_old', t: Math.floor(Date.now() / 1000) - 400 });
    const res = await post(`${url}/webhooks/crm`, old.body, old.headers);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toMatchObject({ code: 'WEIR_SIGNATURE_STALE' });
    expect(await messages(queue, 'crm-events')).toBe(0);
    const fresh = crmDelivery({ eventId: 'evt_fresh' });
    expect((await post(`${url}/webhooks/crm`, fresh.body, fresh.headers)).status).toBe(200);
    expect((await post(`${url}/webhooks/crm`, fresh.body, fresh.headers)).status).toBe(200);
    expect(await messages(queue, 'crm-events')).toBe(1);
    expect((await inbound(store)).map((e) => [e.requestId, e.status, e.outcome])).toEqual([
      ['evt_old', 401, 'rejected'],
      ['evt_fresh', 200, 'ok'],
      ['evt_fresh', 200, 'duplicate_ignored'],
    ]);
  });

  it('a tampered body or a wrong secret is refused with 401 and no message; the audit names the claimed id, marked unverified', async () => {
    const { store, queue, esp, crm } = await setup();
    const { url } = await serve({ '/webhooks/esp': esp, '/webhooks/crm': crm });
    const d = espDelivery('esp_1', 'tampered-1');
    const tampered = d.body.replace('esp_1', 'esp_2');
    const r1 = await post(`${url}/webhooks/esp`, tampered, d.headers);
    expect(r1.status).toBe(401);
    expect(JSON.parse(r1.text)).toMatchObject({ code: 'WEIR_SIGNATURE_INVALID' });
    const forged = crmDelivery({ eventId: 'evt_forged', secret: 'not-the-secret' });
    expect((await post(`${url}/webhooks/crm`, forged.body, forged.headers)).status).toBe(401);
    const unsigned = espDelivery('esp_1', 'unsigned-1');
    delete unsigned.headers['x-esp-signature'];
    expect((await post(`${url}/webhooks/esp`, unsigned.body, unsigned.headers)).status).toBe(401);
    expect(await messages(queue, 'esp-events')).toBe(0);
    expect(await messages(queue, 'crm-events')).toBe(0);
    expect((await inbound(store)).map((e) => [e.requestId, e.outcome, e.detail.reason, e.detail.code, e.detail.unverifiedId])).toEqual([
      ['tampered-1', 'rejected', 'signature', 'WEIR_SIGNATURE_INVALID', true],
      ['evt_forged', 'rejected', 'signature', 'WEIR_SIGNATURE_INVALID', true],
      ['unsigned-1', 'rejected', 'signature', 'WEIR_SIGNATURE_MISSING', true],
    ]);
  });

  it('a body over the cap gets 413 before it is read (Content-Length) and while it streams (chunked), with no message', async () => {
    const { store, queue } = await setup();
    const small = receiver({ scheme: espScheme, secret: ESP_SECRET, queue, topic: 'esp-small', dedupBy: 'X-ESP-Delivery', maxBodyBytes: 1024 });
    const { url } = await serve({ '/small': small });
    const big = espDelivery('x'.repeat(2000), 'big-1');
    expect((await post(`${url}/small`, big.body, big.headers)).status).toBe(413);
    // No Content-Length: a stream of 64 KiB chunks, cut off once past the cap.
    const chunk = new Uint8Array(64 * 1024).fill(0x61);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ >= 64) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${url}/small`, { method: 'POST', headers: { ...big.headers }, body: stream, duplex: 'half', signal: AbortSignal.timeout(2000) } as RequestInit);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(64);
    const ok = espDelivery('esp_1', 'small-ok');
    expect((await post(`${url}/small`, ok.body, ok.headers)).status).toBe(200);
    expect(await messages(queue, 'esp-small')).toBe(1);
    expect((await inbound(store)).map((e) => [e.requestId, e.status, e.outcome, e.detail.reason])).toEqual([
      ['big-1', 413, 'rejected', 'too-large'],
      ['big-1', 413, 'rejected', 'too-large'],
      ['small-ok', 200, 'ok', undefined],
    ]);
  });

  it('slow downstream: while every handler hangs on a system that never answers, deliveries are still answered 200 within 2 s', async () => {
    const { queue, esp, crm } = await setup();
    const { url } = await serve({ '/webhooks/esp': esp, '/webhooks/crm': crm });
    const hanging = new Set<import('node:http').ServerResponse>();
    const downstream: Server = createServer((_req, res) => void hanging.add(res));
    await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise((resolve) => {
          downstream.closeAllConnections();
          downstream.close(() => resolve());
        }),
    );
    const target = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}/v3/contacts`;
    let started = 0;
    const work = async (_m: unknown, ctx: { signal: AbortSignal }): Promise<void> => {
      started++;
      await fetch(target, { signal: ctx.signal }).catch(() => undefined);
    };
    await queue.handle('esp-events', work, { concurrency: 4 });
    await queue.handle('crm-events', work, { concurrency: 4 });
    const answers = [];
    for (let i = 0; i < 15; i++) {
      const d = i % 2 === 0 ? espDelivery(`esp_${i}`) : crmDelivery({ customerId: `crm_${i}` });
      answers.push(await post(`${url}/webhooks/${i % 2 === 0 ? 'esp' : 'crm'}`, d.body, d.headers, 2_000));
    }
    expect(answers.map((a) => a.status)).toEqual(Array(15).fill(200));
    expect(started).toBeGreaterThan(0);
    expect(hanging.size).toBeGreaterThan(0);
    expect(await messages(queue, 'esp-events')).toBe(8);
  });

  it('CRM: dedups by event_id in the body, keys by customer, records the event version for "apply only if newer"', async () => {
    const { store, crm } = await setup();
    const { url } = await serve({ '/webhooks/crm': crm });
    const d = crmDelivery({ eventId: 'evt_v7', customerId: 'crm_9', version: 7 });
    expect((await post(`${url}/webhooks/crm`, d.body, d.headers)).status).toBe(200);
    const m = await store.queue.get('crm-events:evt_v7');
    expect(m).toMatchObject({ key: 'crm_9', payload: { event_id: 'evt_v7', data: { version: 7 } } });
    expect(eventVersion(m!)).toBe(7);
  });

  it('answers 400 (and audits) a verified body it cannot read an id from', async () => {
    const { store, queue, crm } = await setup();
    const { url } = await serve({ '/webhooks/crm': crm });
    const d = crmDelivery({ eventId: '' });
    const res = await post(`${url}/webhooks/crm`, d.body, d.headers);
    expect(res.status).toBe(400);
    expect(await messages(queue, 'crm-events')).toBe(0);
    expect((await inbound(store)).map((e) => [e.status, e.outcome, e.detail.reason])).toEqual([[400, 'rejected', 'missing-id']]);
  });

  for (const [name, how] of [
    ['express', serveExpress],
    ['fastify', serveFastify],
  ] as const) {
    it(`mounts on the ${name} adapter: valid, duplicate, forged and too large`, async () => {
      const { store, queue } = await setup();
      const esp = receiver({ scheme: espScheme, secret: ESP_SECRET, queue, topic: 'esp-events', dedupBy: 'X-ESP-Delivery', maxBodyBytes: 4096 });
      const { url } = await serve({ '/webhooks/esp': esp }, how);
      const d = espDelivery('esp_1', `${name}-1`);
      expect((await post(`${url}/webhooks/esp`, d.body, d.headers)).status).toBe(200);
      expect((await post(`${url}/webhooks/esp`, d.body, d.headers)).status).toBe(200);
      expect((await post(`${url}/webhooks/esp`, d.body.replace('esp_1', 'esp_9'), d.headers)).status).toBe(401);
      const big = espDelivery('y'.repeat(5000), `${name}-big`);
      expect((await post(`${url}/webhooks/esp`, big.body, big.headers)).status).toBe(413);
      expect(await messages(queue, 'esp-events')).toBe(1);
      expect((await store.queue.get(`esp-events:${name}-1`))?.payload).toMatchObject({ contact_id: 'esp_1' });
      expect((await inbound(store)).map((e) => e.outcome)).toEqual(['ok', 'duplicate_ignored', 'rejected', 'rejected']);
    });
  }
});

const request = (d: { body: string; headers: Record<string, string> }, path = '/hooks'): Request =>
  new Request(`http://localhost${path}`, { method: 'POST', headers: d.headers, body: d.body });

/** The code and option name of what `f` throws. */
function optionError(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return [(err as { code?: string }).code, (err as { details?: { option?: string } }).details?.option];
  }
  return 'no error';
}

describe('webhook receiver without sockets (receiver.fetch)', () => {
  it('answers 503 with Retry-After when the store fails, reports it on onError, and claims nothing', async () => {
    const { store, esp } = await setup();
    const errors: string[] = [];
    esp.onError((e) => errors.push(e.stage));
    await store.close();
    const res = await esp.fetch(request(espDelivery('esp_1', 'down-1')));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(errors).toEqual(['commit', 'audit']);
  });

  it("dedups Standard Webhooks by webhook-id without a dedupBy, and takes the 'text' payload", async () => {
    const { sign } = await import('../../src/webhooks/index.js');
    const { store, queue } = await setup();
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const r = receiver({ scheme: 'standard-webhooks', secret, queue, topic: 'sw', parse: 'text', keepHeaders: ['X-Event-Kind'] });
    const body = '{"type":"ping"}';
    const headers = { ...sign('standard-webhooks', { secret, id: 'msg_abc', rawBody: body }), 'x-event-kind': 'ping' };
    expect((await r.fetch(request({ body, headers }))).status).toBe(200);
    expect((await r.fetch(request({ body, headers }))).status).toBe(200);
    const m = await store.queue.get('sw:msg_abc');
    expect(m).toMatchObject({ payload: body, headers: { 'x-event-kind': 'ping', 'weir-webhook-scheme': 'standard-webhooks' } });
    expect((await inbound(store)).map((e) => e.outcome)).toEqual(['ok', 'duplicate_ignored']);
  });

  it('refuses options eagerly, naming them', async () => {
    const { queue } = await setup();
    const code = optionError;
    expect(code(() => receiver({ scheme: espScheme, secret: ESP_SECRET, queue, topic: 'x' }))).toEqual(['WEIR_INVALID_OPTION', 'dedupBy']);
    expect(code(() => receiver({ scheme: espScheme, secret: ESP_SECRET, queue, topic: '', dedupBy: 'X-ESP-Delivery' }))).toEqual(['WEIR_INVALID_OPTION', 'topic']);
    expect(code(() => receiver({ scheme: espScheme, secret: ESP_SECRET, queue, topic: 'x', dedupBy: 'bad header' }))).toEqual(['WEIR_INVALID_OPTION', 'dedupBy']);
    expect(code(() => receiver({ scheme: espScheme, secret: ESP_SECRET, queue, topic: 'x', dedupBy: 'X-ESP-Delivery', maxBodyBytes: -1 }))).toEqual(['WEIR_INVALID_OPTION', 'maxBodyBytes']);
    expect(code(() => receiver({ scheme: espScheme, secret: ESP_SECRET, queue: {} as Queue, topic: 'x', dedupBy: 'X-ESP-Delivery' }))).toEqual(['WEIR_INVALID_OPTION', 'queue']);
  });
});
