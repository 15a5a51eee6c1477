import { InvalidOptionError } from '../errors.js';
import { uuidv7 } from '../internal/ids.js';
import type { Sync } from './define.js';
import { processChange, syncLinked } from './engine.js';
import { raiseRecordEscalation } from './escalations.js';
import type { WorkContext } from './links.js';
import { orderingKey, type SyncRuntime } from './runtime.js';
import type { SideHttp } from './side-http.js';
import type { SyncSide } from './types.js';

export type DiffClass = 'missing_remote' | 'unlinked_remote' | 'missing_link' | 'field_drift' | 'duplicate';

/** One finding of a reconciliation, and what was (or, in a dry run, would be) done. */
export interface ReconcileItem {
  readonly class: DiffClass;
  readonly leftId?: string;
  readonly rightId?: string;
  readonly field?: string;
  /** `create`, `adopt`, `write_left`, `write_right`, `escalate:<kind>`, `report_only`, `skipped_in_flight`, `failed`. */
  readonly action: string;
}

/** The report of a reconciliation (the contract's `Report`, in camelCase). */
export interface ReconcileReport {
  readonly id: string;
  readonly mode: 'dry_run' | 'apply';
  state: 'running' | 'done' | 'failed';
  readonly startedAt: number;
  finishedAt: number | null;
  compared: number;
  inSync: number;
  readonly diffsByClass: Record<DiffClass, number>;
  readonly repairs: { attempted: number; succeeded: number; failed: number };
  escalationsRaised: number;
  readonly apiCalls: { left: number; right: number };
  readonly items: ReconcileItem[];
  /** Records skipped because work was in flight, still in flight at the end. */
  skipped: number;
  error?: string;
}

/** Options of {@link reconcile}. */
export interface ReconcileOptions {
  readonly mode: 'dry_run' | 'apply';
  /** Resume this run from its last checkpoint (after a crash). Default: a new run. */
  readonly runId?: string;
  /** Reconciliation's own rate budget per side, calls per second. Default unlimited. */
  readonly perSecond?: number;
  /** Findings kept in `items`. Default 1000. */
  readonly maxItems?: number;
  /** Called with the report so far after each checkpoint (every page) and at the end; for progress displays. */
  readonly onProgress?: (report: Readonly<ReconcileReport>) => void;
}

interface RunState {
  report: ReconcileReport;
  phase: 'left' | 'right' | 'recheck' | 'done';
  cursor: string | null;
  pending: string[];
}

const KV = 'weir.sync.reconcile';

/**
 * Reconciles a sync: reads both sides completely, page by page, checkpointing after each page (so
 * `reconcile(sync, { mode, runId })` resumes a crashed run); compares normalised projections;
 * classifies differences; repairs through the same policies in `apply` mode (never a blind
 * overwrite: deletions and duplicates escalate; unlinked remote records are only reported); skips
 * records with work in flight and re-checks them at the end. A dry run writes nothing but its report.
 * @throws InvalidOptionError on bad options; rethrows a failure after recording the run as `failed`.
 */
export async function reconcile(sync: Sync, options: ReconcileOptions): Promise<ReconcileReport> {
  const rt = sync.rt;
  if (options.mode !== 'dry_run' && options.mode !== 'apply') throw new InvalidOptionError('mode', "'dry_run' or 'apply'", options.mode);
  const id = options.runId ?? uuidv7();
  const key = `${rt.name}:${id}`;
  const saved = await rt.store.kv.get<RunState>(KV, key, rt.clock.now());
  const st: RunState = saved?.value ?? {
    report: {
      id, mode: options.mode, state: 'running', startedAt: rt.clock.now(), finishedAt: null, compared: 0, inSync: 0,
      diffsByClass: { missing_remote: 0, unlinked_remote: 0, missing_link: 0, field_drift: 0, duplicate: 0 },
      repairs: { attempted: 0, succeeded: 0, failed: 0 }, escalationsRaised: 0, apiCalls: { left: 0, right: 0 }, items: [], skipped: 0,
    },
    phase: 'left', cursor: null, pending: [],
  };
  const r = st.report;
  if (st.phase === 'done') return r; // already finished (e.g. a redelivered scheduled run)
  r.state = 'running';
  delete r.error;
  const apply = r.mode === 'apply';
  const http = { left: paced(rt.http.left, rt, options.perSecond), right: paced(rt.http.right, rt, options.perSecond) };
  const w: WorkContext = { http, correlationId: `reconcile:${id}` };
  const maxItems = options.maxItems ?? 1000;
  const item = (i: ReconcileItem): void => {
    r.diffsByClass[i.class]++;
    if (r.items.length < maxItems) r.items.push(i);
  };
  const save = async (): Promise<void> => {
    r.apiCalls.left += http.left.calls;
    r.apiCalls.right += http.right.calls;
    http.left.calls = http.right.calls = 0;
    await rt.store.kv.set(KV, key, st, { now: rt.clock.now() });
    options.onProgress?.(r);
  };
  const repair = async (f: () => Promise<unknown>): Promise<boolean> => {
    r.repairs.attempted++;
    try {
      await f();
      r.repairs.succeeded++;
      return true;
    } catch {
      r.repairs.failed++;
      return false;
    }
  };
  const busy = async (ids: readonly string[]): Promise<Set<string>> => {
    const keys = new Map<string, string>();
    for (const x of ids) keys.set(orderingKey('left', x, await rt.store.sync.getLink(rt.name, 'left', x)), x);
    return new Set((await rt.store.sync.busyKeys(rt.topic, [...keys.keys()])).map((k) => keys.get(k) as string));
  };
  const checkLeft = async (record: unknown): Promise<void> => {
    const la = rt.adapters.left;
    const leftId = la.id(record);
    r.compared++;
    const link = await rt.store.sync.getLink(rt.name, 'left', leftId);
    if (link === null) {
      if (rt.create.right?.(la.project(record), record) !== true) return void r.inSync++;
      const ra = rt.adapters.right;
      let found = ra.find === undefined ? null : await ra.find({ externalId: leftId }, { http: http.right });
      const nk = la.naturalKey?.(record);
      if (found === null && nk !== undefined && ra.find !== undefined) found = await ra.find({ naturalKey: nk }, { http: http.right });
      const cls: DiffClass = found === null ? 'missing_remote' : 'missing_link';
      const action = found === null ? 'create' : 'adopt';
      item({ class: cls, leftId, ...(found === null ? {} : { rightId: ra.id(found) }), action });
      if (apply) await repair(() => processChange(rt, { side: 'left', id: leftId }, w));
      return;
    }
    if (link.state !== 'linked' || link.rightId === null) return void r.inSync++;
    const right = await rt.adapters.right.get(link.rightId, { http: http.right });
    if (right === null) {
      item({ class: 'missing_remote', leftId, rightId: link.rightId, action: 'escalate:remote_deleted' });
      if (apply) {
        r.escalationsRaised++;
        await raiseRecordEscalation(rt, link, 'remote_deleted', { side: 'right', id: link.rightId, found: 'reconciliation' });
      }
      return;
    }
    const dry = await syncLinked(rt, link, { left: record, right }, w, { dryRun: true });
    const fields = new Set([...Object.keys(dry.plan.writes.left), ...Object.keys(dry.plan.writes.right)]);
    if (fields.size === 0 && dry.plan.escalations.length === 0) return void r.inSync++;
    for (const f of fields) {
      const action = f in dry.plan.writes.left ? (f in dry.plan.writes.right ? 'write_both' : 'write_left') : 'write_right';
      item({ class: 'field_drift', leftId, rightId: link.rightId, field: f, action });
    }
    for (const e of dry.plan.escalations) item({ class: 'field_drift', leftId, rightId: link.rightId, field: e.field, action: `escalate:${e.kind}` });
    if (apply) {
      r.escalationsRaised += dry.plan.escalations.length;
      await repair(() => syncLinked(rt, link, { left: record, right }, w, {}));
    }
  };
  const seenKeys = async (nk: string, rightId: string): Promise<string | null> => {
    const entry = await rt.store.kv.set(KV, `${key}:nk:${nk}`, rightId, { now: rt.clock.now(), ifVersion: 0, ttlMs: 86_400_000 });
    if (entry !== null) return null;
    return (await rt.store.kv.get<string>(KV, `${key}:nk:${nk}`, rt.clock.now()))?.value ?? null;
  };
  const checkRight = async (record: unknown): Promise<void> => {
    const ra = rt.adapters.right;
    const rightId = ra.id(record);
    const nk = ra.naturalKey?.(record);
    if (nk !== undefined) {
      const first = await seenKeys(nk, rightId);
      if (first !== null && first !== rightId) {
        item({ class: 'duplicate', rightId, action: 'escalate:duplicate' });
        if (apply) {
          const { created } = await rt.store.sync.openEscalation({
            id: uuidv7(), sync: rt.name, dedupKey: `duplicate:${nk}`, linkId: null, kind: 'duplicate', leftId: null, rightId,
            field: null, policy: null, createdAt: rt.clock.now(), detail: { naturalKey: nk, ids: [first, rightId] },
          });
          if (created) r.escalationsRaised++;
        }
      }
    }
    if ((await rt.store.sync.getLink(rt.name, 'right', rightId)) !== null) return;
    r.compared++;
    item({ class: 'unlinked_remote', rightId, action: 'report_only' });
  };
  try {
    while (st.phase === 'left' || st.phase === 'right') {
      const side: SyncSide = st.phase;
      const page = await rt.adapters[side].list({ since: null, cursor: st.cursor, limit: rt.pageSize }, { http: http[side] });
      if (side === 'left') {
        const inFlight = await busy(page.items.map((x) => rt.adapters.left.id(x)));
        for (const rec of page.items) {
          const lid = rt.adapters.left.id(rec);
          if (inFlight.has(lid)) st.pending.push(lid);
          else await checkLeft(rec);
        }
      } else {
        for (const rec of page.items) await checkRight(rec);
      }
      st.cursor = page.next;
      if (page.next === null) st.phase = side === 'left' ? 'right' : 'recheck';
      await save();
    }
    if (st.phase === 'recheck') {
      const still = await busy(st.pending);
      for (const lid of st.pending) {
        if (still.has(lid)) {
          r.skipped++;
          item({ class: 'field_drift', leftId: lid, action: 'skipped_in_flight' });
          continue;
        }
        const rec = await rt.adapters.left.get(lid, { http: http.left });
        if (rec !== null) await checkLeft(rec);
      }
      st.pending = [];
      st.phase = 'done';
      r.state = 'done';
      r.finishedAt = rt.clock.now();
      await save();
    }
    return r;
  } catch (err) {
    // Record the failure on the last checkpoint (not on the half-done page, which a resume redoes).
    const last = (await rt.store.kv.get<RunState>(KV, key, rt.clock.now()).catch(() => null))?.value ?? st;
    last.report.state = 'failed';
    last.report.error = (err as Error).message;
    last.report.finishedAt = rt.clock.now();
    await rt.store.kv.set(KV, key, last, { now: rt.clock.now() }).catch(() => undefined);
    throw err;
  }
}

/** Reads a stored report. */
export async function reconcileReport(sync: Sync, runId: string): Promise<ReconcileReport | null> {
  const e = await sync.rt.store.kv.get<RunState>(KV, `${sync.rt.name}:${runId}`, sync.rt.clock.now());
  return e?.value.report ?? null;
}

function paced(base: SideHttp, rt: SyncRuntime, perSecond: number | undefined): SideHttp {
  if (perSecond === undefined) return base.fork();
  if (!(perSecond > 0)) throw new InvalidOptionError('perSecond', 'a number > 0', perSecond);
  const gapMs = 1000 / perSecond;
  let next = 0;
  return base.fork(async () => {
    const now = rt.clock.now();
    const at = Math.max(now, next);
    next = at + gapMs;
    if (at > now) await rt.clock.sleep(at - now);
  });
}
