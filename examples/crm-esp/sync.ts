import type { AppSyncOptions } from 'weir/app';
import { authoritative, equivalent, escalate, lastWriterWins, sticky, type FieldPolicy, type SyncAdapter } from 'weir/sync';
import type { Customer } from './crm.js';
import type { Contact } from './esp.js';

const unsubscribed = (v: unknown): boolean => typeof v === 'string' && v.startsWith('unsubscribed');

/** R3: a lost customer is never subscribed on the ESP, whatever changed there. */
const lostIsUnsubscribed: FieldPolicy = {
  name: 'crm_lost_unsubscribes',
  decide: (c) => ((c.records.left as Customer).status === 'lost' ? { take: 'left' } : 'next'),
};

/**
 * The two-way sync of CRM customers (left) and ESP contacts (right), rule by rule (contract §3).
 *
 * Three mapped fields, the same on both sides: `email` (lower-cased), `name`, and `consent`:
 * `'subscribed' | 'unsubscribed'` on the CRM (from `status` and `marketing_opt_in`), plus
 * `'unsubscribed:user'` on the ESP (from `subscription` and `unsubscribe_origin`), so a person
 * unsubscribing an already unsubscribed contact is a change the three-way comparison sees.
 *
 * What the engine does by itself (`weir/sync`): identity links with a pending link before every
 * create, a deterministic Idempotency-Key, lookup by external id then email before a re-create, and
 * adoption on 409 (R9, R15); per-record order and version watermarks (R14); field-by-field
 * three-way merge (R13); writes by id, never a second create (R2); `remote_deleted` for a linked
 * contact that is gone (R11); `<field>_collision` on a 409 of a unique field (R10); unlinked ESP
 * contacts are never created from, written or deleted (R12).
 */
export function contactsSync(crm: SyncAdapter<Customer>, esp: SyncAdapter<Contact>): AppSyncOptions {
  return {
    name: 'contacts',
    left: crm,
    right: esp,
    fields: {
      // R6: the CRM owns the email; an ESP-side edit is reverted and logged as a conflict.
      email: authoritative('left', { name: 'crm_authoritative' }),
      // R5: last writer wins by real edit time (each side's Date header gives its clock skew);
      // inside the skew margin it does not guess: a person decides.
      name: [lastWriterWins({ clock: 'server-date', skewMarginMs: 1_000 }), escalate('other')],
      consent: [
        // Both unsubscribed, whoever did it: nothing to write.
        equivalent((l, r) => unsubscribed(l) && unsubscribed(r), { name: 'both_unsubscribed' }),
        // R4, R7, R8: a user's own ESP unsubscribe wins over a CRM opt-in made since the last sync,
        // is copied to the CRM, and is never undone by Weir: a later CRM opt-in raises
        // `reconsent_required` and changes neither side; resolving it never resubscribes.
        sticky('unsubscribed:user', { side: 'right', origin: (c) => (c as Contact).unsubscribe_origin === 'user', escalate: 'reconsent_required', name: 'unsubscribe_wins' }),
        // R3: lost ⇒ unsubscribed on the ESP, whatever changed there.
        lostIsUnsubscribed,
        lastWriterWins({ skewMarginMs: 1_000 }),
        // R3: otherwise the CRM decides (opt-out ⇒ unsubscribed, the contact is kept).
        authoritative('left'),
      ],
    },
    // R1: an active, opted-in customer gets a subscribed contact. ESP contacts never create CRM
    // customers (no `left` rule), so contacts never linked are never touched (R12).
    create: { right: (fields) => fields.consent === 'subscribed' },
    pageSize: 50,
  };
}
