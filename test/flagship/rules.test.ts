// The flagship's sync rules R1–R15 (shared/contracts/crm-esp.md §3), one test per rule, against the
// CRM and ESP simulators, asserted from outside: the systems' state and request logs, and what the
// admin API serves (conflicts, escalations) read from the app's sync.
import { afterEach, describe, expect, it } from 'vitest';
import type { Contact, Customer } from '../../src/testing/index.js';
import { flagship, sleep, until, type Flagship } from './harness.js';

let f: Flagship;
afterEach(async () => {
  await f?.close();
});

const contact = (id: string): Contact | undefined => f.esp.state.contacts.find((c) => c.id === id);
const customer = (id: string): Customer | undefined => f.crm.state.customers.find((c) => c.id === id);
const contactsOf = (email: string): Contact[] => f.esp.state.contacts.filter((c) => c.email.toLowerCase() === email.toLowerCase());
/** ESP requests that write (anything but GET), optionally on one contact. */
const espWrites = (id?: string) => f.esp.log.requests.filter((r) => r.method !== 'GET' && (id === undefined || r.path.startsWith(`/v3/contacts/${id}`)));
const creates = () => f.esp.log.requests.filter((r) => r.method === 'POST' && r.status === 201);
const openEscalations = () => f.sync.escalations.list({ state: 'open' });

/** A CRM customer synced to its ESP contact; returns both ids once everything is quiet. */
async function linked(fields: { email: string; name?: string }): Promise<{ l: string; r: string }> {
  const c = f.crm.actions.create({ name: 'Ada', ...fields });
  await until(() => f.esp.state.contacts.some((x) => x.external_id === c.id));
  await f.settle();
  return { l: c.id, r: (f.esp.state.contacts.find((x) => x.external_id === c.id) as Contact).id };
}

/** One full polling round of each side after now (the safety net has looked too). */
async function pollRound(): Promise<void> {
  const runs = (name: string): number => f.app.tasks.get(name)?.runs ?? 0;
  const start = { crm: runs('poll:crm'), esp: runs('poll:esp') };
  await until(() => runs('poll:crm') >= start.crm + 2 && runs('poll:esp') >= start.esp + 2);
  await f.settle();
}

describe('identity links and creation', () => {
  it('R1: an active opted-in customer has exactly one subscribed contact (lower-cased email, name, external_id)', async () => {
    f = await flagship();
    const c = f.crm.actions.create({ email: 'Ada@Example.COM', name: 'Ada Lovelace' });
    const other = f.crm.actions.create({ email: 'no@example.com', name: 'No', marketing_opt_in: false });
    await until(() => f.esp.state.contacts.length > 0);
    await pollRound();
    expect(f.esp.state.contacts).toMatchObject([{ email: 'ada@example.com', name: 'Ada Lovelace', subscription: 'subscribed', external_id: c.id, unsubscribe_origin: null }]);
    expect(creates()).toHaveLength(1);
    expect(contactsOf(other.email)).toEqual([]);
    // The contact's own webhook (an echo of Weir's write) and the polls changed nothing more.
    expect(espWrites()).toHaveLength(1);
    const [link] = await f.app.store.sync.listLinks('contacts', { state: 'linked' });
    expect(link).toMatchObject({ leftId: c.id, rightId: f.esp.state.contacts[0]?.id });
  });

  it('R9: a new customer whose email an unlinked contact holds adopts it; if its user had unsubscribed, R7 applies', async () => {
    f = await flagship();
    const bob = f.esp.actions.create({ email: 'bob@x.io', name: 'Old name' });
    const eve = f.esp.actions.create({ email: 'eve@x.io', name: 'Eve' });
    f.esp.actions.unsubscribe(eve.id);
    const cb = f.crm.actions.create({ email: 'Bob@X.io', name: 'Bob' });
    const ce = f.crm.actions.create({ email: 'eve@x.io', name: 'Eve Again' });
    await until(async () => contact(bob.id)?.external_id === cb.id && contact(eve.id)?.external_id === ce.id && (await openEscalations()).length === 1);
    await f.settle();
    expect(contact(bob.id)).toMatchObject({ external_id: cb.id, name: 'Bob', email: 'bob@x.io', subscription: 'subscribed' });
    expect(contact(eve.id)).toMatchObject({ external_id: ce.id, name: 'Eve Again', subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(f.esp.state.contacts).toHaveLength(2);
    expect(creates()).toEqual([]);
    expect(await openEscalations()).toMatchObject([{ kind: 'reconsent_required', leftId: ce.id, rightId: eve.id, field: 'consent' }]);
    expect(customer(ce.id)).toMatchObject({ marketing_opt_in: true, version: 1 }); // neither side's consent changed
    expect(f.esp.state.consentViolations).toEqual([]);
  });

  it('R12: contacts never linked to a customer are never modified or deleted (webhooks, polling, reconciliation)', async () => {
    f = await flagship();
    const solo = f.esp.actions.create({ email: 'solo@x.io', name: 'Solo' });
    f.esp.actions.edit(solo.id, { name: 'Solo 2' });
    const out = f.esp.actions.create({ email: 'out@x.io', name: 'Out' });
    f.esp.actions.unsubscribe(out.id);
    f.crm.actions.create({ email: 'not-opted-in@x.io', marketing_opt_in: false });
    await pollRound();
    await f.app.reconciliations.get('contacts')?.run();
    await f.settle();
    expect(espWrites()).toEqual([]);
    expect(contact(solo.id)).toMatchObject({ version: 2, name: 'Solo 2', external_id: null });
    expect(contact(out.id)).toMatchObject({ version: 2, external_id: null, unsubscribe_origin: 'user' });
    expect(f.esp.state.contacts).toHaveLength(2);
  });

  it('R15: a create whose responses are lost (committed, then dropped) ends with one contact: same Idempotency-Key, lookup by external_id before any re-create', async () => {
    f = await flagship();
    // The first POST and its in-call retries (the stored answer replayed) all lose their answer.
    f.esp.faults.commitThenDrop(3, (method, path) => method === 'POST' && path.startsWith('/v3/contacts'));
    const c = f.crm.actions.create({ email: 'lost@x.io', name: 'Lost' });
    await until(async () => (await f.app.store.sync.getLink('contacts', 'left', c.id))?.state === 'linked');
    await f.settle();
    expect(contactsOf('lost@x.io')).toMatchObject([{ external_id: c.id, name: 'Lost', subscription: 'subscribed' }]);
    const posts = f.esp.log.requests.filter((r) => r.method === 'POST');
    expect(posts.map((p) => p.status)).toEqual(['dropped', 'dropped', 'dropped']);
    expect(new Set(posts.map((p) => p.idempotencyKey)).size).toBe(1);
    const lookup = f.esp.log.requests.findIndex((r) => r.method === 'GET' && r.path.includes(`external_id=${c.id}`));
    expect(lookup).toBeGreaterThan(f.esp.log.requests.indexOf(posts[2]!));
  });
});

describe('CRM-driven changes', () => {
  it('R2: a CRM email change updates the same ESP contact, addressed by its id; never creates another', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'old@x.io' });
    f.crm.actions.edit(l, { email: 'New@X.io' });
    await until(() => contact(r)?.email === 'new@x.io');
    await f.settle();
    expect(f.esp.state.contacts).toMatchObject([{ id: r, email: 'new@x.io', external_id: l }]);
    expect(creates()).toHaveLength(1);
    expect(espWrites(r).map((w) => `${w.method} ${w.path}`)).toEqual([`PATCH /v3/contacts/${r}`]);
  });

  it('R3: a lost customer or an opt-out unsubscribes the contact, which is kept', async () => {
    f = await flagship();
    const lost = await linked({ email: 'lost@x.io' });
    const out = await linked({ email: 'out@x.io' });
    f.crm.actions.edit(lost.l, { status: 'lost' });
    f.crm.actions.edit(out.l, { marketing_opt_in: false });
    await until(() => contact(lost.r)?.subscription === 'unsubscribed' && contact(out.r)?.subscription === 'unsubscribed');
    await f.settle();
    for (const { r } of [lost, out]) expect(contact(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'api' });
    expect(f.esp.state.contacts).toHaveLength(2);
    expect(customer(lost.l)).toMatchObject({ status: 'lost', marketing_opt_in: true, updated_by: 'user' });
  });
});

describe('consent', () => {
  it('R4: an ESP unsubscribe made by the user sets the CRM marketing_opt_in to false', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'u4@x.io' });
    f.esp.actions.unsubscribe(r);
    await until(() => customer(l)?.marketing_opt_in === false);
    await f.settle();
    expect(customer(l)).toMatchObject({ marketing_opt_in: false, updated_by: 'api', status: 'active' });
    expect(contact(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(await f.sync.conflicts()).toEqual([]);
  });

  it('R7: after a user unsubscribe, a CRM opt-in raises reconsent_required and changes neither side; resolving it for the CRM does not resubscribe', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'u7@x.io' });
    f.esp.actions.unsubscribe(r);
    await until(() => customer(l)?.marketing_opt_in === false);
    await f.settle();
    f.crm.actions.edit(l, { marketing_opt_in: true });
    await until(async () => (await openEscalations()).length === 1);
    await f.settle();
    const [esc] = await openEscalations();
    expect(esc).toMatchObject({ kind: 'reconsent_required', leftId: l, rightId: r, field: 'consent', leftValue: 'subscribed', rightValue: 'unsubscribed:user' });
    expect(contact(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(customer(l)?.marketing_opt_in).toBe(true);
    // Resolved in the CRM's favour: closed, and still nobody resubscribed.
    expect((await f.sync.escalations.resolve(esc!.id, { choose: 'left' })).state).toBe('resolved');
    f.crm.actions.edit(l, { name: 'Later edit' });
    await until(() => contact(r)?.name === 'Later edit');
    await f.settle();
    expect(contact(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(await openEscalations()).toEqual([]);
    expect(f.esp.state.consentViolations).toEqual([]);
  });

  it('R8: a CRM opt-in and an ESP user unsubscribe both since the last sync: the unsubscribe wins (unsubscribe_wins)', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'r8@x.io' });
    f.crm.actions.edit(l, { marketing_opt_in: false });
    await until(() => contact(r)?.subscription === 'unsubscribed');
    await f.settle();
    await f.pause();
    f.crm.actions.edit(l, { marketing_opt_in: true });
    f.esp.actions.unsubscribe(r);
    await sleep(200);
    await f.resume();
    await until(() => customer(l)?.marketing_opt_in === false);
    await f.settle();
    expect(customer(l)).toMatchObject({ marketing_opt_in: false, updated_by: 'api' });
    expect(contact(r)).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(await f.sync.conflicts()).toMatchObject([
      { field: 'consent', leftId: l, rightId: r, leftValue: 'subscribed', rightValue: 'unsubscribed:user', resolution: 'resolved_by_policy', policy: 'unsubscribe_wins', finalValue: 'unsubscribed:user' },
    ]);
    expect(await openEscalations()).toEqual([]);
    expect(f.esp.state.consentViolations).toEqual([]);
  });
});

describe('field policies and conflicts', () => {
  it('R5: name is last writer wins by real edit time, correcting the CRM clock (45 s fast) from its Date header; inside the margin a person decides', async () => {
    f = await flagship({ crm: { clockSkewMs: 45_000 } });
    const { l, r } = await linked({ email: 'lww@x.io' });
    // The ESP edit is 5 s later in real time, though the CRM stamps its edit 40 s later.
    await f.pause();
    f.crm.actions.edit(l, { name: 'From CRM' });
    await sleep(5_000);
    f.esp.actions.edit(r, { name: 'From ESP' });
    await f.resume();
    await until(() => customer(l)?.name === 'From ESP');
    await f.settle();
    expect(contact(r)?.name).toBe('From ESP');
    expect(await f.sync.conflicts()).toMatchObject([{ field: 'name', leftValue: 'From CRM', rightValue: 'From ESP', policy: 'last_writer_wins', finalValue: 'From ESP' }]);
    expect((await f.sync.metrics()).skew.left.offsetMs).toBeGreaterThan(43_000);
    // Edits within the skew margin: no guess, both sides keep their value until a person decides.
    await f.pause();
    f.crm.actions.edit(l, { name: 'A' });
    f.esp.actions.edit(r, { name: 'B' });
    await f.resume();
    await until(async () => (await openEscalations()).length === 1);
    await f.settle();
    expect(await openEscalations()).toMatchObject([{ kind: 'other', field: 'name', leftValue: 'A', rightValue: 'B' }]);
    expect(customer(l)?.name).toBe('A');
    expect(contact(r)?.name).toBe('B');
  });

  it('R6: an ESP-side email edit is reverted to the CRM value and logged as a conflict resolved by crm_authoritative', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'a@x.io' });
    f.esp.actions.edit(r, { email: 'hijack@x.io' });
    await until(async () => contact(r)?.email === 'a@x.io' && (await f.sync.conflicts()).length === 1);
    await f.settle();
    expect(contact(r)?.email).toBe('a@x.io');
    expect(await f.sync.conflicts()).toMatchObject([
      { field: 'email', leftId: l, rightId: r, baseline: 'a@x.io', leftValue: 'a@x.io', rightValue: 'hijack@x.io', resolution: 'resolved_by_policy', policy: 'crm_authoritative', finalValue: 'a@x.io' },
    ]);
  });

  it('R10: a CRM email change onto an email another contact holds escalates email_collision; no new contact, no merge; the email stays frozen', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'one@x.io' });
    const two = f.esp.actions.create({ email: 'two@x.io', name: 'Two' });
    f.crm.actions.edit(l, { email: 'two@x.io', name: 'Renamed' });
    await until(async () => (await openEscalations()).length === 1);
    await f.settle();
    expect(await openEscalations()).toMatchObject([{ kind: 'email_collision', field: 'email', leftId: l, rightId: r }]);
    expect(contact(r)).toMatchObject({ email: 'one@x.io', name: 'Renamed' });
    expect(contact(two.id)).toMatchObject({ email: 'two@x.io', name: 'Two', version: 1, external_id: null });
    // Frozen until resolved: a later email change does not go, other fields still do.
    f.crm.actions.edit(l, { email: 'three@x.io', name: 'Again' });
    await until(() => contact(r)?.name === 'Again');
    await f.settle();
    expect(contact(r)?.email).toBe('one@x.io');
    expect(f.esp.state.contacts).toHaveLength(2);
    expect(creates()).toHaveLength(1);
  });

  it('R13: concurrent changes to different fields on the two sides are merged field by field', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'm@x.io' });
    await f.pause();
    f.crm.actions.edit(l, { name: 'Ada L.' });
    f.esp.actions.unsubscribe(r);
    await sleep(200);
    await f.resume();
    await until(() => contact(r)?.name === 'Ada L.' && customer(l)?.marketing_opt_in === false);
    await f.settle();
    expect(contact(r)).toMatchObject({ name: 'Ada L.', subscription: 'unsubscribed', unsubscribe_origin: 'user' });
    expect(customer(l)).toMatchObject({ name: 'Ada L.', marketing_opt_in: false });
    expect(await f.sync.conflicts()).toEqual([]);
  });
});

describe('ordering and deletion', () => {
  it('R14: webhooks duplicated and delivered newest first never let an older version overwrite a newer one', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'o@x.io' });
    f.crm.faults.webhooks({ reorderWindowMs: 300, duplicateRate: 1 });
    f.crm.actions.edit(l, { name: 'v2' });
    f.crm.actions.edit(l, { name: 'v3' });
    await until(() => contact(r)?.name === 'v3');
    await until(() => f.crm.log.webhookCounters.delivered >= 5);
    await f.settle();
    await sleep(300);
    await f.settle();
    expect(contact(r)?.name).toBe('v3');
    // One write for both edits: the v2 event arrived after v3 was applied, and was stale.
    expect(espWrites(r)).toHaveLength(1);
  });

  it('R11: a linked contact deleted out of band escalates remote_deleted and is never recreated', async () => {
    f = await flagship();
    const { l, r } = await linked({ email: 'gone@x.io' });
    f.esp.actions.delete(r);
    await until(async () => (await openEscalations()).length === 1);
    f.crm.actions.edit(l, { name: 'Still here' });
    await pollRound();
    await f.app.reconciliations.get('contacts')?.run();
    await f.settle();
    expect(await openEscalations()).toMatchObject([{ kind: 'remote_deleted', leftId: l, rightId: r, field: null }]);
    expect(creates()).toHaveLength(1);
    expect(f.esp.state.contacts).toEqual([]);
  });
});
