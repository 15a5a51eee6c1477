import { createHmac } from 'node:crypto';
import type { Contact, CrmSimulator, Customer, EspSimulator } from '../../testing/simulators/exports.js';

/**
 * The flagship demo's scripted cases: one per rule of the contract (R2–R13), each on a customer of
 * its own, run once that customer is ready; and the forged and stale webhooks the app must refuse.
 */

/** What the cases need from the scenario that plays them. */
export interface ScriptContext {
  readonly crm: CrmSimulator;
  readonly esp: EspSimulator;
  readonly customers: number;
  readonly durationMs: number;
  /** Schedules `run` at `fraction` of the duration; `false` from it means "not ready, try again shortly". */
  at(fraction: number, tag: string, description: string, run: () => boolean | void): void;
  count(kind: string, side: 'crm' | 'esp'): void;
  name(): string;
  email(prefix: string): string;
  /** The id of the customer created `index`-th (negative: from the end). */
  customerAt(index: number): string | undefined;
  /** Keeps random actions away from the customer created `index`-th. */
  reserve(index: number): void;
  customer(id: string): Customer | undefined;
  contactOf(customerId: string): Contact | undefined;
}

/** Where forged webhooks go, with the real CRM secret (for the stale one). */
export interface ForgeTarget {
  readonly hooksUrl: string;
  readonly crmSecret: string;
  readonly espSecret: string;
}

/** Forged and stale webhooks sent to the app, and how many it refused (4xx). */
export interface ForgedWebhooks {
  sent: number;
  rejected: number;
}

const hmac = (secret: string, text: string): string => createHmac('sha256', secret).update(text).digest('hex');

/** The scripted cases, each on its own customer (index 2 on; skipped when there are too few customers). */
export function planRules(s: ScriptContext): void {
  const n = s.customers;
  const who = (i: number): (() => string | undefined) => {
    if (i + 2 < n) s.reserve(i + 2);
    return () => s.customerAt(i + 2);
  };
  /** A case on customer `index` (+2), run once it has a linked contact and `ready` holds (an earlier case synced). */
  const rule = (
    fraction: number,
    tag: string,
    description: string,
    index: number,
    run: (id: string, contact: Contact) => void,
    ready: (customer: Customer, contact: Contact) => boolean = () => true,
  ): void => {
    if (index + 2 >= n) return;
    const id = who(index);
    s.at(fraction, tag, description, () => {
      const cid = id();
      const customer = cid === undefined ? undefined : s.customer(cid);
      const contact = cid === undefined ? undefined : s.contactOf(cid);
      if (cid === undefined || customer === undefined || contact === undefined || !ready(customer, contact)) return false;
      run(cid, contact);
      return true;
    });
  };
  rule(0.13, 'R4', 'an ESP user unsubscribes: the CRM customer must be opted out', 0, (_id, c) => {
    s.esp.actions.unsubscribe(c.id);
    s.count('esp.unsubscribe', 'esp');
  });
  rule(0.16, 'R3', 'a CRM customer is marked lost: the ESP contact must be unsubscribed, and kept', 1, (id) => {
    s.crm.actions.edit(id, { status: 'lost' });
    s.count('crm.lost', 'crm');
  });
  rule(0.18, 'R3', 'a CRM customer opts out: the ESP contact must be unsubscribed', 2, (id) => {
    s.crm.actions.edit(id, { marketing_opt_in: false });
    s.count('crm.opt_out', 'crm');
  });
  const apart = Math.max(3000, Math.round(0.075 * s.durationMs));
  rule(0.37, 'R5', `the same name edited in the CRM, then ${apart / 1000} s later in the ESP (clocks 20 s apart, ESP down): the later edit wins`, 3, (id, c) => {
    s.crm.actions.edit(id, { name: `${s.name()} (CRM edit)` });
    s.count('crm.name', 'crm');
    const later = setTimeout(() => {
      try {
        s.esp.actions.edit(c.id, { name: `${s.name()} (ESP edit)` });
        s.count('esp.name', 'esp');
      } catch {
        // The contact is gone (or the demo is over).
      }
    }, apart);
    later.unref();
  });
  rule(0.24, 'R6', 'an ESP user edits a contact email: reverted to the CRM value (policy crm_authoritative)', 4, (_id, c) => {
    s.esp.actions.edit(c.id, { email: `changed-in-esp-${c.id}@example.net` });
    s.count('esp.email', 'esp');
  });
  rule(0.4, 'R2', 'a CRM email change during the ESP outage: the same contact is updated after recovery, never a new one', 5, (id) => {
    s.crm.actions.edit(id, { email: s.email('Moved') });
    s.count('crm.email', 'crm');
  });
  rule(
    0.55,
    'R8',
    'a CRM opt-in and an ESP user unsubscribe at the same time: unsubscribe wins',
    2,
    (id, c) => {
      s.crm.actions.edit(id, { marketing_opt_in: true });
      s.esp.actions.unsubscribe(c.id);
      s.count('crm.opt_in', 'crm');
      s.count('esp.unsubscribe', 'esp');
    },
    // Once the earlier opt-out reached the ESP.
    (_customer, contact) => contact.subscription === 'unsubscribed',
  );
  rule(0.62, 'R10', "a CRM email change onto an email another ESP contact holds: escalation email_collision, no merge", 6, (id) => {
    s.crm.actions.edit(id, { email: 'Reader0@esp-only.example' });
    s.count('crm.email', 'crm');
  });
  rule(
    0.7,
    'R7',
    'the customer the ESP user unsubscribed opts in again in the CRM: escalation reconsent_required, no resubscribe',
    0,
    (id) => {
      s.crm.actions.edit(id, { marketing_opt_in: true });
      s.count('crm.opt_in', 'crm');
    },
    // Once the ESP unsubscribe (R4) reached the CRM.
    (customer) => !customer.marketing_opt_in,
  );
  rule(0.75, 'R11', 'a linked ESP contact is deleted out of band: escalation remote_deleted, never recreated', 7, (_id, c) => {
    s.esp.actions.delete(c.id);
    s.count('esp.delete', 'esp');
  });
  rule(
    0.8,
    'R13',
    'a CRM name edit and an ESP unsubscribe on the same customer at once: merged field by field',
    8,
    (id, c) => {
      s.crm.actions.edit(id, { name: `${s.name()} (renamed)` });
      s.esp.actions.unsubscribe(c.id);
      s.count('crm.name', 'crm');
      s.count('esp.unsubscribe', 'esp');
    },
    (_customer, contact) => contact.subscription === 'subscribed',
  );
}

export async function sendForged(s: ScriptContext, f: ForgeTarget, forged: ForgedWebhooks): Promise<void> {
  const target = s.customerAt(-1);
  const customer = target === undefined ? undefined : s.customer(target);
  if (customer === undefined) return;
  const crmBody = JSON.stringify({ event_id: `evt_forged_${customer.id}`, type: 'customer.updated', occurred_at: new Date().toISOString(), data: { ...customer, marketing_opt_in: false, version: customer.version + 100 } });
  const now = Math.floor(s.crm.now() / 1000);
  const contact = s.contactOf(customer.id);
  const espBody = JSON.stringify({ type: 'contact.unsubscribed', contact_id: contact?.id ?? 'esp_unknown', occurred_at: new Date().toISOString() });
  const deliveries: Array<[string, string, Record<string, string>]> = [
    ['/webhooks/crm', crmBody, { 'x-crm-signature': `t=${now},v1=${hmac('not-the-secret', `${now}.${crmBody}`)}` }],
    ['/webhooks/crm', crmBody, { 'x-crm-signature': `t=${now - 3600},v1=${hmac(f.crmSecret, `${now - 3600}.${crmBody}`)}` }],
    ['/webhooks/esp', espBody, { 'x-esp-delivery': `forged-${customer.id}`, 'x-esp-signature': `sha256=${hmac('not-the-secret', espBody)}` }],
  ];
  for (const [path, body, headers] of deliveries) {
    forged.sent++;
    try {
      const res = await fetch(`${f.hooksUrl}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
      await res.arrayBuffer();
      if (res.status >= 400 && res.status < 500) forged.rejected++;
    } catch {
      // Not answered: not a rejection.
    }
  }
}
