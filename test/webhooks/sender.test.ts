import { afterEach, describe, expect, it } from 'vitest';
import type { EndpointDisabledEvent } from '../../src/webhooks/index.js';
import { verify } from '../../src/webhooks/index.js';
import { waitFor } from '../queue/harness.js';
import { type Kit, SECRET, senderKit } from './sender-helpers.js';

let kit: Kit | undefined;
afterEach(async () => {
  await kit?.cleanup();
  kit = undefined;
});

const MS = { s: 1000, m: 60_000, h: 3_600_000 };
/** The default schedule after its first step: the delays before attempts 2 to 8. */
const RETRY_STEPS = [5 * MS.s, 5 * MS.m, 30 * MS.m, 2 * MS.h, 5 * MS.h, 10 * MS.h, 10 * MS.h];
const mid = (id: string): string => `weir.webhooks:ep:${id}`;

/**
 * Lets `attempts` attempts happen, advancing the fake clock to each scheduled retry. Returns, per
 * retry, the delay from the failed attempt to the next one, as the queue scheduled it.
 */
async function runAttempts(k: Kit, messageId: string, attempts: number): Promise<number[]> {
  const delays: number[] = [];
  for (let n = 1; n <= attempts; n++) {
    await k.received(n);
    if (n === attempts) break;
    const failedAt = k.endpoint.received[n - 1]!.at;
    const runAt = await k.nextRunAt(messageId, n);
    delays.push(runAt - failedAt);
    await k.clock.advance(runAt - k.clock.now());
  }
  return delays;
}

const httpDate = (ms: number): string => new Date(ms).toUTCString();
const state = async (k: Kit, id: string): Promise<string | undefined> => (await k.store.queue.get(id))?.state;

describe('webhook sender: schedule, jitter, Retry-After, 410, sustained failure (fake clock, real local endpoint)', () => {
  it('retries on 0, 5s, 5m, 30m, 2h, 5h, 10h, 10h; webhook-id stable, timestamp and signature fresh per attempt; then dead-letters', async () => {
    kit = await senderKit();
    kit.endpoint.answer = () => ({ status: 500, body: 'down' });
    await kit.sender.start();
    const t0 = kit.clock.now();
    const sent = await kit.sender.send({ type: 'order.created', data: { n: 1 }, id: 'msg_sched' });
    expect(sent.messageIds).toEqual([mid('msg_sched')]);
    expect(await runAttempts(kit, mid('msg_sched'), 8)).toEqual(RETRY_STEPS);
    await waitFor(async () => (await state(kit!, mid('msg_sched'))) === 'dead', kit.clock);
    expect(kit.endpoint.received).toHaveLength(8);
    expect(kit.endpoint.received[0]!.at).toBe(t0);
    const bodies = new Set(kit.endpoint.received.map((r) => r.body));
    expect(bodies.size).toBe(1);
    expect(JSON.parse([...bodies][0]!)).toEqual({ type: 'order.created', timestamp: new Date(t0).toISOString(), data: { n: 1 } });
    for (const r of kit.endpoint.received) {
      expect(r.headers['webhook-id']).toBe('msg_sched');
      expect(r.headers['webhook-timestamp']).toBe(String(Math.floor(r.at / 1000)));
      expect(r.headers['content-type']).toBe('application/json');
      expect(() => verify('standard-webhooks', { secret: SECRET, rawBody: r.body, headers: r.headers, now: r.at })).not.toThrow();
    }
    expect(new Set(kit.endpoint.received.map((r) => r.headers['webhook-signature'])).size).toBe(8);
    const dead = await kit.queue.deadLetters.get(mid('msg_sched'));
    expect(dead!.error).toMatchObject({ code: 'WEIR_HTTP_STATUS', status: 500 });
  });

  for (const [label, random, factor] of [
    ['lowest', () => 0, 0.8],
    ['highest', () => 0.999_999_9, 1.2],
  ] as const) {
    it(`jitter stays within ±20%: the ${label} draw gives ${factor} × each step`, async () => {
      kit = await senderKit({ queue: { random } });
      kit.endpoint.answer = () => ({ status: 500 });
      await kit.sender.start();
      await kit.sender.send({ type: 't', data: null, id: 'msg_j' });
      const delays = await runAttempts(kit, mid('msg_j'), 8);
      delays.forEach((d, i) => expect(Math.abs(d - RETRY_STEPS[i]! * factor)).toBeLessThanOrEqual(1));
    });
  }

  it('jitter stays within ±20% for any draw', async () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    kit = await senderKit({ queue: { random } });
    kit.endpoint.answer = () => ({ status: 502 });
    await kit.sender.start();
    await kit.sender.send({ type: 't', data: null, id: 'msg_any' });
    const delays = await runAttempts(kit, mid('msg_any'), 8);
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(Math.floor(RETRY_STEPS[i]! * 0.8));
      expect(d).toBeLessThanOrEqual(Math.ceil(RETRY_STEPS[i]! * 1.2));
    });
    expect(new Set(delays.map((d, i) => d / RETRY_STEPS[i]!)).size).toBeGreaterThan(1);
  });

  it('honours Retry-After clamped to [scheduled, 2 × scheduled] (seconds and HTTP-date, measured from Date)', async () => {
    kit = await senderKit({ queue: { random: () => 0 } });
    kit.endpoint.answer = (n, r) => {
      if (n === 1) return { status: 503, headers: { 'retry-after': '1' } }; // 1 s < 5 s: no sooner than scheduled
      if (n === 2) return { status: 429, headers: { 'retry-after': '3600' } }; // 1 h > 2 × 5 m: cut to 10 m
      if (n === 3) return { status: 503, headers: { 'retry-after': '2700' } }; // 45 m within [30 m, 60 m]
      // an HTTP-date 3 h after the server's Date (which is 1 h behind ours): 3 h within [2 h, 4 h]
      if (n === 4) return { status: 503, headers: { date: httpDate(r.at - MS.h), 'retry-after': httpDate(r.at + 2 * MS.h) } };
      return { status: 204 };
    };
    await kit.sender.start();
    await kit.sender.send({ type: 't', data: null, id: 'msg_ra' });
    expect(await runAttempts(kit, mid('msg_ra'), 5)).toEqual([5 * MS.s, 10 * MS.m, 45 * MS.m, 3 * MS.h]);
    await waitFor(async () => (await state(kit!, mid('msg_ra'))) === 'done', kit.clock);
    const log = await kit.sender.attempts('msg_ra');
    expect(log.map((e) => [e.attempt, e.status, e.detail.retryAfterMs])).toEqual([
      [1, 503, 5 * MS.s],
      [2, 429, 10 * MS.m],
      [3, 503, 45 * MS.m],
      [4, 503, 3 * MS.h],
      [5, 204, undefined],
    ]);
  });

  it('410 Gone disables the endpoint at once; later deliveries are dead-lettered without a request until enabled and replayed', async () => {
    kit = await senderKit();
    const events: EndpointDisabledEvent[] = [];
    kit.sender.onEndpointDisabled((e) => events.push(e));
    kit.endpoint.answer = (n) => (n === 1 ? { status: 410 } : { status: 200 });
    await kit.sender.start();
    const t0 = kit.clock.now();
    await kit.sender.send({ type: 't', data: 1, id: 'msg_gone1' });
    await waitFor(async () => (await state(kit!, mid('msg_gone1'))) === 'dead', kit.clock);
    expect(events).toEqual([{ endpointId: 'ep', reason: 'gone', at: t0, failingSince: null }]);
    expect(await kit.sender.endpointState('ep')).toMatchObject({ disabled: true, reason: 'gone' });
    await kit.clock.advance(60_000);
    await kit.sender.send({ type: 't', data: 2, id: 'msg_gone2' });
    await waitFor(async () => (await state(kit!, mid('msg_gone2'))) === 'dead', kit.clock);
    expect(kit.endpoint.received).toHaveLength(1);
    expect((await kit.queue.deadLetters.get(mid('msg_gone2')))!.error.code).toBe('WEIR_WEBHOOK_ENDPOINT_DISABLED');
    expect((await kit.sender.attempts('msg_gone2')).map((e) => [e.outcome, e.status])).toEqual([['skipped', null]]);

    await kit.sender.enable('ep');
    expect(await kit.sender.replayFailed({ since: t0 })).toEqual([mid('msg_gone1'), mid('msg_gone2')]);
    await kit.clock.advance(1_000);
    await kit.received(3);
    await waitFor(async () => (await state(kit!, mid('msg_gone2'))) === 'done', kit.clock);
    expect(kit.endpoint.received.map((r) => r.headers['webhook-id']).toSorted()).toEqual(['msg_gone1', 'msg_gone1', 'msg_gone2']);
  });

  it('disables an endpoint that has failed without a success for 5 days, and emits an event', async () => {
    kit = await senderKit({ sender: { schedule: ['0s', '5s'] } });
    const events: EndpointDisabledEvent[] = [];
    kit.sender.onEndpointDisabled((e) => events.push(e));
    kit.endpoint.answer = () => ({ status: 500 });
    await kit.sender.start();
    const t0 = kit.clock.now();
    await kit.sender.send({ type: 't', data: 1, id: 'msg_f1' });
    await runAttempts(kit, mid('msg_f1'), 2);
    await waitFor(async () => (await state(kit!, mid('msg_f1'))) === 'dead', kit.clock);
    expect(await kit.sender.endpointState('ep')).toMatchObject({ disabled: false, failingSince: t0 });

    await kit.clock.advance(5 * 24 * MS.h - 2_000 - (kit.clock.now() - t0));
    await kit.sender.send({ type: 't', data: 2, id: 'msg_f2' });
    await kit.received(3); // 5 days minus 2 s after the first failure: not yet
    const runAt = await kit.nextRunAt(mid('msg_f2'), 1);
    expect(events).toEqual([]);
    expect((await kit.sender.endpointState('ep')).disabled).toBe(false);
    await kit.clock.advance(runAt - kit.clock.now());
    await kit.received(4); // 5 days plus 3 s: disabled
    await waitFor(async () => (await state(kit!, mid('msg_f2'))) === 'dead', kit.clock);
    expect(events).toEqual([{ endpointId: 'ep', reason: 'failing', at: t0 + 5 * 24 * MS.h + 3_000, failingSince: t0 }]);
    expect(await kit.sender.endpointState('ep')).toMatchObject({ disabled: true, reason: 'failing', failingSince: t0 });
  });

  it('a success in between resets the failing run: no disable', async () => {
    kit = await senderKit({ sender: { schedule: ['0s'], disableAfterMs: 24 * MS.h } });
    kit.endpoint.answer = (n) => (n === 2 ? { status: 200 } : { status: 500 });
    await kit.sender.start();
    await kit.sender.send({ type: 't', data: 1 });
    await kit.received(1);
    await waitFor(async () => (await kit!.sender.endpointState('ep')).failingSince !== null, kit.clock);
    await kit.clock.advance(12 * MS.h);
    await kit.sender.send({ type: 't', data: 2 });
    await kit.received(2);
    await waitFor(async () => (await kit!.sender.endpointState('ep')).failingSince === null, kit.clock);
    await kit.clock.advance(20 * MS.h);
    await kit.sender.send({ type: 't', data: 3 });
    await kit.received(3);
    const t3 = kit.endpoint.received[2]!.at;
    await waitFor(async () => (await kit!.sender.endpointState('ep')).failingSince === t3, kit.clock);
    expect((await kit.sender.endpointState('ep')).disabled).toBe(false);
  });
});
