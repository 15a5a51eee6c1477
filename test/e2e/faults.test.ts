// Contract §5 from outside: webhook security (forged, stale, duplicate), 429 storms with Retry-After
// in seconds and as an HTTP-date on a skewed clock, outages of either system (webhooks still
// answered, low attempt rate, breaker alert firing then resolved, backlog drained), and
// reconciliation repairing what lost webhooks left behind (polling is off here: 1 h).
import { describe, expect, it } from 'vitest';
import type { Contact, Customer } from '../../src/testing/index.js';
import { type AdminClient, crmDelivery, deliver, espDelivery } from './admin.js';
import { contact, contactsOf, customer, metricValue, perSecond, r1Holds, syncProblems } from './checks.js';
import { DIFF_CLASSES } from './contract.js';
import { debug, expectAuditBijection, expectNoSecrets, quiesce } from './final-checks.js';
import { type Flagship, sleep, until } from './harness.js';
import { useFlagship } from './suite.js';

let f: Flagship;
let admin: AdminClient;
let n = 0;

function createMany(count: number, prefix: string): Customer[] {
  return Array.from({ length: count }, () => {
    n++;
    return f.crm.actions.create({ email: `${prefix}${n}@example.com`, name: `${prefix} ${n}` });
  });
}

async function allSynced(cs: readonly Customer[], timeoutMs: number, what: string): Promise<void> {
  await until(
    () => cs.every((c) => r1Holds(customer(f.crm, c.id), f.esp.state.contacts)),
    what,
    timeoutMs,
    () => cs.filter((c) => !r1Holds(customer(f.crm, c.id), f.esp.state.contacts)).map((c) => [c.id, contactsOf(f.esp, c.id)]),
  );
}

const isBreakerAlert = (a: { name: string; system?: string }, system: string): boolean => a.system === system && /breaker|circuit/i.test(a.name);

describe('flagship e2e under faults', () => {
  useFlagship({ crm: { seed: 11 }, esp: { seed: 12, clockSkewMs: -40_000 }, pollIntervalMs: 3_600_000 }, (started, client) => {
    f = started;
    admin = client;
  });

  it('webhooks: forged, unsigned or stale deliveries get 4xx and change nothing; replays 2xx; each has an inbound audit entry', async () => {
    const [pat] = createMany(1, 'pat');
    await allSynced([pat!], 15_000, 'pat synced by webhook');
    await quiesce(f);
    const p = contactsOf(f.esp, pat!.id)[0] as Contact;
    const forged = (id: string): string => JSON.stringify({ event_id: id, type: 'customer.updated', occurred_at: new Date().toISOString(), data: { ...customer(f.crm, pat!.id), name: 'FORGED', marketing_opt_in: false, version: 99 } });
    const wrong = await deliver(f.hookUrl, 'crm', forged('evt_e2e_forged'), crmDelivery('not-the-secret', forged('evt_e2e_forged')));
    const stale = await deliver(f.hookUrl, 'crm', forged('evt_e2e_stale'), crmDelivery(f.secrets.crmWebhookSecret, forged('evt_e2e_stale'), Math.floor(Date.now() / 1000) - 600));
    const unsigned = await deliver(f.hookUrl, 'crm', forged('evt_e2e_unsigned'), { 'content-type': 'application/json' });
    const espBody = JSON.stringify({ type: 'contact.unsubscribed', contact_id: p.id, occurred_at: new Date().toISOString() });
    const espForged = await deliver(f.hookUrl, 'esp', espBody, espDelivery('not-the-secret', espBody, 'dlv-e2e-forged'));
    for (const [what, a] of [['wrong secret', wrong], ['stale t', stale], ['unsigned', unsigned], ['ESP wrong secret', espForged]] as const) {
      expect(a.status, `${what}: ${a.text}`).toBeGreaterThanOrEqual(400);
      expect(a.status, `${what}: ${a.text}`).toBeLessThan(500);
    }
    const crmReplay = f.crm.log.webhooks.find((w) => w.status === 200 || (typeof w.status === 'number' && w.status < 300));
    const espReplay = f.esp.log.webhooks.find((w) => typeof w.status === 'number' && w.status < 300);
    expect(crmReplay && espReplay, 'deliveries to replay').toBeTruthy();
    expect((await deliver(f.hookUrl, 'crm', crmReplay!.body, crmDelivery(f.secrets.crmWebhookSecret, crmReplay!.body))).status).toBeLessThan(300);
    expect((await deliver(f.hookUrl, 'esp', espReplay!.body, espDelivery(f.secrets.espWebhookSecret, espReplay!.body, espReplay!.id))).status).toBeLessThan(300);
    await sleep(2000);
    expect(customer(f.crm, pat!.id)).toMatchObject({ name: pat!.name, marketing_opt_in: true });
    expect(contact(f.esp, p.id)).toMatchObject({ name: pat!.name, subscription: 'subscribed' });
    const inbound = (await admin.audit()).filter((e) => e.direction === 'inbound');
    const outcomes = (id: string): string[] => inbound.filter((e) => e.request_id === id).map((e) => e.outcome);
    for (const id of ['evt_e2e_forged', 'evt_e2e_stale', 'evt_e2e_unsigned', 'dlv-e2e-forged']) expect(outcomes(id), id).toContain('rejected');
    expect(outcomes(crmReplay!.id)).toContain('duplicate_ignored');
    expect(outcomes(espReplay!.id)).toContain('duplicate_ignored');
  });

  it('429 storms: nothing is sent before Retry-After (seconds, then an HTTP-date on the ESP clock 40 s behind); all synced after', { timeout: 90_000 }, async () => {
    const t0 = Date.now();
    f.esp.faults.rateLimitStorm({ retryAfterSeconds: 2, forMs: 5000 });
    const first = createMany(4, 'storm-s');
    await allSynced(first, 30_000, 'creates after a 429 storm (Retry-After seconds)');
    f.esp.setRetryAfterForm('http-date');
    f.esp.faults.rateLimitStorm({ retryAfterSeconds: 2, retryAfter: 'http-date', forMs: 5000 });
    const second = createMany(4, 'storm-d');
    await allSynced(second, 30_000, 'creates after a 429 storm (Retry-After HTTP-date)');
    f.esp.setRetryAfterForm('seconds');
    const storm429 = f.esp.log.requests.filter((r) => r.at >= t0 && r.status === 429);
    expect(storm429.length, 'the storms were met').toBeGreaterThan(1);
    debug('ESP 429 storms', { answered429: storm429.length, retryAfter: f.esp.log.requests.filter((r) => r.at >= t0).map((r) => [r.at - t0, r.method, r.status]) });
    expect(f.esp.state.abuse, 'ESP requests before Retry-After').toEqual([]);

    await quiesce(f);
    f.crm.faults.rateLimitStorm({ retryAfterSeconds: 2, forMs: 5000 });
    const unsub = first.slice(0, 3);
    for (const c of unsub) f.esp.actions.unsubscribe((contactsOf(f.esp, c.id)[0] as Contact).id);
    await until(() => unsub.every((c) => !customer(f.crm, c.id).marketing_opt_in), 'CRM opt-outs through a CRM 429 storm', 30_000);
    expect(f.crm.log.requests.some((r) => r.at >= t0 && r.status === 429), 'the CRM storm was met').toBe(true);
    expect(f.crm.log.abuse, 'CRM requests before Retry-After').toEqual([]);
  });

  it('ESP outage: CRM webhooks still 2xx within 2 s, low attempt rate, breaker alert firing then resolved, backlog drains within a minute', { timeout: 120_000 }, async () => {
    await quiesce(f);
    const from = Date.now();
    const outage = f.esp.faults.outage({ mode: 'reset' });
    const backlog = createMany(8, 'outage');
    const states: number[] = [];
    while (Date.now() - from < 10_000) {
      const m = await admin.request('GET', '/metrics');
      const v = metricValue(m.text, 'weir_circuit_state', { system: 'esp' });
      if (v !== undefined) states.push(v);
      await sleep(500);
    }
    const to = Date.now();
    const hooks = f.crm.log.webhooks.filter((w) => w.at >= from && w.at < to);
    expect(hooks.length).toBeGreaterThanOrEqual(8);
    expect(hooks.filter((w) => !(typeof w.status === 'number' && w.status >= 200 && w.status < 300)), 'CRM webhooks not answered 2xx within 2 s').toEqual([]);
    const rate = perSecond(f.esp.log.requests, from + 3000, to);
    debug('ESP outage', { attemptsPerSecond: perSecond(f.esp.log.requests, from, to), circuitStates: states, webhooks: hooks.length });
    expect(Math.max(...rate), `ESP attempts per second during the outage: ${rate.join(',')}`).toBeLessThanOrEqual(5);
    expect(rate.reduce((a, b) => a + b, 0), `ESP attempts during the outage: ${rate.join(',')}`).toBeLessThanOrEqual(20);
    expect(states, 'weir_circuit_state{system="esp"} during the outage').toContain(1);
    await until(() => f.alerts.alerts.find((a) => a.state === 'firing' && isBreakerAlert(a, 'esp')), 'a firing breaker alert for esp', 10_000, () => f.alerts.alerts);
    outage.dispose();
    const recovered = Date.now();
    await allSynced(backlog, 60_000, 'the backlog drained within a minute of recovery');
    expect(Date.now() - recovered).toBeLessThan(60_000);
    debug('ESP outage drained', { ms: Date.now() - recovered });
    await until(() => f.alerts.alerts.find((a) => a.state === 'resolved' && isBreakerAlert(a, 'esp')), 'the breaker alert for esp resolved', 60_000, () => f.alerts.alerts);
    expect(f.alerts.invalid).toEqual([]);
    for (const a of f.alerts.alerts) expect(a).toMatchObject({ name: expect.any(String), state: expect.stringMatching(/^(firing|resolved)$/) });
  });

  it('CRM outage (503 + Retry-After): ESP webhooks still 2xx, the CRM catches up, nothing sent before Retry-After', { timeout: 90_000 }, async () => {
    const targets = f.crm.state.customers.filter((c) => c.marketing_opt_in && c.email.startsWith('outage')).slice(0, 2);
    expect(targets).toHaveLength(2);
    await quiesce(f);
    const from = Date.now();
    const outage = f.crm.faults.outage({ mode: '503', retryAfterSeconds: 1 });
    for (const c of targets) f.esp.actions.unsubscribe((contactsOf(f.esp, c.id)[0] as Contact).id);
    await sleep(6000);
    const hooks = f.esp.log.webhooks.filter((w) => w.at >= from);
    expect(hooks.length).toBeGreaterThanOrEqual(2);
    expect(hooks.filter((w) => !(typeof w.status === 'number' && w.status >= 200 && w.status < 300)), 'ESP webhooks not answered 2xx within 2 s').toEqual([]);
    outage.dispose();
    await until(() => targets.every((c) => !customer(f.crm, c.id).marketing_opt_in), 'CRM opt-outs after the CRM outage', 60_000);
    expect(f.crm.log.requests.filter((r) => r.at >= from && r.status === 503).length, 'the outage was met').toBeGreaterThan(0);
    expect(f.crm.log.abuse, 'CRM requests before Retry-After').toEqual([]);
  });

  it('reconciliation: dry_run finds what lost webhooks left and writes nothing; apply repairs it; apply again finds nothing', { timeout: 90_000 }, async () => {
    await quiesce(f);
    f.crm.faults.webhooks({ lostRate: 1 });
    const drifted = f.crm.state.customers.find((c) => c.email.startsWith('storm-d')) as Customer;
    f.crm.actions.edit(drifted.id, { name: 'Renamed, webhook lost' });
    const [missing] = createMany(1, 'lost-create');
    await sleep(3000);
    f.crm.faults.webhooks({ lostRate: 0 });
    expect(contactsOf(f.esp, drifted.id)[0]?.name, 'drift left (polling is set to 1 h)').toBe(drifted.name);
    expect(contactsOf(f.esp, missing!.id), 'no contact yet for the lost create').toEqual([]);

    const writes = (): number => [...f.crm.log.requests, ...f.esp.log.requests].filter((r) => r.method !== 'GET').length;
    const w0 = writes();
    const dry = await admin.reconcile('dry_run');
    expect(dry).toMatchObject({ mode: 'dry_run', state: 'done', id: expect.any(String) });
    expect(Object.keys(dry)).toEqual(expect.arrayContaining(['id', 'mode', 'state', 'started_at', 'finished_at', 'compared', 'in_sync', 'diffs_by_class', 'repairs', 'escalations_raised', 'api_calls', 'items']));
    expect(Object.keys(dry.diffs_by_class).toSorted()).toEqual([...DIFF_CLASSES].toSorted());
    expect(dry.repairs).toEqual({ attempted: 0, succeeded: 0, failed: 0 });
    expect(writes() - w0, 'writes during the dry run').toBe(0);
    expect(dry.diffs_by_class.field_drift, JSON.stringify(dry.items)).toBeGreaterThanOrEqual(1);
    expect(dry.diffs_by_class.missing_remote, JSON.stringify(dry.items)).toBeGreaterThanOrEqual(1);
    expect(dry.items.some((i) => i.class === 'field_drift' && i.crm_id === drifted.id)).toBe(true);
    expect(dry.items.some((i) => i.class === 'missing_remote' && i.crm_id === missing!.id)).toBe(true);
    expect(dry.api_calls.crm).toBeGreaterThan(0);
    expect(dry.api_calls.esp).toBeGreaterThan(0);

    const apply = await admin.reconcile('apply');
    expect(apply.state).toBe('done');
    expect(apply.repairs.succeeded).toBeGreaterThanOrEqual(2);
    expect(apply.repairs.failed).toBe(0);
    await allSynced([customer(f.crm, drifted.id), missing!], 15_000, 'the repairs applied');
    const again = await admin.reconcile('apply');
    expect(again.state).toBe('done');
    expect(again.repairs.attempted, JSON.stringify(again.items)).toBe(0);
    expect(again.diffs_by_class.field_drift + again.diffs_by_class.missing_remote + again.diffs_by_class.missing_link + again.diffs_by_class.duplicate).toBe(0);
  });

  it('end state: invariants hold, every attempt audited once, no secret anywhere, no abuse, no spent refresh token reused', { timeout: 60_000 }, async () => {
    await quiesce(f);
    expect(syncProblems(f.crm, f.esp)).toEqual([]);
    const audit = await expectAuditBijection(f, admin);
    expect(audit.some((e) => e.direction === 'outbound' && e.system === 'esp' && e.status === null), 'reset attempts audited with status null').toBe(true);
    await expectNoSecrets(f, admin, audit);
    expect(f.esp.state.abuse).toEqual([]);
    expect(f.crm.log.abuse).toEqual([]);
    expect(f.crm.state.spentRefreshTokenUses).toBe(0);
  });
});
