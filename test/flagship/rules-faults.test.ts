// The flagship under the contract's faults (§2, §4, §5): rotating refresh tokens across a restart,
// forged, stale and duplicate webhooks, 429 storms in both Retry-After forms, and the audit trail
// (one entry per outbound attempt with its X-Request-Id, one per inbound delivery).
import { afterEach, describe, expect, it } from 'vitest';
import { startApp } from 'weir/app';
import { sign } from 'weir/webhooks';
import config, { flagshipEnv } from '../../examples/crm-esp/weir.config.js';
import { crmScheme, espScheme } from '../../examples/crm-esp/webhooks.js';
import type { Contact, Customer, SimulatorRequestRecord } from '../../src/testing/index.js';
import { CRM_WEBHOOK_SECRET, ESP_WEBHOOK_SECRET, flagship, until, type Flagship } from './harness.js';

let f: Flagship;
afterEach(async () => {
  await f?.close();
});

const contact = (id: string): Contact | undefined => f.esp.state.contacts.find((c) => c.id === id);
const customer = (id: string): Customer | undefined => f.crm.state.customers.find((c) => c.id === id);

async function linked(email: string): Promise<{ l: string; r: string }> {
  const c = f.crm.actions.create({ email, name: 'Ada' });
  await until(() => f.esp.state.contacts.some((x) => x.external_id === c.id));
  await f.settle();
  return { l: c.id, r: (f.esp.state.contacts.find((x) => x.external_id === c.id) as Contact).id };
}

/** Every request the system received has exactly one outbound audit entry with its X-Request-Id, and no audit entry names a request it never got. */
async function expectOneAuditEntryPerAttempt(system: 'crm' | 'esp', requests: readonly SimulatorRequestRecord[]): Promise<void> {
  const entries = (await f.audit()).filter((e) => e.direction === 'outbound' && e.system === system);
  const sent = entries.filter((e) => e.outcome !== 'rejected'); // `rejected`: refused locally, never on the wire
  expect(requests.length).toBeGreaterThan(0);
  expect(requests.every((r) => typeof r.requestId === 'string')).toBe(true);
  expect(sent.map((e) => e.requestId).toSorted()).toEqual(requests.map((r) => r.requestId).toSorted());
  expect(new Set(sent.map((e) => e.requestId)).size).toBe(sent.length);
}

describe('configuration', () => {
  it('declares every contract variable; a missing or malformed one stops start-up naming it, never quoting a secret', async () => {
    expect(Object.keys(config.env ?? {}).toSorted()).toEqual([...flagshipEnv].toSorted());
    const env = { CRM_BASE_URL: 'crm.example.com', CRM_CLIENT_SECRET: 'very-secret-client-value', WEIR_ADMIN_TOKEN: 'short', WEIR_POLL_INTERVAL_MS: 'often' };
    const err = (await startApp(config, { env, log: false }).catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('WEIR_CONFIG_INVALID');
    for (const name of flagshipEnv.filter((n) => n !== 'CRM_CLIENT_SECRET')) expect(err.message).toContain(`${name}:`);
    expect(err.message).not.toContain('CRM_CLIENT_SECRET:');
    expect(err.message).not.toContain('very-secret-client-value');
    expect(err.message).not.toContain('short');
  });
});

describe('CRM OAuth', () => {
  it('rotates single-use refresh tokens, persisted before use: 401 token_expired refreshes once and resends; after a restart the stored token wins over the spent CRM_REFRESH_TOKEN', async () => {
    f = await flagship();
    const initial = f.crm.state.refreshToken;
    const { l, r } = await linked('oauth@x.io');
    expect(f.crm.state.refreshes).toBe(1);
    f.crm.actions.expireAccessTokens();
    f.crm.actions.edit(l, { name: 'After expiry' });
    f.esp.actions.edit(r, { name: 'After expiry' }); // (the same value: no conflict; the ESP change makes Weir read the CRM)
    await until(() => f.crm.state.refreshes === 2);
    await f.settle();
    const refused = f.crm.log.requests.filter((x) => x.status === 401);
    expect(refused.length).toBeGreaterThan(0);
    // Each 401 was followed by a refresh (one for all concurrent callers) and a resend that worked.
    expect(f.crm.log.requests.filter((x) => x.path === '/oauth/token').map((x) => x.status)).toEqual([200, 200]);

    await f.restart(); // same environment: CRM_REFRESH_TOKEN is the spent initial token
    expect(f.env.CRM_REFRESH_TOKEN).toBe(initial);
    f.crm.actions.expireAccessTokens();
    f.crm.actions.edit(l, { name: 'After restart' });
    await until(() => contact(r)?.name === 'After restart');
    await f.settle();
    expect(f.crm.state.refreshes).toBe(3);
    expect(f.crm.state.spentRefreshTokenUses).toBe(0);
    expect(customer(l)?.name).toBe('After restart');
    // Token requests are attempts on the CRM too: audited with their X-Request-Id, no secret anywhere.
    await expectOneAuditEntryPerAttempt('crm', f.crm.log.requests);
    const everything = JSON.stringify(await f.audit());
    for (const secret of [initial, f.crm.state.refreshToken, f.crm.state.clientSecret, f.esp.state.apiKey]) expect(everything).not.toContain(secret);
  });
});

describe('inbound webhooks', () => {
  it('forged, tampered, unsigned and stale webhooks get 401 and change nothing; each is audited with the id it claims', async () => {
    f = await flagship();
    const hooks = f.app.hooks?.url as string;
    const now = Date.now();
    const data = { id: 'crm_forged', email: 'forged@x.io', name: 'F', status: 'active', marketing_opt_in: true, version: 1, updated_at: new Date(now).toISOString(), updated_by: 'user' };
    const crmBody = (eventId: string): string => JSON.stringify({ event_id: eventId, type: 'customer.created', occurred_at: data.updated_at, data });
    const post = (path: string, body: string, headers: Record<string, string>) => fetch(`${hooks}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    const answers = [
      await post('/webhooks/crm', crmBody('evt_forged'), sign(crmScheme, { secret: 'not-the-secret', rawBody: crmBody('evt_forged'), now })),
      await post('/webhooks/crm', crmBody('evt_stale'), sign(crmScheme, { secret: CRM_WEBHOOK_SECRET, rawBody: crmBody('evt_stale'), now: now - 301_000 })),
      await post('/webhooks/crm', crmBody('evt_unsigned'), {}),
      await post('/webhooks/esp', '{"type":"contact.updated","contact_id":"esp_1","occurred_at":"x"}', {
        'X-ESP-Delivery': 'del-forged',
        ...sign(espScheme, { secret: ESP_WEBHOOK_SECRET, rawBody: '{"type":"contact.updated","contact_id":"esp_2","occurred_at":"x"}' }), // another body's signature
      }),
    ];
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    const inbound = (await f.audit()).filter((e) => e.direction === 'inbound');
    expect(inbound.map((e) => [e.system, e.requestId, e.status, e.outcome])).toEqual([
      ['crm', 'evt_forged', 401, 'rejected'],
      ['crm', 'evt_stale', 401, 'rejected'],
      ['crm', 'evt_unsigned', 401, 'rejected'],
      ['esp', 'del-forged', 401, 'rejected'],
    ]);
    await f.settle();
    expect(f.esp.state.contacts).toEqual([]);
    expect(f.esp.log.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    expect(await f.app.store.sync.listLinks('contacts', {})).toEqual([]);
  });

  it('a duplicated delivery is accepted once: the copy answers 200 and is audited duplicate_ignored (event_id / X-ESP-Delivery)', async () => {
    f = await flagship();
    f.crm.faults.webhooks({ duplicateRate: 1 });
    f.esp.faults.webhooks({ duplicateRate: 1 });
    const { l, r } = await linked('dup@x.io');
    f.esp.actions.unsubscribe(r);
    await until(() => customer(l)?.marketing_opt_in === false);
    await until(() => f.crm.webhooks.pending === 0 && f.esp.webhooks.pending === 0);
    await f.settle();
    expect(f.esp.state.contacts).toHaveLength(1);
    const inbound = (await f.audit()).filter((e) => e.direction === 'inbound');
    for (const [system, sim] of [['crm', f.crm], ['esp', f.esp]] as const) {
      const ids = new Set(sim.log.webhooks.map((w) => w.id));
      expect(ids.size).toBeGreaterThan(0);
      for (const id of ids) {
        const outcomes = inbound.filter((e) => e.system === system && e.requestId === id).map((e) => e.outcome);
        expect(outcomes.toSorted(), `${system} ${id}`).toEqual(['duplicate_ignored', 'ok']);
      }
      // One audit entry per delivery attempt.
      expect(inbound.filter((e) => e.system === system)).toHaveLength(sim.log.webhooks.length);
    }
  });
});

describe('rate limits', () => {
  it.each(['seconds', 'http-date'] as const)('a 429 storm (Retry-After as %s) is rescheduled, never hammered: no request before the time named, everything synced after', async (form) => {
    f = await flagship();
    const { l, r } = await linked('storm0@x.io');
    f.esp.faults.rateLimitStorm({ retryAfterSeconds: 1, retryAfter: form, forMs: 2_500 });
    f.crm.faults.rateLimitStorm({ retryAfterSeconds: 1, forMs: 2_500 });
    const made = Array.from({ length: 4 }, (_, i) => f.crm.actions.create({ email: `storm${i + 1}@x.io`, name: `S${i + 1}` }));
    f.crm.actions.edit(l, { name: 'During the storm' });
    f.esp.actions.unsubscribe(r);
    await until(() => made.every((c) => f.esp.state.contacts.some((x) => x.external_id === c.id)) && contact(r)?.name === 'During the storm' && customer(l)?.marketing_opt_in === false, 20_000);
    await f.settle();
    expect(f.esp.log.requests.filter((x) => x.status === 429).length).toBeGreaterThan(0);
    expect(f.crm.log.requests.filter((x) => x.status === 429).length).toBeGreaterThan(0);
    expect(f.esp.log.abuse).toEqual([]);
    expect(f.crm.log.abuse).toEqual([]);
    expect(f.esp.state.contacts).toHaveLength(5);
    expect((await f.app.queue.stats()).reduce((n, s) => n + s.dead, 0)).toBe(0);
    await expectOneAuditEntryPerAttempt('esp', f.esp.log.requests);
    await expectOneAuditEntryPerAttempt('crm', f.crm.log.requests);
  });
});
