import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { verify, webhookSender } from '../../src/webhooks/index.js';
import { waitFor } from '../queue/harness.js';
import { type Kit, NEW_SECRET, SECRET, senderKit } from './sender-helpers.js';

let kit: Kit | undefined;
afterEach(async () => {
  await kit?.cleanup();
  kit = undefined;
});

const mid = (id: string, ep = 'ep'): string => `weir.webhooks:${ep}:${id}`;
const state = async (k: Kit, id: string): Promise<string | undefined> => (await k.store.queue.get(id))?.state;
const verdict = (secret: string, r: { body: string; headers: Record<string, unknown>; at: number }): string => {
  try {
    verify('standard-webhooks', { secret, rawBody: r.body, headers: r.headers as Record<string, string>, now: r.at });
    return 'ok';
  } catch (err) {
    return (err as { code: string }).code;
  }
};

describe('webhook sender: replay, rotation, rate limits, outbox, attempt log', () => {
  it('replays one delivered message under the same webhook-id, with a fresh timestamp and signature and the same body', async () => {
    kit = await senderKit();
    await kit.sender.start();
    await kit.sender.send({ type: 'order.created', data: { id: 'o1' }, id: 'msg_r1' });
    await waitFor(async () => (await state(kit!, mid('msg_r1'))) === 'done', kit.clock);
    await kit.clock.advance(90_000);
    const [copy] = await kit.sender.replay('msg_r1');
    expect(copy).toMatch(/^weir\.webhooks:ep:msg_r1:replay:/);
    await kit.received(2);
    await waitFor(async () => (await state(kit!, copy!)) === 'done', kit.clock);
    const [first, again] = kit.endpoint.received;
    expect(again!.headers['webhook-id']).toBe('msg_r1');
    expect(again!.body).toBe(first!.body);
    expect(Number(again!.headers['webhook-timestamp']) - Number(first!.headers['webhook-timestamp'])).toBe(90);
    expect(again!.headers['webhook-signature']).not.toBe(first!.headers['webhook-signature']);
    expect((await kit.sender.attempts('msg_r1')).map((e) => [e.outcome, e.detail.messageId])).toEqual([
      ['ok', mid('msg_r1')],
      ['ok', copy],
    ]);
    await expect(kit.sender.replay('msg_unknown')).rejects.toMatchObject({ code: 'WEIR_NOT_FOUND' });
  });

  it('replays a dead-lettered message in place, and all deliveries that failed since a time', async () => {
    kit = await senderKit({ sender: { schedule: ['0s'] } });
    let healthy = false;
    kit.endpoint.answer = () => (healthy ? { status: 200 } : { status: 500 });
    await kit.sender.start();
    await kit.sender.send({ type: 't', data: 1, id: 'msg_d1' });
    await waitFor(async () => (await state(kit!, mid('msg_d1'))) === 'dead', kit.clock);
    await kit.clock.advance(3_600_000);
    const since = kit.clock.now();
    await kit.sender.send({ type: 't', data: 2, id: 'msg_d2' });
    await kit.sender.send({ type: 't', data: 3, id: 'msg_d3' });
    await waitFor(async () => (await state(kit!, mid('msg_d2'))) === 'dead' && (await state(kit!, mid('msg_d3'))) === 'dead', kit.clock);
    healthy = true;
    expect(await kit.sender.replayFailed({ since, perSecond: 1 })).toEqual([mid('msg_d2'), mid('msg_d3')]);
    await kit.clock.advance(1_000);
    await waitFor(async () => (await state(kit!, mid('msg_d3'))) === 'done', kit.clock);
    expect(await state(kit, mid('msg_d1'))).toBe('dead');
    expect(await kit.sender.replay('msg_d1')).toEqual([mid('msg_d1')]);
    await waitFor(async () => (await state(kit!, mid('msg_d1'))) === 'done', kit.clock);
    expect((await kit.store.queue.get(mid('msg_d1')))!.replays).toBe(1);
  });

  it('rotation: both signatures during the overlap (each verifies alone, also with the standardwebhooks library), the new one only after', async () => {
    kit = await senderKit({ endpoint: { secrets: [NEW_SECRET, { secret: SECRET, notAfter: Date.UTC(2026, 0, 1, 1) }] } });
    await kit.sender.start();
    await kit.sender.send({ type: 't', data: 1 });
    await kit.received(1);
    const during = kit.endpoint.received[0]!;
    expect((during.headers['webhook-signature'] as string).split(' ')).toHaveLength(2);
    expect([verdict(SECRET, during), verdict(NEW_SECRET, during), verdict('whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', during)]).toEqual(['ok', 'ok', 'WEIR_SIGNATURE_INVALID']);
    // The library's verify() reads the real clock, so compare with what its sign() makes of the same id, time and body.
    const lib = (secret: string): string =>
      new StandardWebhook(secret).sign(during.headers['webhook-id'] as string, new Date(Number(during.headers['webhook-timestamp']) * 1000), during.body);
    expect((during.headers['webhook-signature'] as string).split(' ').toSorted()).toEqual([lib(SECRET), lib(NEW_SECRET)].toSorted());

    await kit.clock.advance(3_600_000);
    await kit.sender.send({ type: 't', data: 2 });
    await kit.received(2);
    const after = kit.endpoint.received[1]!;
    expect((after.headers['webhook-signature'] as string).split(' ')).toHaveLength(1);
    expect([verdict(SECRET, after), verdict(NEW_SECRET, after)]).toEqual(['WEIR_SIGNATURE_INVALID', 'ok']);
  });

  it('setEndpoints swaps secrets at run time: the next attempt of a queued delivery is signed with the new configuration', async () => {
    kit = await senderKit();
    kit.endpoint.answer = (n) => (n === 1 ? { status: 500 } : { status: 200 });
    await kit.sender.start();
    await kit.sender.send({ type: 't', data: 1, id: 'msg_swap' });
    await kit.received(1);
    kit.sender.setEndpoints([{ id: 'ep', url: kit.endpoint.url, secret: NEW_SECRET }]);
    const runAt = await kit.nextRunAt(mid('msg_swap'), 1);
    await kit.clock.advance(runAt - kit.clock.now());
    await kit.received(2);
    expect([verdict(SECRET, kit.endpoint.received[0]!), verdict(NEW_SECRET, kit.endpoint.received[1]!)]).toEqual(['ok', 'ok']);
  });

  it('per-endpoint rate limit: 1 per second across three events sent at once, without counting an attempt', async () => {
    kit = await senderKit({ endpoint: { rateLimit: { perSecond: 1, burst: 1 } } });
    await kit.sender.start();
    const t0 = kit.clock.now();
    for (const n of [1, 2, 3]) await kit.sender.send({ type: 't', data: n, id: `msg_rl${n}` });
    await kit.received(1);
    for (const n of [2, 3]) {
      await kit.clock.advance(1_000);
      await kit.received(n);
    }
    await kit.clock.advance(5_000);
    expect(kit.endpoint.received.map((r) => r.at - t0)).toEqual([0, 1_000, 2_000]);
    for (const n of [1, 2, 3]) {
      await waitFor(async () => (await state(kit!, mid(`msg_rl${n}`))) === 'done', kit.clock);
      expect((await kit.sender.attempts(`msg_rl${n}`)).map((e) => [e.attempt, e.outcome])).toEqual([[1, 'ok']]);
    }
  });

  it('send is the outbox: it joins the caller transaction, filters by event type, is idempotent by id, and enforces the payload cap', async () => {
    kit = await senderKit({
      endpoint: { events: ['order.*'] },
      extra: [{ id: 'billing', url: 'http://127.0.0.1:9/never', secret: SECRET, events: ['invoice.paid'] }],
      sender: { maxPayloadBytes: 200 },
    });
    const db = kit.store.db;
    db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
    expect(() =>
      db.transaction(() => {
        db.prepare("INSERT INTO orders VALUES ('o1')").run();
        kit!.sender.send(db, { type: 'order.created', data: { id: 'o1' }, id: 'msg_rb' });
        throw new Error('business rule failed');
      })(),
    ).toThrow('business rule failed');
    expect(await kit.store.queue.get(mid('msg_rb'))).toBeNull();
    const result = db.transaction(() => {
      db.prepare("INSERT INTO orders VALUES ('o2')").run();
      return kit!.sender.send(db, { type: 'order.created', data: { id: 'o2' }, id: 'msg_ok' });
    })();
    expect(result).toEqual({ webhookId: 'msg_ok', endpointIds: ['ep'], messageIds: [mid('msg_ok')] });
    expect((await kit.sender.send({ type: 'invoice.paid', data: {}, id: 'msg_inv' })).endpointIds).toEqual(['billing']);
    expect((await kit.sender.send({ type: 'customer.created', data: {} })).messageIds).toEqual([]);
    await kit.sender.send({ type: 'order.created', data: { id: 'o2' }, id: 'msg_ok' });
    expect((await kit.queue.stats()).find((s) => s.topic === 'weir.webhooks')?.ready).toBe(2);
    let code: unknown;
    try {
      db.transaction(() => {
        db.prepare("INSERT INTO orders VALUES ('o3')").run();
        kit!.sender.send(db, { type: 'order.created', data: { blob: 'x'.repeat(500) } });
      })();
    } catch (err) {
      code = (err as { code?: string }).code;
    }
    expect(code).toBe('WEIR_PAYLOAD_TOO_LARGE');
    expect(db.prepare('SELECT id FROM orders ORDER BY id').all()).toEqual([{ id: 'o2' }]);
  });

  it('logs every attempt: status, latency, a bounded response excerpt; timeouts and refused connections too', async () => {
    kit = await senderKit({
      sender: { maxResponseBytes: 64, timeoutMs: 300 },
      extra: [{ id: 'closed', url: 'http://127.0.0.1:9/hooks', secret: SECRET }],
    });
    kit.endpoint.answer = (n) => (n === 1 ? { status: 500, body: 'e'.repeat(5_000) } : n === 2 ? 'hang' : { status: 200, body: 'thanks' });
    await kit.sender.start();
    await kit.sender.send({ type: 't', data: null, id: 'msg_log' });
    for (const n of [1, 2]) {
      await kit.received(n);
      const runAt = await kit.nextRunAt(mid('msg_log'), n);
      await kit.clock.advance(runAt - kit.clock.now());
    }
    await kit.received(3);
    await waitFor(async () => (await state(kit!, mid('msg_log'))) === 'done', kit.clock);
    await waitFor(async () => (await state(kit!, mid('msg_log', 'closed'))) === 'ready', kit.clock);
    const log = await kit.sender.attempts('msg_log');
    const ours = log.filter((e) => e.system === 'ep');
    expect(ours.map((e) => [e.attempt, e.status, e.outcome, e.detail.response])).toEqual([
      [1, 500, 'http_error', 'e'.repeat(64)],
      [2, null, 'timeout', undefined],
      [3, 200, 'ok', 'thanks'],
    ]);
    expect(ours.every((e) => e.direction === 'outbound' && e.method === 'POST' && e.correlationId === 'msg_log' && e.durationMs >= 0)).toBe(true);
    expect(log.find((e) => e.system === 'closed')).toMatchObject({ status: null, outcome: 'network_error', detail: { error: 'WEIR_NETWORK' } });
  });

  it('refuses bad options eagerly, naming them (secrets never shown)', async () => {
    kit = await senderKit();
    const option = (o: Record<string, unknown>): unknown => {
      try {
        webhookSender({ queue: kit!.queue, endpoints: [{ id: 'a', url: 'http://x/h', secret: SECRET }], ...o } as never);
      } catch (err) {
        return [(err as { code?: string }).code, (err as { details?: { option?: string } }).details?.option];
      }
      return 'no error';
    };
    expect(option({ endpoints: [{ id: 'a b', url: 'http://x', secret: SECRET }] })).toEqual(['WEIR_INVALID_OPTION', 'endpoints[0].id']);
    expect(option({ endpoints: [{ id: 'a', url: 'ftp://x', secret: SECRET }] })).toEqual(['WEIR_INVALID_OPTION', 'endpoints[0].url']);
    expect(option({ endpoints: [{ id: 'a', url: 'http://x', secret: 'whsec_!!notbase64' }] })).toEqual(['WEIR_INVALID_OPTION', 'endpoints[0].secrets']);
    expect(option({ endpoints: [{ id: 'a', url: 'http://x', secret: SECRET, rateLimit: { perSecond: 0 } }] })).toEqual(['WEIR_INVALID_OPTION', 'endpoints[0].rateLimit.perSecond']);
    expect(option({ endpoints: [{ id: 'a', url: 'http://x', secret: SECRET }, { id: 'a', url: 'http://y', secret: SECRET }] })).toEqual(['WEIR_INVALID_OPTION', 'endpoints[1].id']);
    expect(option({ schedule: [] })).toEqual(['WEIR_INVALID_OPTION', 'schedule']);
    expect(option({ jitter: 2 })).toEqual(['WEIR_INVALID_OPTION', 'jitter']);
    expect(option({ ordering: 'fifo' })).toEqual(['WEIR_INVALID_OPTION', 'ordering']);
    await expect(kit.sender.send({ type: '', data: 1 })).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION' });
  });
});
