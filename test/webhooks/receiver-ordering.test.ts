import { afterEach, describe, expect, it } from 'vitest';
import { createQueue, type Message } from '../../src/queue/index.js';
import { eventVersion, isNewer, receiver, toVersion, versionGate } from '../../src/webhooks/index.js';
import { tempSqlite, waitFor } from '../queue/harness.js';
import { CRM_SECRET, crmDelivery, crmScheme } from './receiver-helpers.js';

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.toReversed()) await c();
  cleanups = [];
});

describe('out-of-order deliveries: "apply only if newer"', () => {
  it('toVersion reads numbers, dates, decimal strings and ISO times; isNewer compares them', () => {
    expect(toVersion(7)).toBe(7);
    expect(toVersion('42')).toBe(42);
    expect(toVersion('2026-01-01T00:00:00.000Z')).toBe(Date.UTC(2026, 0, 1));
    expect(toVersion(new Date(Date.UTC(2026, 0, 2)))).toBe(Date.UTC(2026, 0, 2));
    expect(() => toVersion('soon')).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    expect(() => toVersion(Number.NaN)).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    expect(isNewer(3, 2)).toBe(true);
    expect(isNewer(2, 2)).toBe(false);
    expect(isNewer('2026-01-02T00:00:00Z', '2026-01-01T23:59:59Z')).toBe(true);
    expect(isNewer(1, undefined)).toBe(true);
  });

  it('versionGate applies a strictly newer version only, and records nothing when apply fails', async () => {
    const { store, cleanup } = await tempSqlite();
    cleanups.push(cleanup);
    const gate = versionGate(store, { namespace: 'crm-customer' });
    const applied: number[] = [];
    const apply = (v: number) => () => void applied.push(v);
    expect(await gate.applyIfNewer('crm_1', 2, apply(2))).toMatchObject({ applied: true, previous: undefined });
    expect(await gate.applyIfNewer('crm_1', 1, apply(1))).toEqual({ applied: false, current: 2 });
    expect(await gate.applyIfNewer('crm_1', 2, apply(2))).toEqual({ applied: false, current: 2 });
    await expect(gate.applyIfNewer('crm_1', 5, () => Promise.reject(new Error('downstream down')))).rejects.toThrow('downstream down');
    expect(await gate.current('crm_1')).toBe(2);
    expect(await gate.applyIfNewer('crm_1', 3, apply(3))).toMatchObject({ applied: true, previous: 2 });
    expect(await gate.applyIfNewer('crm_2', 1, apply(1))).toMatchObject({ applied: true });
    expect(applied).toEqual([2, 3, 1]);
  });

  it('deliveries received as v3, v1, v2 for one customer: the handler applies v3 only', async () => {
    const { store, cleanup } = await tempSqlite();
    const queue = createQueue(store);
    cleanups.push(async () => {
      await queue.stop({ graceMs: 0 });
      await cleanup();
    });
    const crm = receiver({
      scheme: crmScheme,
      secret: CRM_SECRET,
      queue,
      topic: 'crm-events',
      dedupBy: (w) => w.json<{ event_id: string }>().event_id,
      keyBy: (w) => w.json<{ data: { id: string } }>().data.id,
      versionBy: (w) => w.json<{ data: { version: number } }>().data.version,
    });
    for (const version of [3, 1, 2]) {
      const d = crmDelivery({ customerId: 'crm_7', version });
      const res = await crm.fetch(new Request('http://localhost/webhooks/crm', { method: 'POST', headers: d.headers, body: d.body }));
      expect(res.status).toBe(200);
    }
    const gate = versionGate(store, { namespace: 'crm-customer' });
    const seen: Array<[number, boolean]> = [];
    await queue.handle('crm-events', async (m: Message) => {
      const v = eventVersion(m)!;
      const { applied } = await gate.applyIfNewer(m.key!, v, () => undefined);
      seen.push([v, applied]);
    });
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual([
      [3, true],
      [1, false],
      [2, false],
    ]);
    expect(await gate.current('crm_7')).toBe(3);
  });
});
