import type { App } from '../../app/app.js';
import type { AuditRecord } from '../../store/audit.js';
import type { SyncEscalationRecord } from '../../store/sync.js';
import type { Sync } from '../../sync/define.js';
import type { ReconcileReport } from '../../sync/reconcile.js';
import type { CrmSimulator, EspSimulator, SimulatorRequestRecord, WebhookCounters } from '../../testing/simulators/exports.js';
import type { Scenario } from './scenario.js';

/** What happened during the demo, counted from the simulators' logs and the app's store. */
export interface DemoStats {
  readonly userActions: { readonly crm: number; readonly esp: number; readonly byKind: Readonly<Record<string, number>> };
  /** Webhooks the systems emitted and sent (duplicates, losses), and what Weir's receivers did with them. */
  readonly events: {
    readonly crm: WebhookCounters;
    readonly esp: WebhookCounters;
    readonly received: number;
    readonly duplicatesIgnored: number;
    readonly rejected: number;
  };
  /** Requests each system received, by status (`reset`, `dropped` included). */
  readonly apiCalls: { readonly crm: SystemCalls; readonly esp: SystemCalls };
  /** From the audit trail: outbound attempts that failed transiently (429, 5xx, timeout, network), and attempts after the first within a call. */
  readonly retries: { readonly failedAttempts: number; readonly inCall: number };
  readonly duplicatesPrevented: {
    /** Webhook deliveries recognised as redeliveries and dropped. */
    readonly webhookRedeliveries: number;
    /** ESP creates re-sent with the same Idempotency-Key after one had committed (replayed, not duplicated). */
    readonly idempotentReplays: number;
    /** Creates the ESP refused with 409 `email_exists`, adopted instead. */
    readonly adoptedOnConflict: number;
  };
  readonly crmTokenRefreshes: number;
  readonly conflicts: Readonly<Record<string, number>>;
  readonly escalations: ReadonlyArray<{ readonly kind: string; readonly state: string; readonly crmId: string | null }>;
  readonly deadLetters: number;
  readonly alerts: ReadonlyArray<{ readonly name: string; readonly state: string; readonly system?: string }>;
}

export interface SystemCalls {
  readonly requests: number;
  readonly byStatus: Readonly<Record<string, number>>;
}

/** The invariants, checked on the systems' final state. */
export interface DemoChecks {
  /** Opted-in active customers without exactly one subscribed ESP contact with their email and name (and no escalation explaining it). */
  readonly lost: number;
  /** ESP contacts beyond the first for one customer. */
  readonly duplicated: number;
  /** ESP contacts subscribed although their customer is lost or opted out (R3). */
  readonly wronglySubscribed: number;
  /** API resubscribes of contacts their user unsubscribed (R7), as the ESP recorded them. */
  readonly consentViolations: number;
  /** Requests sent before the time a Retry-After named. */
  readonly abuse: { readonly crm: number; readonly esp: number };
  /** Writes to ESP contacts no customer matches (R12). */
  readonly espOnlyWritten: number;
  /** Forged and stale webhooks sent to the app, and how many it refused with a 4xx. */
  readonly forgedWebhooks: { readonly sent: number; readonly rejected: number };
  /** Customers whose difference waits for a person (an open escalation), by kind. */
  readonly heldForAPerson: Readonly<Record<string, number>>;
  readonly customers: number;
  readonly espContacts: number;
  /** The first few problems, for people. */
  readonly problems: readonly string[];
}

/** A reconciliation, summarised. */
export interface ReconcileSummary {
  readonly compared: number;
  readonly diffs: Readonly<Record<string, number>>;
  readonly repairs: { readonly attempted: number; readonly succeeded: number; readonly failed: number };
  readonly escalationsRaised: number;
  /** Findings that are not by design: not an ESP-only contact (`report_only`), not a known escalation. */
  readonly actionable: number;
}

export interface DemoReconciliation {
  readonly apply: ReconcileSummary;
  /** A dry run straight after: must find nothing to repair. */
  readonly check: ReconcileSummary;
  readonly clean: boolean;
}

const PAGE = 1000;

/** The CRM id of an escalation. */
export function crmIdOf(e: SyncEscalationRecord, crmSide: 'left' | 'right'): string | null {
  return crmSide === 'left' ? e.leftId : e.rightId;
}

/** Every audit entry, oldest first. */
async function auditEntries(app: App): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let after = 0;
  for (;;) {
    const page = await app.store.audit.list({ afterSeq: after, limit: PAGE, order: 'asc' });
    out.push(...page);
    if (page.length < PAGE) return out;
    after = (page[page.length - 1] as AuditRecord).seq;
  }
}

function calls(sim: CrmSimulator | EspSimulator): SystemCalls {
  const c = sim.log.counters;
  return { requests: c.requests, byStatus: { ...c.byStatus } };
}

/** Creates re-sent with an Idempotency-Key that already committed once. */
function replays(requests: readonly SimulatorRequestRecord[]): number {
  const committed = new Set<string>();
  let n = 0;
  for (const r of requests) {
    if (r.method !== 'POST' || !r.path.startsWith('/v3/contacts') || r.idempotencyKey === undefined) continue;
    if (committed.has(r.idempotencyKey)) n++;
    if (r.status === 201 || r.status === 'dropped') committed.add(r.idempotencyKey);
  }
  return n;
}

/** Counts from the simulators and the store. */
export async function collectStats(o: {
  app: App;
  sync: Sync;
  crm: CrmSimulator;
  esp: EspSimulator;
  scenario: Scenario;
  alerts: ReadonlyArray<{ name: string; state: string; system?: string }>;
  /** The sync's side the CRM is on. */
  crmSide: 'left' | 'right';
}): Promise<DemoStats> {
  const entries = await auditEntries(o.app);
  const inbound = entries.filter((e) => e.direction === 'inbound');
  const outbound = entries.filter((e) => e.direction === 'outbound');
  const conflicts: Record<string, number> = {};
  for (const c of await o.sync.conflicts({ limit: 100_000 })) {
    const key = `${c.policy} (${c.resolution === 'escalated' ? 'escalated' : 'resolved'})`;
    conflicts[key] = (conflicts[key] ?? 0) + 1;
  }
  const escalations = await o.sync.escalations.list({ limit: 10_000 });
  return {
    userActions: { crm: o.scenario.counts.crmActions, esp: o.scenario.counts.espActions, byKind: { ...o.scenario.counts.byKind } },
    events: {
      crm: o.crm.log.webhookCounters,
      esp: o.esp.log.webhookCounters,
      received: inbound.length,
      duplicatesIgnored: inbound.filter((e) => e.outcome === 'duplicate_ignored').length,
      rejected: inbound.filter((e) => e.outcome === 'rejected').length,
    },
    apiCalls: { crm: calls(o.crm), esp: calls(o.esp) },
    retries: {
      failedAttempts: outbound.filter((e) => e.status === null || e.status === 429 || e.status >= 500).length,
      inCall: outbound.filter((e) => e.attempt > 1).length,
    },
    duplicatesPrevented: {
      webhookRedeliveries: inbound.filter((e) => e.outcome === 'duplicate_ignored').length,
      idempotentReplays: replays(o.esp.log.requests),
      adoptedOnConflict: o.esp.log.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v3/contacts') && r.status === 409).length,
    },
    crmTokenRefreshes: o.crm.state.refreshes,
    conflicts,
    escalations: escalations.map((e) => ({ kind: e.kind, state: e.state, crmId: crmIdOf(e, o.crmSide) })),
    deadLetters: await o.app.store.deadLetters.count(),
    alerts: o.alerts.map((a) => ({ name: a.name, state: a.state, ...(a.system === undefined ? {} : { system: a.system }) })),
  };
}

/**
 * Checks the contract's invariants on the systems' final state: every opted-in active customer has
 * exactly one subscribed ESP contact with its (lower-cased) email and name (R1); no customer has
 * two contacts; lost or opted-out customers are not subscribed (R3); no consent violation (R7);
 * no abuse of a Retry-After; ESP-only contacts never written (R12). A customer whose difference an
 * open escalation explains (R7, R10, R11, a name too close to call) is counted as held for a person.
 */
export function checkInvariants(o: { crm: CrmSimulator; esp: EspSimulator; scenario: Scenario; open: readonly SyncEscalationRecord[]; crmSide: 'left' | 'right' }): DemoChecks {
  const customers = o.crm.state.customers;
  const contacts = o.esp.state.contacts;
  const byExternal = new Map<string, typeof contacts[number][]>();
  for (const c of contacts) if (c.external_id !== null) byExternal.set(c.external_id, [...(byExternal.get(c.external_id) ?? []), c]);
  const held = new Map<string, string>();
  for (const e of o.open) {
    const id = crmIdOf(e, o.crmSide);
    if (id !== null) held.set(id, e.kind);
  }
  const heldForAPerson: Record<string, number> = {};
  const problems: string[] = [];
  const problem = (text: string): void => {
    if (problems.length < 20) problems.push(text);
  };
  let lost = 0;
  let duplicated = 0;
  let wronglySubscribed = 0;
  for (const c of customers) {
    const mine = byExternal.get(c.id) ?? [];
    if (mine.length > 1) {
      duplicated += mine.length - 1;
      problem(`${c.id} has ${mine.length} ESP contacts: ${mine.map((x) => x.id).join(', ')}`);
    }
    const kind = held.get(c.id);
    const wanted = c.status === 'active' && c.marketing_opt_in;
    if (wanted) {
      const ok = mine.length === 1 && mine.every((x) => x.subscription === 'subscribed' && x.email === c.email.toLowerCase() && x.name === c.name);
      if (ok) continue;
      if (kind !== undefined) heldForAPerson[kind] = (heldForAPerson[kind] ?? 0) + 1;
      else {
        lost++;
        const x = mine[0];
        problem(x === undefined ? `${c.id} (opted in) has no ESP contact` : `${c.id} (opted in): ESP ${x.id} is ${x.subscription}, ${x.email} / ${x.name}; CRM has ${c.email} / ${c.name}`);
      }
    } else if (mine.some((x) => x.subscription === 'subscribed')) {
      if (kind !== undefined) heldForAPerson[kind] = (heldForAPerson[kind] ?? 0) + 1;
      else {
        wronglySubscribed++;
        problem(`${c.id} is ${c.status === 'lost' ? 'lost' : 'opted out'} but its ESP contact is subscribed`);
      }
    }
  }
  const writes = new Set(['PATCH', 'DELETE', 'PUT']);
  const espOnlyWritten = o.esp.log.requests.filter((r) => {
    if (!writes.has(r.method) || (typeof r.status === 'number' && r.status >= 400) || r.status === 'reset') return false;
    const id = decodeURIComponent(r.path.split('?')[0]?.split('/')[3] ?? '');
    return o.scenario.espOnly.has(id);
  }).length;
  if (espOnlyWritten > 0) problem(`${espOnlyWritten} writes to ESP contacts no customer matches`);
  const consentViolations = o.esp.state.consentViolations.length;
  if (consentViolations > 0) problem(`${consentViolations} API resubscribes of contacts their user unsubscribed`);
  const forgedWebhooks = { ...o.scenario.forged };
  if (forgedWebhooks.rejected < forgedWebhooks.sent) problem(`${forgedWebhooks.sent - forgedWebhooks.rejected} forged or stale webhooks were not refused`);
  const abuse = { crm: o.crm.log.abuse.length, esp: o.esp.state.abuse.length };
  if (abuse.crm + abuse.esp > 0) problem(`requests before Retry-After allowed them: CRM ${abuse.crm}, ESP ${abuse.esp}`);
  return { lost, duplicated, wronglySubscribed, consentViolations, abuse, espOnlyWritten, forgedWebhooks, heldForAPerson, customers: customers.length, espContacts: contacts.length, problems };
}

/** A reconciliation report, summarised; `actionable` leaves out what is by design. */
export function summarise(r: ReconcileReport): ReconcileSummary {
  const actionable = r.items.filter((i) => i.action !== 'report_only' && !i.action.startsWith('escalate:')).length;
  return {
    compared: r.compared,
    diffs: { ...r.diffsByClass },
    repairs: { ...r.repairs },
    escalationsRaised: r.escalationsRaised,
    actionable,
  };
}

/** True when every check holds and the reconciliation found nothing left to repair. */
export function proofHolds(c: DemoChecks, r: DemoReconciliation): boolean {
  return c.lost === 0 && c.duplicated === 0 && c.wronglySubscribed === 0 && c.consentViolations === 0 && c.abuse.crm + c.abuse.esp === 0 && c.espOnlyWritten === 0 && c.forgedWebhooks.rejected === c.forgedWebhooks.sent && r.clean;
}
