// Invariants checked from outside: the simulators' state and request logs against the admin API's
// audit trail, and the child's output and data dir against every secret it was given.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Contact, CrmSimulator, Customer, EspSimulator, SimulatorRequestRecord } from '../../src/testing/index.js';
import type { AuditEntry } from './contract.js';
import type { Secrets } from './harness.js';

const pathname = (p: string): string => p.split('?')[0] ?? p;

/**
 * The audit bijection for one system's outbound attempts (§4: one entry per attempt, keyed by the
 * X-Request-Id it carried). Every request the server logged carries an X-Request-Id that appears in
 * exactly one outbound audit entry of that system with the same method and path; no outbound
 * request_id repeats; an entry with a status matches the status the server answered; entries the
 * server never logged (refused, reset before reaching it) have status null. `mayBeMissing` excuses
 * requests in flight when the process was killed.
 */
export function auditProblems(system: 'crm' | 'esp', records: readonly SimulatorRequestRecord[], audit: readonly AuditEntry[], mayBeMissing: (r: SimulatorRequestRecord) => boolean = () => false): string[] {
  const problems: string[] = [];
  const outbound = audit.filter((e) => e.direction === 'outbound');
  const byId = new Map<string, AuditEntry[]>();
  for (const e of outbound) byId.set(e.request_id, [...(byId.get(e.request_id) ?? []), e]);
  for (const [id, entries] of byId) if (entries.length > 1) problems.push(`request_id ${id} appears in ${entries.length} outbound audit entries`);
  const logged = new Set<string>();
  for (const r of records) {
    const where = `${system} #${r.seq} ${r.method} ${r.path} → ${r.status}`;
    if (r.requestId === undefined || r.requestId === '') {
      problems.push(`${where}: no X-Request-Id`);
      continue;
    }
    if (logged.has(r.requestId)) problems.push(`${where}: X-Request-Id ${r.requestId} sent on two attempts`);
    logged.add(r.requestId);
    const entries = byId.get(r.requestId) ?? [];
    const e = entries[0];
    if (e === undefined) {
      if (!mayBeMissing(r)) problems.push(`${where}: X-Request-Id ${r.requestId} has no audit entry`);
      continue;
    }
    if (e.system !== system) problems.push(`${where}: audit entry seq ${e.seq} says system ${e.system}`);
    if (e.method.toUpperCase() !== r.method.toUpperCase() || pathname(e.path) !== pathname(r.path)) problems.push(`${where}: audit entry seq ${e.seq} says ${e.method} ${e.path}`);
    if (e.status !== null && e.status !== r.status) problems.push(`${where}: audit entry seq ${e.seq} says status ${e.status}`);
    if ((r.status === 'reset' || r.status === 'dropped') && e.status !== null) problems.push(`${where}: audit status should be null`);
  }
  for (const e of outbound) {
    if (e.system !== system || logged.has(e.request_id)) continue;
    if (e.status !== null) problems.push(`audit seq ${e.seq} ${e.method} ${e.path} status ${e.status}: answered, yet the ${system} server never logged request ${e.request_id}`);
  }
  return problems;
}

/** Outbound audit entries of a system (for counting). */
export const outboundOf = (audit: readonly AuditEntry[], system: 'crm' | 'esp'): AuditEntry[] => audit.filter((e) => e.direction === 'outbound' && e.system === system);

/** Every file under `dir`, as latin1 text (SQLite files included). */
export function dataDirText(dir: string): { where: string; text: string }[] {
  const out: { where: string; text: string }[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ where: p, text: readFileSync(p).toString('latin1') });
    }
  };
  walk(dir);
  return out;
}

/** Rotated CRM refresh tokens and access tokens as the simulator mints them. */
export const TOKEN_PATTERNS: readonly { name: string; re: RegExp }[] = [
  { name: 'a rotated CRM refresh token', re: /\brt_\d+_[0-9a-f]{12}\b/ },
  { name: 'a CRM access token', re: /\bat_\d+_[0-9a-f]{12}\b/ },
];

/** The secrets to look for, by name. `live: false` leaves out the refresh token the CRM accepts now. */
export function secretNeedles(secrets: Secrets, crm: CrmSimulator, options: { live?: boolean } = {}): [string, string][] {
  return [
    ['CRM client secret', secrets.crmClientSecret],
    ['initial CRM refresh token', secrets.crmRefreshToken],
    ...(options.live === false ? [] : [['current CRM refresh token', crm.state.refreshToken] as [string, string]]),
    ['CRM webhook secret', secrets.crmWebhookSecret],
    ['ESP API key', secrets.espApiKey],
    ['ESP webhook secret', secrets.espWebhookSecret],
    ['admin token', secrets.adminToken],
  ];
}

/** Which needles (and, with `patterns`, which minted CRM tokens) appear in which texts. */
export function secretLeaks(texts: readonly { where: string; text: string }[], needles: readonly [string, string][], patterns = true): string[] {
  const leaks: string[] = [];
  for (const { where, text } of texts) {
    for (const [name, value] of needles) {
      const at = text.indexOf(value);
      if (at >= 0) leaks.push(`${name} in ${where}: …${text.slice(Math.max(0, at - 80), at)}<SECRET>…`);
    }
    if (!patterns) continue;
    for (const { name, re } of TOKEN_PATTERNS) {
      const m = re.exec(text);
      if (m !== null) leaks.push(`${name} in ${where}: …${text.slice(Math.max(0, m.index - 80), m.index)}<TOKEN>…`);
    }
  }
  return leaks;
}

export function contactsOf(esp: EspSimulator, crmId: string): Contact[] {
  return esp.state.contacts.filter((c) => c.external_id === crmId);
}

export function customer(crm: CrmSimulator, id: string): Customer {
  const c = crm.state.customers.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no CRM customer ${id}`);
  return c;
}

export function contact(esp: EspSimulator, id: string): Contact | undefined {
  return esp.state.contacts.find((x) => x.id === id);
}

/** R1 for one customer: exactly one subscribed contact with the CRM's lowercased email and name. */
export function r1Holds(c: Customer, contacts: readonly Contact[]): boolean {
  const mine = contacts.filter((x) => x.external_id === c.id);
  const one = mine[0];
  return mine.length === 1 && one !== undefined && one.subscription === 'subscribed' && one.email === c.email.toLowerCase() && one.name === c.name;
}

/**
 * Global invariants: R1 for every opted-in active customer (but `skip`, and those whose contact
 * its user unsubscribed: R7), R3 for the others that have a contact, no external_id on two contacts, no email on two contacts, no consent violation.
 */
export function syncProblems(crm: CrmSimulator, esp: EspSimulator, skip: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const contacts = esp.state.contacts;
  for (const c of crm.state.customers) {
    if (skip.has(c.id)) continue;
    const mine = contacts.filter((x) => x.external_id === c.id);
    if (c.status === 'active' && c.marketing_opt_in) {
      // R7: a contact its user unsubscribed stays so (until the person opts in again on the ESP).
      const userUnsubscribed = mine.length === 1 && mine[0]?.subscription === 'unsubscribed' && mine[0].unsubscribe_origin === 'user';
      if (!userUnsubscribed && !r1Holds(c, contacts)) problems.push(`R1 ${c.id} <${c.email}> "${c.name}": contacts ${JSON.stringify(mine.map((m) => [m.id, m.email, m.name, m.subscription]))}`);
    } else if (mine.some((m) => m.subscription !== 'unsubscribed')) {
      problems.push(`R3 ${c.id} (${c.status}, opt_in ${c.marketing_opt_in}) has a subscribed contact`);
    }
  }
  const ext = new Map<string, number>();
  const emails = new Map<string, number>();
  for (const c of contacts) {
    if (c.external_id !== null) ext.set(c.external_id, (ext.get(c.external_id) ?? 0) + 1);
    emails.set(c.email.toLowerCase(), (emails.get(c.email.toLowerCase()) ?? 0) + 1);
  }
  for (const [id, n] of ext) if (n > 1) problems.push(`duplicate: ${n} ESP contacts with external_id ${id}`);
  for (const [e, n] of emails) if (n > 1) problems.push(`duplicate: ${n} ESP contacts with email ${e}`);
  for (const v of esp.state.consentViolations) problems.push(`consent violation: ${v.contactId} resubscribed over the API after a user unsubscribe`);
  return problems;
}

/** Requests per 1-second bucket within [from, to) (simulator clock, ms). */
export function perSecond(records: readonly SimulatorRequestRecord[], from: number, to: number): number[] {
  const buckets = Array.from({ length: Math.max(1, Math.ceil((to - from) / 1000)) }, () => 0);
  for (const r of records) if (r.at >= from && r.at < to) buckets[Math.floor((r.at - from) / 1000)]! += 1;
  return buckets;
}

/** Names of the metrics (`# TYPE` lines or samples) in a Prometheus text. */
export function metricNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(?:# TYPE )?([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (m?.[1] !== undefined && !line.startsWith('# HELP')) names.add(m[1]);
  }
  return names;
}

/** The value of one sample, e.g. `weir_circuit_state{system="esp"}`, or undefined. */
export function metricValue(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m === null || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) return Number(m[3]);
  }
  return undefined;
}
