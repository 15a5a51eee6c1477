/**
 * Lost responses: the server commits a write, then the connection dies before the answer reaches
 * the client. A retry is safe only with an Idempotency-Key, and then the server applies the write
 * once; without a key the client must not send it again.
 */
import { connect as netConnect } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { connection, type ConnectionOptions } from '../../src/http/index.js';
import type { AuditEntry } from '../../src/store/audit.js';
import { type Handler, reply, testServer } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

/** An ESP-like server: `POST /v3/contacts` honours Idempotency-Key, and loses the first response it commits. */
function espServer() {
  const applied: string[] = [];
  const stored = new Map<string, { status: number; body: unknown }>();
  let losses = 1;
  const handler: Handler = (req, res, a) => {
    const key = req.headers['idempotency-key'] as string | undefined;
    const replay = key === undefined ? undefined : stored.get(key);
    if (replay !== undefined) return reply(res, replay.status, replay.body, { 'idempotent-replayed': 'true' });
    const contact = { id: `esp_${applied.length + 1}`, ...JSON.parse(a.body) };
    applied.push(contact.id); // committed
    if (key !== undefined) stored.set(key, { status: 201, body: contact });
    if (losses-- > 0) {
      res.socket?.destroy(); // ... and the answer is lost
      return;
    }
    reply(res, 201, contact);
  };
  return { handler, applied };
}

async function setup(handler: Handler, options: Partial<ConnectionOptions> = {}) {
  const server = await testServer(handler);
  const entries: AuditEntry[] = [];
  const conn = connection({
    name: 'esp',
    baseUrl: `${server.url}/v3`,
    audit: { record: (e) => entries.push(e) },
    ...options,
    policy: { retry: { attempts: 3, backoff: () => 0 }, ...options.policy },
  });
  cleanups.push(() => server.close(), () => conn.close());
  return { server, conn, entries };
}

describe('lost response after commit', () => {
  it('with an Idempotency-Key: retried with the same key, applied once, one audit entry per attempt', async () => {
    const esp = espServer();
    const { server, conn, entries } = await setup(esp.handler);
    const res = await conn.post('/contacts', { email: 'a@example.com' }, { idempotencyKey: 'msg-1:create', correlationId: 'msg-1' });
    expect(res.status).toBe(201);
    expect(res.header('idempotent-replayed')).toBe('true');
    expect(await res.json()).toEqual({ id: 'esp_1', email: 'a@example.com' });
    expect(res.attempts).toBe(2);
    expect(esp.applied).toEqual(['esp_1']);

    expect(server.arrivals.map((a) => a.headers['idempotency-key'])).toEqual(['msg-1:create', 'msg-1:create']);
    const ids = server.arrivals.map((a) => a.headers['x-request-id']);
    expect(new Set(ids).size).toBe(2);
    expect(res.requestId).toBe(ids[1]);
    expect(entries.map((e) => [e.attempt, e.status, e.outcome, e.requestId, e.idempotencyKey, e.correlationId])).toEqual([
      [1, null, 'network_error', ids[0], 'msg-1:create', 'msg-1'],
      [2, 201, 'ok', ids[1], 'msg-1:create', 'msg-1'],
    ]);
  });

  it('with an automatic key (idempotency.auto): one key generated for the operation and reused', async () => {
    const esp = espServer();
    const { server, conn } = await setup(esp.handler, { idempotency: { auto: true } });
    const res = await conn.post('/contacts', { email: 'b@example.com' });
    expect(res.status).toBe(201);
    await res.dump();
    expect(esp.applied).toHaveLength(1);
    const keys = server.arrivals.map((a) => a.headers['idempotency-key']);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(keys[1]).toBe(keys[0]);
  });

  it('with a key derived from the caller-supplied operation id', async () => {
    const esp = espServer();
    const { server, conn } = await setup(esp.handler, { idempotency: { derive: (id) => `crm-sync:${id}` } });
    await (await conn.post('/contacts', { email: 'c@example.com' }, { operationId: 'msg-9' })).dump();
    expect(esp.applied).toHaveLength(1);
    expect(server.arrivals.map((a) => a.headers['idempotency-key'])).toEqual(['crm-sync:msg-9', 'crm-sync:msg-9']);
  });

  it('without a key: never sent twice; the caller gets WEIR_NETWORK with sent=true', async () => {
    const esp = espServer();
    const { server, conn, entries } = await setup(esp.handler);
    const err = await conn.post('/contacts', { email: 'd@example.com' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_NETWORK', sent: true, classification: 'transient', attempts: 1 });
    expect(server.arrivals).toHaveLength(1);
    expect(esp.applied).toHaveLength(1);
    expect(entries.map((e) => e.outcome)).toEqual(['network_error']);
  });

  it('without a key, a 503 after the request reached the server is not retried either', async () => {
    const { server, conn } = await setup((_req, res) => reply(res, 503, { error: 'unavailable' }));
    const err = await conn.post('/contacts', { email: 'e@example.com' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 503, classification: 'transient' });
    expect(server.arrivals).toHaveLength(1);
  });

  it('a call marked idempotent is retried like a PUT', async () => {
    let n = 0;
    const { server, conn } = await setup((_req, res) => (n++ === 0 ? reply(res, 503) : reply(res, 200, { ok: true })));
    expect(await conn.patch('/contacts/1', { name: 'A' }, { idempotent: true, headers: { 'If-Match': '3' } }).json()).toEqual({ ok: true });
    expect(server.arrivals).toHaveLength(2);
  });
});

describe('a POST that never reached the server', () => {
  it('is retried without a key when the connection was refused', async () => {
    const server = await testServer((_req, res) => reply(res, 201, { id: 'esp_1' }));
    cleanups.push(() => server.close());
    let refusals = 1;
    const base = buildConnector({});
    const agent = new Agent({
      connect: (opts, callback) => {
        if (refusals-- > 0) {
          // A real refused connection: a closed port.
          const s = netConnect({ host: '127.0.0.1', port: 1 });
          s.on('error', (err) => callback(err, null));
          return;
        }
        base(opts, callback);
      },
    });
    const conn = connection({ name: 'esp', baseUrl: server.url, dispatcher: agent, policy: { retry: { backoff: () => 0 } } });
    cleanups.push(async () => {
      await conn.close();
      await agent.close();
    });
    const res = await conn.post('/v3/contacts', { email: 'f@example.com' });
    expect(res.status).toBe(201);
    expect(res.attempts).toBe(2);
    await res.dump();
    expect(server.arrivals).toHaveLength(1);
  });

  it('is not retried when the body is a stream, even before it was sent', async () => {
    const { server, conn } = await setup((_req, res) => reply(res, 503));
    const err = await conn.put('/contacts/1', streamedBody(), { headers: { 'content-type': 'application/json' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 503 });
    expect(server.arrivals).toHaveLength(1);
    expect(server.arrivals[0]?.body).toBe('{"email":"g@example.com"}');
  });
});

async function* streamedBody(): AsyncGenerator<Uint8Array> {
  yield Buffer.from('{"email":');
  yield Buffer.from('"g@example.com"}');
}
