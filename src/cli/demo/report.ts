import { formatDuration } from '../format.js';
import type { FlagshipDemoResult } from './flagship.js';
import type { ReconcileSummary } from './proof.js';

const sec = (ms: number): string => `${(ms / 1000).toFixed(1)}s`.padStart(6);
const kv = (o: Readonly<Record<string, number>>): string =>
  Object.entries(o)
    .filter(([, v]) => v > 0)
    .toSorted(([, a], [, b]) => b - a)
    .map(([k, v]) => `${k} ${v}`)
    .join(' · ') || 'none';
const mark = (ok: boolean): string => (ok ? 'ok  ' : 'FAIL');

function reconcileLine(label: string, r: ReconcileSummary): string {
  return `  ${label.padEnd(10)} compared ${r.compared} · diffs ${kv(r.diffs)} · repairs ${r.repairs.succeeded}/${r.repairs.attempted} (${r.repairs.failed} failed) · escalations raised ${r.escalationsRaised}`;
}

/** The human report of the flagship demo: timeline, what Weir did, and the proof. */
export function formatFlagshipReport(r: FlagshipDemoResult): string {
  const s = r.stats;
  const c = r.checks;
  const out: string[] = [];
  out.push(
    `Weir flagship demo: CRM ↔ ESP sync "${r.sync}", seed ${r.seed}, ${r.customers} customers, ${formatDuration(r.durationMs)} of faults, done in ${formatDuration(r.elapsedMs)}.`,
    '',
    'Timeline',
  );
  for (const p of r.phases) out.push(`  ${sec(p.fromMs)} – ${sec(p.toMs).trim().padEnd(6)} ${p.name}`);
  out.push('', 'What was thrown at it');
  for (const e of r.events) out.push(`  ${sec(e.atMs)}  ${e.tag.padEnd(8)} ${e.description}`);

  const hooks = s.events;
  out.push(
    '',
    'What Weir did',
    `  user actions      CRM ${s.userActions.crm}, ESP ${s.userActions.esp} (${kv(s.userActions.byKind)})`,
    `  webhooks          emitted CRM ${hooks.crm.emitted}, ESP ${hooks.esp.emitted}; sent twice ${hooks.crm.duplicated + hooks.esp.duplicated}, never sent ${hooks.crm.lost + hooks.esp.lost} (polling caught up)`,
    `                    deliveries received ${hooks.received}, redeliveries ignored ${hooks.duplicatesIgnored}, rejected ${hooks.rejected}`,
    `  API calls         CRM ${s.apiCalls.crm.requests} (${kv(s.apiCalls.crm.byStatus)})`,
    `                    ESP ${s.apiCalls.esp.requests} (${kv(s.apiCalls.esp.byStatus)})`,
    `  retries           ${s.retries.failedAttempts} failed attempts (429, 5xx, timeouts, resets), each retried: ${s.retries.inCall} in the call, the rest rescheduled by the queue, never before a Retry-After`,
    `  CRM tokens        ${s.crmTokenRefreshes} refreshes with single-use rotating refresh tokens`,
    `  duplicates prevented  ${s.duplicatesPrevented.webhookRedeliveries} webhook redeliveries · ${s.duplicatesPrevented.idempotentReplays} creates replayed by Idempotency-Key · ${s.duplicatesPrevented.adoptedOnConflict} adopted on 409 email_exists`,
    `  conflicts         ${kv(s.conflicts)}`,
    `  escalations       ${kv(count(s.escalations.map((e) => `${e.kind} (${e.state})`)))}`,
    `  dead letters      ${s.deadLetters}`,
  );
  const breaker = r.breaker.map((b) => `${b.system} ${b.from}→${b.to} at ${(b.atMs / 1000).toFixed(1)}s`);
  out.push(`  circuit breaker   ${breaker.length === 0 ? 'never opened' : breaker.join(', ')}`);
  out.push(`  alerts            ${r.stats.alerts.length === 0 ? 'none' : r.stats.alerts.map((a) => `${a.name}${a.system === undefined ? '' : `(${a.system})`} ${a.state}`).join(', ')}`);
  out.push(`  backlog drained   ${r.settle.pending === 0 ? `${formatDuration(r.settle.ms)} after the faults stopped` : `not within ${formatDuration(r.settle.ms)} (${r.settle.pending} left)`}`);
  out.push('', 'Reconciliation', reconcileLine('apply', r.reconciliation.apply), reconcileLine('dry run', r.reconciliation.check));

  const held = kv(c.heldForAPerson);
  out.push(
    '',
    `Proof (from the simulators' own state: ${c.customers} customers, ${c.espContacts} ESP contacts)`,
    `  ${mark(c.lost === 0)} lost = ${c.lost}: every opted-in active customer has exactly one subscribed ESP contact with its email and name`,
    `  ${mark(c.duplicated === 0)} duplicated = ${c.duplicated}: no customer has two ESP contacts`,
    `  ${mark(c.wronglySubscribed === 0)} lost or opted-out customers subscribed = ${c.wronglySubscribed}`,
    `  ${mark(c.consentViolations === 0)} consent violations = ${c.consentViolations}: no contact the person unsubscribed was resubscribed`,
    `  ${mark(c.abuse.crm + c.abuse.esp === 0)} abuse = ${c.abuse.crm + c.abuse.esp}: nothing sent before a Retry-After allowed it`,
    `  ${mark(c.espOnlyWritten === 0)} ESP-only contacts written = ${c.espOnlyWritten}: contacts never linked are never touched`,
    `  ${mark(c.forgedWebhooks.rejected === c.forgedWebhooks.sent)} forged or stale webhooks refused = ${c.forgedWebhooks.rejected} of ${c.forgedWebhooks.sent}`,
    `  ${mark(r.reconciliation.clean)} reconciliation clean: the dry run after the apply found nothing to repair`,
    `  held for a person (open escalations, by design): ${held}`,
  );
  if (c.problems.length > 0) out.push('', 'Problems', ...c.problems.map((p) => `  ${p}`));
  out.push('', r.ok ? 'PROOF HOLDS: nothing lost, nothing duplicated.' : 'PROOF FAILED: see the problems above.');
  out.push(`Data: ${r.dataDir} (app log: ${r.logFile})`);
  return `${out.join('\n')}\n`;
}

function count(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i] = (out[i] ?? 0) + 1;
  return out;
}
