import type { SyncEscalationRecord } from '../../store/sync.js';
import type { Sync } from '../../sync/define.js';
import type { EscalationChoice } from '../../sync/resolve.js';
import type { App } from '../app.js';
import { badRequest, conflict, intParam, jsonBody, notFound, strParam, type AdminHandler } from './respond.js';
import { conflictJson, escalationJson, sideNames, sideOf } from './shapes.js';

/** The syncs a request is about: all, or the one `?sync=` names (404 when unknown). */
function selected(app: App, url: URL): Sync[] {
  const name = strParam(url, 'sync');
  if (name === undefined) return [...app.syncs.values()];
  const s = app.syncs.get(name);
  if (s === undefined) throw notFound(`no sync named ${JSON.stringify(name)}`);
  return [s];
}

/** `GET /conflicts` → `[Conflict]`, newest first (`?sync=`, `?limit=` default 200, at most 1000). */
export const listConflicts: AdminHandler = async ({ app, url }) => {
  const limit = intParam(url, 'limit', { min: 1, max: 1000 }) ?? 200;
  const all: Record<string, unknown>[] = [];
  const at: number[] = [];
  for (const sync of selected(app, url)) {
    const names = sideNames(sync);
    for (const c of await sync.conflicts({ limit })) {
      all.push(conflictJson(c, names));
      at.push(c.detectedAt);
    }
  }
  return all.map((c, i) => ({ c, t: at[i] as number })).toSorted((a, b) => b.t - a.t).slice(0, limit).map((x) => x.c);
};

/** `GET /escalations?state=open|resolved` → `[Escalation]`, oldest first (`?sync=`, `?limit=` default 500, at most 1000). */
export const listEscalations: AdminHandler = async ({ app, url }) => {
  const state = strParam(url, 'state', ['open', 'resolved'] as const);
  const limit = intParam(url, 'limit', { min: 1, max: 1000 }) ?? 500;
  const all: { e: SyncEscalationRecord; json: Record<string, unknown> }[] = [];
  for (const sync of selected(app, url)) {
    const names = sideNames(sync);
    for (const e of await sync.escalations.list({ ...(state === undefined ? {} : { state }), limit })) all.push({ e, json: escalationJson(e, names) });
  }
  return all.toSorted((a, b) => a.e.createdAt - b.e.createdAt || a.e.seq - b.e.seq).slice(0, limit).map((x) => x.json);
};

async function findEscalation(app: App, id: string): Promise<{ sync: Sync; escalation: SyncEscalationRecord }> {
  const any = app.syncs.values().next().value;
  const escalation = any === undefined ? null : await any.escalations.get(id);
  const sync = escalation === null ? undefined : app.syncs.get(escalation.sync);
  if (escalation === null || sync === undefined) throw notFound(`no escalation ${JSON.stringify(id)}`);
  return { sync, escalation };
}

/** `GET /escalations/:id` → `Escalation`. */
export const getEscalation: AdminHandler = async ({ app, params }) => {
  const { sync, escalation } = await findEscalation(app, params['id'] as string);
  return escalationJson(escalation, sideNames(sync));
};

/**
 * `POST /escalations/:id/resolve {choose: "crm"|"esp"|"value"|"dismiss", value?}` → the resolved
 * `Escalation`. `crm`/`esp` are the sync's side names (its adapters' names).
 */
export const resolveEscalation: AdminHandler = async ({ app, params, request }) => {
  const body = await jsonBody(request);
  const { sync, escalation } = await findEscalation(app, params['id'] as string);
  const names = sideNames(sync);
  const allowed = [names.left, names.right, 'value', 'dismiss'];
  const choose = body['choose'];
  if (typeof choose !== 'string' || !allowed.includes(choose)) {
    throw badRequest(`"choose" must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${JSON.stringify(choose ?? null)}`);
  }
  if (choose === 'value' && !('value' in body)) throw badRequest('"value" is required when "choose" is "value"');
  if (escalation.state !== 'open') throw conflict(`escalation ${escalation.id} is already resolved`, { state: escalation.state });
  const side = sideOf(names, choose);
  const choice: EscalationChoice = side !== undefined ? { choose: side } : choose === 'value' ? { choose: 'value', value: body['value'] } : { choose: 'dismiss' };
  const resolved = await sync.escalations.resolve(escalation.id, choice);
  return escalationJson(resolved, names);
};

/** `GET /syncs` → per sync: sides, lag, pending changes, open escalations, clock-skew estimates. */
export const listSyncs: AdminHandler = async ({ app }) => {
  const stats = await app.queue.stats();
  const now = app.clock.now();
  const out: Record<string, unknown>[] = [];
  for (const sync of app.syncs.values()) {
    const names = sideNames(sync);
    const t = stats.find((s) => s.topic === sync.topic);
    const m = await sync.metrics();
    const skew = (s: typeof m.skew.left) => ({ offset_ms: Math.round(s.offsetMs), uncertainty_ms: Math.round(s.uncertaintyMs), samples: s.samples });
    const schedule = app.reconciliations.get(sync.name);
    const last = schedule === undefined ? undefined : (await schedule.runs())[0];
    out.push({
      name: sync.name,
      topic: sync.topic,
      sides: { left: names.left, right: names.right },
      lag_ms: t?.oldestReadyAt == null ? 0 : Math.max(0, now - t.oldestReadyAt),
      pending: (t?.ready ?? 0) + (t?.scheduled ?? 0) + (t?.active ?? 0) + (t?.waiting ?? 0),
      blocked: t?.blocked ?? 0,
      escalations_open: m.escalationsOpen,
      oldest_escalation_age_ms: m.oldestEscalationAgeMs,
      skew: { [names.left]: skew(m.skew.left), [names.right]: skew(m.skew.right) },
      last_scheduled_reconciliation: last === undefined ? null : { id: last.runId, state: last.state, started_at: new Date(last.startedAt).toISOString() },
    });
  }
  return out;
};
