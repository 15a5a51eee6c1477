import type { Connection } from '../../http/connection.js';
import type { Alert } from '../../observability/alerts.js';
import { toAuditJson } from '../../observability/audit.js';
import { intParam, iso, strParam, type AdminHandler } from './respond.js';

/**
 * `GET /audit?after=<seq>&limit=<n>` → `{ entries: [AuditEntry], next }`, oldest first; `next` is the
 * last entry's seq (pass it as `after`), null when there is none. `before=<seq>` (or `order=desc`)
 * pages backwards, newest first. Filters: `system`, `direction`, `outcome`, `correlation_id`, `request_id`.
 */
export const listAudit: AdminHandler = async ({ app, url }) => {
  const after = intParam(url, 'after', { min: 0 });
  const before = intParam(url, 'before', { min: 1 });
  const limit = intParam(url, 'limit', { min: 1, max: 1000 }) ?? 100;
  const order = strParam(url, 'order', ['asc', 'desc'] as const) ?? (before !== undefined && after === undefined ? 'desc' : 'asc');
  const system = strParam(url, 'system');
  const direction = strParam(url, 'direction', ['inbound', 'outbound'] as const);
  const outcome = strParam(url, 'outcome');
  const correlationId = strParam(url, 'correlation_id');
  const requestId = strParam(url, 'request_id');
  const records = await app.audit.query({
    limit,
    order,
    ...(after === undefined ? {} : { afterSeq: after }),
    ...(before === undefined ? {} : { beforeSeq: before }),
    ...(system === undefined ? {} : { system }),
    ...(direction === undefined ? {} : { direction }),
    ...(outcome === undefined ? {} : { outcome }),
    ...(correlationId === undefined ? {} : { correlationId }),
    ...(requestId === undefined ? {} : { requestId }),
  });
  const entries = records.map(toAuditJson);
  return { entries, next: entries[entries.length - 1]?.seq ?? null };
};

/** A base URL without credentials, query or fragment. */
function safeUrl(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

function connectionJson(c: Connection): Record<string, unknown> {
  const s = c.state();
  const l = s.limits;
  return {
    name: s.name,
    base_url: safeUrl(c.baseUrl),
    breaker: s.breaker ?? null,
    held_until: l.heldUntil > 0 ? iso(l.heldUntil) : null,
    hold_source: l.holdSource ?? null,
    rate_limit: {
      limit: l.limit ?? null,
      remaining: l.remaining ?? null,
      reset_at: iso(l.resetAt),
      per_second: l.perSecond ?? null,
      tokens: l.tokens === undefined ? null : Math.floor(l.tokens),
      waiting: l.waiting,
    },
    bulkhead: s.bulkhead ?? null,
    retry_budget: s.retryBudget === undefined ? null : { calls: s.retryBudget.calls, retries: s.retryBudget.retries, allowed: Math.floor(s.retryBudget.allowed) },
  };
}

/** `GET /connections` → each registered connection: base URL, breaker state, rate-limit budget, hold, bulkhead, retry budget. */
export const listConnections: AdminHandler = async ({ app }) => [...app.connections.values()].map(connectionJson);

/** `GET /series?since=<epoch ms>` → `{ bucket_ms, points }`: requests, errors, p50/p95 latency per system per bucket (default: the last 10 minutes). */
export const listSeries: AdminHandler = async ({ app, url }) => {
  const now = app.clock.now();
  const since = intParam(url, 'since', { min: 0 }) ?? now - 600_000;
  return {
    now,
    bucket_ms: app.series.bucketMs,
    points: app.series.points(since).map((p) => ({ t: p.t, system: p.system, requests: p.requests, errors: p.errors, p50_ms: p.p50Ms, p95_ms: p.p95Ms })),
  };
};

function alertJson(a: Alert): Record<string, unknown> {
  return { name: a.name, state: a.state, ...(a.system === undefined ? {} : { system: a.system }), at: iso(a.at), detail: a.detail };
}

/** `GET /alerts` → `{ active, recent }`: alerts firing now, and the latest transitions sent, newest first. */
export const listAlerts: AdminHandler = async ({ app }) => ({
  active: app.alerts.active().map(alertJson),
  recent: app.recentAlerts.toReversed().map(alertJson),
});

/** `GET /tasks` → the periodic tasks: interval, last run, last error, runs. */
export const listTasks: AdminHandler = async ({ app }) =>
  [...app.tasks.values()].map((t) => ({ name: t.name, every_ms: t.everyMs, last_run_at: iso(t.lastRunAt), last_error: t.lastError, runs: t.runs }));

/** `GET /overview` → the dashboard's cards: queue depth, dead letters, open escalations, sync lag, alerts, breakers. */
export const overview: AdminHandler = async ({ app }) => {
  const now = app.clock.now();
  const stats = await app.queue.stats();
  let depth = 0;
  let oldest: number | null = null;
  for (const s of stats) {
    depth += s.ready + s.scheduled + s.waiting + s.active;
    if (s.oldestReadyAt !== null) oldest = oldest === null ? s.oldestReadyAt : Math.min(oldest, s.oldestReadyAt);
  }
  let escalationsOpen = 0;
  let lagMs = 0;
  for (const sync of app.syncs.values()) {
    escalationsOpen += (await sync.metrics()).escalationsOpen;
    const t = stats.find((s) => s.topic === sync.topic);
    if (t?.oldestReadyAt != null) lagMs = Math.max(lagMs, now - t.oldestReadyAt);
  }
  const breakers = [...app.connections.values()].map((c) => c.state().breaker);
  return {
    name: app.name,
    now,
    started_at: iso(app.startedAt),
    uptime_ms: Math.max(0, now - app.startedAt),
    queue_depth: depth,
    oldest_ready_age_ms: oldest === null ? null : Math.max(0, now - oldest),
    dead_letters: await app.queue.deadLetters.count(),
    escalations_open: escalationsOpen,
    sync_lag_ms: lagMs,
    alerts_active: app.alerts.active().length,
    connections: breakers.length,
    breakers_open: breakers.filter((b) => b === 'open' || b === 'half-open').length,
    syncs: [...app.syncs.keys()],
  };
};
