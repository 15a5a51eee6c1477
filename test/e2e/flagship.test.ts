// Issue 8 evidence: `weir start --config examples/crm-esp/weir.config.ts` as a child process against
// the CRM and ESP simulators (CRM clock 15 s ahead, ESP clock 20 s behind), every sync rule R1–R15
// of contracts/crm-esp.md driven by user actions and checked from outside only.
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Contact, Customer } from '../../src/testing/index.js';
import { type AdminClient, crmDelivery, deliver } from './admin.js';
import { contact, contactsOf, customer, r1Holds, secretLeaks, secretNeedles, syncProblems } from './checks.js';
import type { Escalation } from './contract.js';
import { expectAuditBijection, expectNoSecrets, quiesce } from './final-checks.js';
import { type Flagship, runToExit, sleep, until } from './harness.js';
import { useFlagship } from './suite.js';

let f: Flagship;
let admin: AdminClient;
const unlinked: Record<string, Contact> = {};

/** Waits for R1 to hold for `c` and returns its one contact. */
async function synced(c: Customer, timeoutMs = 15_000): Promise<Contact> {
  await until(() => r1Holds(customer(f.crm, c.id), f.esp.state.contacts), `R1 for ${c.id} <${c.email}>`, timeoutMs, () => contactsOf(f.esp, c.id));
  return contactsOf(f.esp, c.id)[0] as Contact;
}

function openEscalation(kind: Escalation['kind'], crmId: string, timeoutMs = 15_000): Promise<Escalation> {
  return until(async () => (await admin.escalations('open')).find((e) => e.kind === kind && e.crm_id === crmId), `open escalation ${kind} for ${crmId}`, timeoutMs);
}

const espWritesSince = (at: number, path?: string): number => f.esp.log.requests.filter((r) => r.at >= at && r.method !== 'GET' && (path === undefined || r.path.split('?')[0] === path)).length;

describe('flagship e2e: weir start against the CRM and ESP simulators', () => {
  useFlagship(
    { crm: { clockSkewMs: 15_000, seed: 3 }, esp: { clockSkewMs: -20_000, seed: 4 }, pollIntervalMs: 1000 },
    (started, client) => {
      f = started;
      admin = client;
    },
    ({ esp }) => {
      unlinked.bystander = esp.actions.create({ email: 'bystander@example.com', name: 'Bystander' });
      unlinked.grace = esp.actions.create({ email: 'grace@example.com', name: 'G.' });
      unlinked.olive = esp.actions.create({ email: 'olive@example.com', name: 'O.', subscription: 'unsubscribed' });
      unlinked.taken = esp.actions.create({ email: 'taken@example.com', name: 'Taken' });
    },
  );

  it('start-up: a missing or malformed variable stops it with a message naming the variable, and no secret', async () => {
    const { ESP_BASE_URL: _dropped, ...rest } = f.weir.env;
    const dataDir = `${f.dataDir}-startup`;
    const bad = await runToExit({ ...rest, WEIR_DATA_DIR: dataDir, WEIR_ADMIN_PORT: 'not-a-port', WEIR_POLL_INTERVAL_MS: 'soon' });
    rmSync(dataDir, { recursive: true, force: true });
    expect(bad.code, bad.stderr).not.toBe(0);
    expect(bad.signal).toBeNull();
    for (const name of ['ESP_BASE_URL', 'WEIR_ADMIN_PORT', 'WEIR_POLL_INTERVAL_MS']) expect(`${bad.stdout}${bad.stderr}`, name).toContain(name);
    expect(secretLeaks([{ where: 'start-up failure output', text: `${bad.stdout}${bad.stderr}` }], secretNeedles(f.secrets, f.crm))).toEqual([]);
  });

  it('admin API: /healthz needs no token; every other route 401s without or with a wrong token', async () => {
    expect((await admin.request('GET', '/healthz', { token: null })).status).toBe(200);
    for (const [method, path] of [['GET', '/audit'], ['GET', '/conflicts'], ['GET', '/escalations?state=open'], ['GET', '/metrics'], ['GET', '/reconciliations/x'], ['POST', '/reconciliations'], ['POST', '/escalations/x/resolve']] as const) {
      expect((await admin.request(method, path, { token: null, body: method === 'POST' ? { mode: 'apply' } : undefined })).status, `${method} ${path} without token`).toBe(401);
      expect((await admin.request(method, path, { token: `${f.secrets.adminToken}x`, body: method === 'POST' ? { mode: 'apply' } : undefined })).status, `${method} ${path} wrong token`).toBe(401);
    }
    expect((await admin.request('GET', '/audit?limit=1')).status).toBe(200);
  });

  it('R1: an active opted-in customer gets exactly one subscribed contact (lowercased email, name, external_id)', async () => {
    const ada = f.crm.actions.create({ email: 'Ada.Lovelace@Example.COM', name: 'Ada Lovelace' });
    const quiet = f.crm.actions.create({ email: 'quiet@example.com', name: 'Quiet', marketing_opt_in: false });
    const gone = f.crm.actions.create({ email: 'gone@example.com', name: 'Gone', status: 'lost' });
    const c = await synced(ada);
    expect(c).toMatchObject({ email: 'ada.lovelace@example.com', name: 'Ada Lovelace', subscription: 'subscribed', external_id: ada.id });
    await sleep(1500);
    for (const other of [quiet, gone]) expect(contactsOf(f.esp, other.id).filter((x) => x.subscription === 'subscribed'), other.email).toEqual([]);
  });

  it('R2: a CRM email change updates the same ESP contact (by ESP id), never creates another', async () => {
    const ada = f.crm.state.customers.find((c) => c.email === 'Ada.Lovelace@Example.COM') as Customer;
    const before = contactsOf(f.esp, ada.id)[0] as Contact;
    const count = f.esp.state.contacts.length;
    const t0 = Date.now();
    f.crm.actions.edit(ada.id, { email: 'Ada@Analytical.example' });
    await until(() => contact(f.esp, before.id)?.email === 'ada@analytical.example', 'the email change on the same contact', 15_000, () => contact(f.esp, before.id));
    expect(f.esp.state.contacts).toHaveLength(count);
    expect(contactsOf(f.esp, ada.id).map((c) => c.id)).toEqual([before.id]);
    expect(espWritesSince(t0, '/v3/contacts'), 'POST /v3/contacts after the email change').toBe(0);
  });

  it('R3: CRM opt-out or status lost ⇒ ESP unsubscribed, contact kept; a CRM re-opt-in after an API unsubscribe resubscribes', async () => {
    const bob = f.crm.actions.create({ email: 'bob@example.com', name: 'Bob' });
    const carol = f.crm.actions.create({ email: 'carol@example.com', name: 'Carol' });
    const [b, c] = [await synced(bob), await synced(carol)];
    f.crm.actions.edit(bob.id, { marketing_opt_in: false });
    f.crm.actions.edit(carol.id, { status: 'lost' });
    for (const x of [b, c]) await until(() => contact(f.esp, x.id)?.subscription === 'unsubscribed', `${x.email} unsubscribed`, 15_000, () => contact(f.esp, x.id));
    expect(contact(f.esp, b.id)?.unsubscribe_origin).toBe('api');
    expect(contact(f.esp, c.id)?.external_id).toBe(carol.id);
    f.crm.actions.edit(bob.id, { marketing_opt_in: true });
    await synced(bob);
    expect(f.esp.state.consentViolations).toEqual([]);
  });

  it('R4: an ESP user unsubscribe ⇒ CRM marketing_opt_in=false', async () => {
    const dan = f.crm.actions.create({ email: 'dan@example.com', name: 'Dan' });
    const d = await synced(dan);
    f.esp.actions.unsubscribe(d.id);
    await until(() => customer(f.crm, dan.id).marketing_opt_in === false, 'CRM opt-out of dan', 15_000, () => customer(f.crm, dan.id));
    expect(contact(f.esp, d.id)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
  });

  it('R7: no resubscribe after a user unsubscribe; a CRM opt-in raises reconsent_required; resolving for the CRM closes it without resubscribing', async () => {
    const dan = f.crm.state.customers.find((c) => c.email === 'dan@example.com') as Customer;
    const d = contactsOf(f.esp, dan.id)[0] as Contact;
    await quiesce(f);
    f.crm.actions.edit(dan.id, { marketing_opt_in: true });
    const esc = await openEscalation('reconsent_required', dan.id);
    await sleep(1500);
    expect(contact(f.esp, d.id)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(customer(f.crm, dan.id).marketing_opt_in, 'Weir changes neither side’s consent').toBe(true);
    const res = await admin.post(`/escalations/${encodeURIComponent(esc.id)}/resolve`, { choose: 'crm' });
    expect(res.status, res.text).toBeGreaterThanOrEqual(200);
    expect(res.status, res.text).toBeLessThan(300);
    await until(async () => (await admin.escalations('resolved')).some((e) => e.id === esc.id && e.state === 'resolved'), 'the escalation resolved');
    expect((await admin.escalations('open')).some((e) => e.id === esc.id)).toBe(false);
    await sleep(2000);
    expect(contact(f.esp, d.id)?.subscription).toBe('unsubscribed');
    expect(f.esp.state.consentViolations).toEqual([]);
  });

  it('R8: a CRM opt-in and an ESP user unsubscribe since the last sync ⇒ unsubscribe wins (policy unsubscribe_wins)', async () => {
    const erin = f.crm.actions.create({ email: 'erin@example.com', name: 'Erin' });
    const e = await synced(erin);
    f.crm.actions.edit(erin.id, { marketing_opt_in: false });
    await until(() => contact(f.esp, e.id)?.subscription === 'unsubscribed', 'erin unsubscribed by the CRM opt-out');
    await quiesce(f);
    f.crm.actions.edit(erin.id, { marketing_opt_in: true });
    f.esp.actions.unsubscribe(e.id);
    await until(() => customer(f.crm, erin.id).marketing_opt_in === false, 'the unsubscribe to win in the CRM', 15_000, () => customer(f.crm, erin.id));
    const conflict = await until(async () => (await admin.conflicts()).find((c) => c.crm_id === erin.id && c.policy === 'unsubscribe_wins'), 'conflict unsubscribe_wins for erin', 10_000);
    expect(conflict).toMatchObject({ esp_id: e.id, resolution: 'resolved_by_policy' });
    expect(contact(f.esp, e.id)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(f.esp.state.consentViolations).toEqual([]);
  });

  it('R5: name is two-way, last writer by real edit time although the CRM clock is 15 s ahead and the ESP’s 20 s behind', { timeout: 90_000 }, async () => {
    const frank = f.crm.actions.create({ email: 'frank@example.com', name: 'Frank' });
    const fr = await synced(frank);
    f.esp.actions.edit(fr.id, { name: 'Frank from ESP' });
    await until(() => customer(f.crm, frank.id).name === 'Frank from ESP', 'ESP name edit in the CRM', 15_000, () => customer(f.crm, frank.id));
    f.crm.actions.edit(frank.id, { name: 'Frank from CRM' });
    await until(() => contact(f.esp, fr.id)?.name === 'Frank from CRM', 'CRM name edit on the ESP', 15_000, () => contact(f.esp, fr.id));
    await quiesce(f);
    // Both sides edit while the ESP is unreachable; the ESP's edit is 3 s later in real time but its
    // timestamp is ~32 s earlier than the CRM's: only a skew-aware comparison picks it.
    const outage = f.esp.faults.outage({ mode: '503' });
    f.crm.actions.edit(frank.id, { name: 'Frank A (CRM, earlier)' });
    await sleep(3000);
    f.esp.actions.edit(fr.id, { name: 'Frank B (ESP, later)' });
    await sleep(1000);
    outage.dispose();
    await until(() => customer(f.crm, frank.id).name === 'Frank B (ESP, later)' && contact(f.esp, fr.id)?.name === 'Frank B (ESP, later)', 'both sides on the later (ESP) name', 60_000, () => [customer(f.crm, frank.id).name, contact(f.esp, fr.id)?.name]);
  });

  it('R6: an ESP email edit is reverted to the CRM value and logged as a conflict crm_authoritative', async () => {
    const ada = f.crm.state.customers.find((c) => c.email === 'Ada@Analytical.example') as Customer;
    const a = contactsOf(f.esp, ada.id)[0] as Contact;
    f.esp.actions.edit(a.id, { email: 'hijacked@example.com' });
    await until(() => contact(f.esp, a.id)?.email === 'ada@analytical.example', 'the ESP email reverted', 15_000, () => contact(f.esp, a.id));
    const conflict = await until(async () => (await admin.conflicts()).find((c) => c.crm_id === ada.id && c.field === 'email'), 'an email conflict for ada');
    expect(conflict).toMatchObject({ esp_id: a.id, policy: 'crm_authoritative', resolution: 'resolved_by_policy' });
    expect(customer(f.crm, ada.id).email).toBe('Ada@Analytical.example');
  });

  it('R9: a new customer whose email is on an unlinked contact adopts it; a user-unsubscribed one stays unsubscribed (R7/R8)', async () => {
    const count = f.esp.state.contacts.length;
    const grace = f.crm.actions.create({ email: 'Grace@Example.com', name: 'Grace Hopper' });
    const olive = f.crm.actions.create({ email: 'olive@example.com', name: 'Olive' });
    const g = await synced(grace);
    expect(g.id).toBe(unlinked.grace?.id);
    await until(() => contact(f.esp, unlinked.olive!.id)?.external_id === olive.id, 'olive’s contact adopted', 15_000, () => contact(f.esp, unlinked.olive!.id));
    expect(contact(f.esp, unlinked.olive!.id)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(f.esp.state.contacts).toHaveLength(count);
    const [escalations, conflicts] = await Promise.all([admin.escalations('open'), admin.conflicts()]);
    const handled = escalations.some((e) => e.kind === 'reconsent_required' && e.crm_id === olive.id) || conflicts.some((c) => c.crm_id === olive.id && c.policy === 'unsubscribe_wins');
    expect(handled, 'reconsent_required escalation (R7) or unsubscribe_wins conflict (R8) for olive').toBe(true);
    expect(f.esp.state.consentViolations).toEqual([]);
  });

  it('R10: an email change onto another contact’s email ⇒ email_collision, no new contact, no merge, email frozen', async () => {
    const henry = f.crm.actions.create({ email: 'henry@example.com', name: 'Henry' });
    const h = await synced(henry);
    const count = f.esp.state.contacts.length;
    f.crm.actions.edit(henry.id, { email: 'TAKEN@example.com' });
    const esc = await openEscalation('email_collision', henry.id);
    expect(esc.field ?? 'email').toBe('email');
    f.crm.actions.edit(henry.id, { name: 'Henry II' });
    await until(() => contact(f.esp, h.id)?.name === 'Henry II', 'the name still flows while the email is frozen', 15_000, () => contact(f.esp, h.id));
    expect(contact(f.esp, h.id)?.email).toBe('henry@example.com');
    expect(contact(f.esp, unlinked.taken!.id)).toEqual(unlinked.taken);
    expect(f.esp.state.contacts).toHaveLength(count);
  });

  it('R11: a linked contact deleted out of band ⇒ remote_deleted, never recreated', async () => {
    const ivy = f.crm.actions.create({ email: 'ivy@example.com', name: 'Ivy' });
    const i = await synced(ivy);
    const t0 = Date.now();
    f.esp.actions.delete(i.id);
    await openEscalation('remote_deleted', ivy.id);
    f.crm.actions.edit(ivy.id, { name: 'Ivy again' });
    await sleep(3500);
    expect(contactsOf(f.esp, ivy.id)).toEqual([]);
    expect(f.esp.log.requests.filter((r) => r.at >= t0 && r.method === 'POST'), 'creates after the deletion').toEqual([]);
  });

  it('R13: concurrent changes to different fields on the two sides merge field by field', async () => {
    const jack = f.crm.actions.create({ email: 'jack@example.com', name: 'Jack' });
    const j = await synced(jack);
    await quiesce(f);
    f.crm.actions.edit(jack.id, { email: 'jack@new.example' });
    f.esp.actions.edit(j.id, { name: 'Jack (ESP)' });
    await until(
      () => contact(f.esp, j.id)?.email === 'jack@new.example' && contact(f.esp, j.id)?.name === 'Jack (ESP)' && customer(f.crm, jack.id).name === 'Jack (ESP)',
      'both changes on both sides',
      15_000,
      () => [contact(f.esp, j.id), customer(f.crm, jack.id)],
    );
    expect(customer(f.crm, jack.id).email).toBe('jack@new.example');
  });

  it('R14: values apply in version order whatever order webhooks arrive in (reordered, replayed, late)', async () => {
    const kim = f.crm.actions.create({ email: 'kim@example.com', name: 'Kim v1' });
    const k = await synced(kim);
    const seen: string[] = [];
    const sampler = setInterval(() => {
      const name = contact(f.esp, k.id)?.name;
      if (name !== undefined && seen.at(-1) !== name) seen.push(name);
    }, 5);
    try {
      f.crm.faults.webhooks({ reorderWindowMs: 400 });
      for (const v of ['Kim v2', 'Kim v3', 'Kim v4']) f.crm.actions.edit(kim.id, { name: v });
      await until(() => contact(f.esp, k.id)?.name === 'Kim v4', 'the newest name on the ESP', 15_000, () => seen);
      f.crm.faults.webhooks({ reorderWindowMs: 0 });
      await quiesce(f);
      // A replay of the v2 delivery (same event_id, freshly signed) and a late v2 event under a new id.
      const v2 = f.crm.log.webhooks.find((w) => w.body.includes('"Kim v2"'));
      expect(v2).toBeDefined();
      const replay = await deliver(f.hookUrl, 'crm', v2!.body, crmDelivery(f.secrets.crmWebhookSecret, v2!.body));
      expect(replay.status, 'replayed delivery').toBeLessThan(300);
      const late = v2!.body.replace(/"event_id":"[^"]+"/, '"event_id":"evt_e2e_late_v2"');
      expect((await deliver(f.hookUrl, 'crm', late, crmDelivery(f.secrets.crmWebhookSecret, late))).status).toBeLessThan(300);
      await sleep(2500);
      expect(contact(f.esp, k.id)?.name).toBe('Kim v4');
      expect(customer(f.crm, kim.id).name).toBe('Kim v4');
      const order = ['Kim v1', 'Kim v2', 'Kim v3', 'Kim v4'];
      const idx = seen.map((s) => order.indexOf(s));
      expect(idx.every((x, n) => x >= 0 && (n === 0 || x > (idx[n - 1] as number))), `names seen on the ESP: ${seen.join(' → ')}`).toBe(true);
      const audit = await admin.audit();
      const v2id = (JSON.parse(v2!.body) as { event_id: string }).event_id;
      expect(audit.filter((e) => e.direction === 'inbound' && e.request_id === v2id).map((e) => e.outcome)).toContain('duplicate_ignored');
    } finally {
      clearInterval(sampler);
      f.crm.faults.webhooks({ reorderWindowMs: 0 });
    }
  });

  it('R15: a create whose response is lost is not duplicated (same Idempotency-Key or a lookup before re-creating)', async () => {
    const t0 = Date.now();
    const count = f.esp.state.contacts.length;
    f.esp.faults.commitThenDrop(1, (m, p) => m === 'POST' && p.startsWith('/v3/contacts'));
    const leo = f.crm.actions.create({ email: 'leo@example.com', name: 'Leo' });
    await synced(leo, 30_000);
    expect(contactsOf(f.esp, leo.id)).toHaveLength(1);
    expect(f.esp.state.contacts).toHaveLength(count + 1);
    const log = f.esp.log.requests.filter((r) => r.at >= t0);
    const dropped = log.find((r) => r.status === 'dropped');
    expect(dropped, 'the create was dropped after committing').toBeDefined();
    expect(dropped!.idempotencyKey, 'creates carry an Idempotency-Key').toBeTruthy();
    const after = log.filter((r) => r.seq > dropped!.seq);
    const lookup = after.findIndex((r) => r.method === 'GET' && /[?&](external_id|email)=/.test(r.path));
    after.forEach((r, n) => {
      if (r.method === 'POST' && r.path.startsWith('/v3/contacts')) {
        expect(r.idempotencyKey === dropped!.idempotencyKey || (lookup >= 0 && lookup < n), `re-create #${r.seq} without the same key or a lookup first`).toBe(true);
      }
    });
  });

  it('R12: ESP contacts never linked to a CRM customer are never modified or deleted', async () => {
    for (const u of [unlinked.bystander!, unlinked.taken!]) {
      expect(contact(f.esp, u.id)).toEqual(u);
      expect(f.esp.log.requests.filter((r) => r.method !== 'GET' && r.path.split('?')[0] === `/v3/contacts/${u.id}`)).toEqual([]);
    }
  });

  it('admin API: conflicts, escalations, metrics; reconciliation dry_run writes nothing, apply twice finds nothing more to repair', { timeout: 90_000 }, async () => {
    const conflicts = await admin.conflicts();
    expect(conflicts.length).toBeGreaterThan(0);
    for (const c of conflicts) expect(Object.keys(c)).toEqual(expect.arrayContaining(['id', 'crm_id', 'esp_id', 'field', 'baseline', 'crm_value', 'esp_value', 'detected_at', 'resolution', 'policy']));
    const open = await admin.escalations('open');
    expect(open.map((e) => e.kind)).toEqual(expect.arrayContaining(['email_collision', 'remote_deleted']));
    for (const e of open) expect(e).toMatchObject({ state: 'open', id: expect.any(String), crm_id: expect.any(String) });
    const metrics = await admin.request('GET', '/metrics');
    expect(metrics.status).toBe(200);
    for (const name of ['weir_queue_depth', 'weir_api_requests_total', 'weir_sync_lag_seconds', 'weir_conflicts_total', 'weir_escalations_open', 'weir_circuit_state', 'weir_dead_letters']) expect(metrics.text, name).toMatch(new RegExp(`^${name}\\b`, 'm'));
    expect(metrics.text).toMatch(/^weir_circuit_state\{[^}]*system="esp"/m);
    expect(metrics.text).toMatch(/^weir_api_requests_total\{[^}]*status_class=/m);

    await quiesce(f);
    const t0 = Date.now();
    const crmWrites0 = f.crm.log.requests.filter((r) => r.method !== 'GET').length;
    const dry = await admin.reconcile('dry_run');
    expect(dry).toMatchObject({ mode: 'dry_run', state: 'done', repairs: { attempted: 0 } });
    expect(dry.compared).toBeGreaterThan(0);
    expect(dry.api_calls.crm + dry.api_calls.esp).toBeGreaterThan(0);
    expect(espWritesSince(t0), 'ESP writes during the dry run').toBe(0);
    expect(f.crm.log.requests.filter((r) => r.method !== 'GET').length - crmWrites0, 'CRM writes during the dry run').toBe(0);
    const first = await admin.reconcile('apply');
    expect(first).toMatchObject({ mode: 'apply', state: 'done' });
    const second = await admin.reconcile('apply');
    expect(second.state).toBe('done');
    expect(second.repairs.attempted, JSON.stringify(second.items)).toBe(0);
    const ivy = f.crm.state.customers.find((c) => c.email === 'ivy@example.com') as Customer;
    expect(contactsOf(f.esp, ivy.id), 'reconciliation does not recreate a remote_deleted contact').toEqual([]);
  });

  it('end state: invariants hold, every attempt audited once, no secret anywhere, no abuse, no spent refresh token reused', { timeout: 60_000 }, async () => {
    await quiesce(f);
    const frozen = new Set((await admin.escalations('open')).map((e) => e.crm_id));
    expect(syncProblems(f.crm, f.esp, frozen)).toEqual([]);
    const audit = await expectAuditBijection(f, admin);
    await expectNoSecrets(f, admin, audit);
    expect(f.esp.state.abuse).toEqual([]);
    expect(f.crm.log.abuse).toEqual([]);
    expect(f.crm.state.spentRefreshTokenUses).toBe(0);
  });
});
