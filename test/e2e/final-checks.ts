// The checks every e2e scenario ends with: the audit bijection against both simulators' logs,
// inbound entries for every webhook delivery, and no secret anywhere the child wrote.
import { expect } from 'vitest';
import type { SimulatorRequestRecord, WebhookAttempt } from '../../src/testing/index.js';
import type { AdminClient } from './admin.js';
import { auditProblems, dataDirText, secretLeaks, secretNeedles } from './checks.js';
import type { AuditEntry } from './contract.js';
import { type Flagship, sleep } from './harness.js';

/** With `WEIR_E2E_DEBUG=1`, prints what a scenario measured (rates, counts) on stderr. */
export function debug(what: string, value: unknown): void {
  if (process.env.WEIR_E2E_DEBUG === '1') process.stderr.write(`[e2e] ${what}: ${JSON.stringify(value)}\n`);
}

/** Waits until both simulators have no webhook pending, then lets the child finish its work. */
export async function quiesce(f: Flagship, settleMs = 1500): Promise<void> {
  await Promise.race([Promise.all([f.crm.webhooks.idle(), f.esp.webhooks.idle()]), sleep(20_000)]);
  await sleep(settleMs);
}

const AUDIT_FIELDS = ['seq', 'ts', 'direction', 'system', 'request_id', 'method', 'path', 'status', 'outcome', 'attempt', 'duration_ms', 'correlation_id'];
const OUTCOMES = ['ok', 'http_error', 'timeout', 'network_error', 'rejected', 'duplicate_ignored'];

export interface AuditCheckOptions {
  /** Server-logged requests whose audit entry may be missing (in flight at a `kill -9`). */
  readonly mayBeMissing?: (r: SimulatorRequestRecord, system: 'crm' | 'esp') => boolean;
  /** Webhook attempts whose inbound entry may be missing (answered right before a `kill -9`). */
  readonly inboundMayBeMissing?: (a: WebhookAttempt) => boolean;
}

/**
 * Every outbound attempt has exactly one audit entry with its X-Request-Id; every answered delivery an
 * inbound one. The child keeps polling meanwhile, so what the simulators logged is noted first and
 * the audit is read until it covers that: an attempt answered just before has its entry written a
 * moment later (after the response arrives), and one made after it may not have one yet.
 */
export async function expectAuditBijection(f: Flagship, admin: AdminClient, options: AuditCheckOptions = {}): Promise<AuditEntry[]> {
  const before = { crm: new Set(f.crm.log.requests.map((r) => r.seq)), esp: new Set(f.esp.log.requests.map((r) => r.seq)) };
  const hooks = { crm: [...f.crm.log.webhooks], esp: [...f.esp.log.webhooks] };
  const excused = {
    ...options,
    // A request logged after the snapshot may be answered before its entry is written.
    mayBeMissing: (r: SimulatorRequestRecord, system: 'crm' | 'esp') => !before[system].has(r.seq) || (options.mayBeMissing?.(r, system) ?? false),
  };
  const deadline = Date.now() + 5000;
  let audit = await admin.audit();
  let problems = bijectionProblems(f, hooks, audit, excused);
  while (problems.length > 0 && Date.now() < deadline) {
    await sleep(100);
    audit = await admin.audit();
    problems = bijectionProblems(f, hooks, audit, excused);
  }
  expect(audit.length).toBeGreaterThan(0);
  const seqs = audit.map((e) => e.seq);
  expect(new Set(seqs).size, 'audit seq values are unique').toBe(seqs.length);
  for (const e of audit) {
    expect(Object.keys(e), `audit seq ${e.seq} fields`).toEqual(expect.arrayContaining(AUDIT_FIELDS));
    expect(OUTCOMES, `audit seq ${e.seq} outcome`).toContain(e.outcome);
    expect(['outbound', 'inbound'], `audit seq ${e.seq} direction`).toContain(e.direction);
    expect(['crm', 'esp'], `audit seq ${e.seq} system`).toContain(e.system);
    expect(typeof e.request_id === 'string' && e.request_id !== '', `audit seq ${e.seq} request_id`).toBe(true);
  }
  expect(problems.slice(0, 40), `${problems.length} audit problems`).toEqual([]);
  const ids = new Set(audit.map((e) => e.request_id));
  debug('audit', {
    excused: [...f.crm.log.requests, ...f.esp.log.requests].filter((r) => r.requestId !== undefined && !ids.has(r.requestId)).map((r) => [r.at, r.method, r.path.slice(0, 40), r.status]),
    entries: audit.length,
    outbound: { crm: audit.filter((e) => e.direction === 'outbound' && e.system === 'crm').length, esp: audit.filter((e) => e.direction === 'outbound' && e.system === 'esp').length },
    inbound: audit.filter((e) => e.direction === 'inbound').length,
    logged: { crm: f.crm.log.requests.length, esp: f.esp.log.requests.length },
    statusNull: audit.filter((e) => e.status === null).length,
  });
  return audit;
}

/** The audit's gaps against the simulators' logged requests and webhook deliveries. */
function bijectionProblems(
  f: Flagship,
  hooks: { crm: readonly WebhookAttempt[]; esp: readonly WebhookAttempt[] },
  audit: readonly AuditEntry[],
  options: AuditCheckOptions,
): string[] {
  // The live logs: an audit entry of a request made after the snapshot still finds its record.
  const problems = [
    ...auditProblems('crm', f.crm.log.requests, audit, (r) => options.mayBeMissing?.(r, 'crm') ?? false),
    ...auditProblems('esp', f.esp.log.requests, audit, (r) => options.mayBeMissing?.(r, 'esp') ?? false),
  ];
  for (const [system, attempts] of [
    ['crm', hooks.crm],
    ['esp', hooks.esp],
  ] as const) {
    const inbound = new Map<string, number>();
    for (const e of audit) if (e.direction === 'inbound' && e.system === system) inbound.set(e.request_id, (inbound.get(e.request_id) ?? 0) + 1);
    const answered = new Map<string, number>();
    for (const a of attempts) if (typeof a.status === 'number' && !(options.inboundMayBeMissing?.(a) ?? false)) answered.set(a.id, (answered.get(a.id) ?? 0) + 1);
    for (const [id, n] of answered) {
      const got = inbound.get(id) ?? 0;
      if (got < n) problems.push(`${system} webhook ${id}: ${n} deliveries answered, ${got} inbound audit entries`);
    }
  }
  return problems;
}

/** No secret in the audit dump, the child's output or the admin API's other answers; none but the live token chain in the data dir. */
export async function expectNoSecrets(f: Flagship, admin: AdminClient, audit?: readonly AuditEntry[]): Promise<void> {
  const dump = audit ?? (await admin.audit());
  const [conflicts, escalations, metrics] = await Promise.all([admin.request('GET', '/conflicts'), admin.request('GET', '/escalations'), admin.request('GET', '/metrics')]);
  const texts = [
    { where: 'GET /audit', text: JSON.stringify(dump) },
    { where: 'stdout', text: f.weir.stdout },
    { where: 'stderr', text: f.weir.stderr },
    { where: 'GET /conflicts', text: conflicts.text },
    { where: 'GET /escalations', text: escalations.text },
    { where: 'GET /metrics', text: metrics.text },
    { where: 'alerts', text: JSON.stringify(f.alerts.alerts) },
  ];
  expect(secretLeaks(texts, secretNeedles(f.secrets, f.crm))).toEqual([]);
  // The data dir must hold the live refresh token (the contract has it persisted durably before use),
  // so only the static secrets and the initial (spent) refresh token are looked for there.
  expect(secretLeaks(dataDirText(f.dataDir), secretNeedles(f.secrets, f.crm, { live: false }), false)).toEqual([]);
}
