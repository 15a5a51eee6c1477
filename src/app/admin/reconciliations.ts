import { uuidv7 } from '../../internal/ids.js';
import type { Sync } from '../../sync/define.js';
import { reconcile, reconcileReport, type ReconcileReport } from '../../sync/reconcile.js';
import type { App } from '../app.js';
import { json } from '../serve.js';
import { badRequest, conflict, jsonBody, notFound, type AdminHandler } from './respond.js';
import { reportJson, sideNames } from './shapes.js';

/** Runs started through the admin API, remembered in the store so they are listed after a restart. */
const KV = 'weir.admin.reconciliations';
const KEEP_MS = 30 * 86_400_000;
const LISTED = 50;

interface StartedRun {
  readonly sync: string;
  readonly mode: 'dry_run' | 'apply';
  readonly startedAt: number;
}

function emptyReport(id: string, run: StartedRun): ReconcileReport {
  return {
    id, mode: run.mode, state: 'running', startedAt: run.startedAt, finishedAt: null, compared: 0, inSync: 0,
    diffsByClass: { missing_remote: 0, unlinked_remote: 0, missing_link: 0, field_drift: 0, duplicate: 0 },
    repairs: { attempted: 0, succeeded: 0, failed: 0 }, escalationsRaised: 0, apiCalls: { left: 0, right: 0 }, items: [], skipped: 0,
  };
}

/**
 * Reconciliations through the admin API: `POST /reconciliations` starts `reconcile(sync, { mode, runId })`
 * in the background (202 `{ id }`); `GET /reconciliations/:id` reads its stored report (any run of any
 * sync: API, scheduled, CLI); `GET /reconciliations` lists recent API and scheduled runs.
 * @internal
 */
export class AdminReconciliations {
  /** Runs of this process still going, by id. */
  readonly #running = new Map<string, StartedRun & { readonly done: Promise<void> }>();

  constructor(private readonly app: App) {}

  #sync(name: string): Sync {
    const s = this.app.syncs.get(name);
    if (s === undefined) throw notFound(`no sync named ${JSON.stringify(name)}`);
    return s;
  }

  readonly start: AdminHandler = async ({ request }) => {
    const body = await jsonBody(request);
    const mode = body['mode'];
    if (mode !== 'dry_run' && mode !== 'apply') throw badRequest(`"mode" must be "dry_run" or "apply", got ${JSON.stringify(mode ?? null)}`);
    const names = [...this.app.syncs.keys()];
    let name = body['sync'];
    if (name === undefined) {
      if (names.length !== 1) throw badRequest(names.length === 0 ? 'this app has no sync to reconcile' : `name the sync: "sync" is one of ${names.map((n) => JSON.stringify(n)).join(', ')}`);
      name = names[0];
    }
    if (typeof name !== 'string' || !this.app.syncs.has(name)) throw badRequest(`"sync" must be one of ${names.map((n) => JSON.stringify(n)).join(', ')}, got ${JSON.stringify(name)}`);
    const sync = this.#sync(name);
    const busy = [...this.#running.entries()].find(([, r]) => r.sync === sync.name);
    if (busy !== undefined) throw conflict(`a reconciliation of ${sync.name} is running`, { running_id: busy[0] });
    const run: StartedRun = { sync: sync.name, mode, startedAt: this.app.clock.now() };
    const id = uuidv7(run.startedAt);
    await this.app.store.kv.set(KV, id, run, { now: run.startedAt, ttlMs: KEEP_MS });
    const done = reconcile(sync, { mode, runId: id }).then(
      (r) => this.app.log.info('reconciliation finished', { sync: sync.name, id, mode, state: r.state, repairs: r.repairs.attempted }),
      (err: unknown) => this.app.log.warn('reconciliation failed', { sync: sync.name, id, mode, error: err instanceof Error ? err.message : String(err) }),
    ).finally(() => this.#running.delete(id));
    this.#running.set(id, { ...run, done });
    return json(202, { id, sync: sync.name, mode, state: 'running' }, { location: `/reconciliations/${id}` });
  };

  /** The report of a run, or null. */
  async #report(id: string): Promise<{ report: ReconcileReport; sync: Sync } | null> {
    const mine = this.#running.get(id) ?? (await this.app.store.kv.get<StartedRun>(KV, id, this.app.clock.now()))?.value;
    if (mine !== undefined && this.app.syncs.has(mine.sync)) {
      const sync = this.#sync(mine.sync);
      const report = await reconcileReport(sync, id);
      if (report !== null) return { report, sync };
      // Started, no page checkpointed yet.
      if (this.#running.has(id)) return { report: emptyReport(id, mine), sync };
    }
    for (const sync of this.app.syncs.values()) {
      const report = await reconcileReport(sync, id);
      if (report !== null) return { report, sync };
    }
    return null;
  }

  readonly get: AdminHandler = async ({ params }) => {
    const id = params['id'] as string;
    const found = await this.#report(id);
    if (found === null) throw notFound(`no reconciliation ${JSON.stringify(id)}`);
    return reportJson(found.report, found.sync.name, sideNames(found.sync));
  };

  /** `GET /reconciliations`: the latest runs (API and scheduled), newest first, as summaries. */
  readonly list: AdminHandler = async () => {
    const now = this.app.clock.now();
    const runs: { id: string; sync: string; trigger: 'api' | 'schedule'; startedAt: number }[] = [];
    // Keys are UUIDv7 (time-ordered) and listed in key order: page to the end, keep the newest.
    let afterKey: string | undefined;
    for (;;) {
      const page = await this.app.store.kv.list<StartedRun>(KV, { now, limit: 500, ...(afterKey === undefined ? {} : { afterKey }) });
      for (const e of page) runs.push({ id: e.key, sync: e.value.sync, trigger: 'api', startedAt: e.value.startedAt });
      if (runs.length > LISTED) runs.splice(0, runs.length - LISTED);
      if (page.length < 500) break;
      afterKey = page[page.length - 1]?.key;
    }
    for (const [name, schedule] of this.app.reconciliations) {
      for (const r of await schedule.runs()) runs.push({ id: r.runId, sync: name, trigger: 'schedule', startedAt: r.startedAt });
    }
    const out: Record<string, unknown>[] = [];
    for (const r of runs.toSorted((a, b) => b.startedAt - a.startedAt).slice(0, LISTED)) {
      const sync = this.app.syncs.get(r.sync);
      if (sync === undefined) continue;
      const found = await this.#report(r.id);
      if (found === null) continue;
      const { items: _items, ...summary } = reportJson(found.report, sync.name, sideNames(sync));
      out.push({ ...summary, trigger: r.trigger, findings: found.report.items.length });
    }
    return out;
  };
}
