import type { SyncConflictRecord, SyncEscalationRecord } from '../../store/sync.js';
import type { Sync } from '../../sync/define.js';
import type { ReconcileReport } from '../../sync/reconcile.js';
import type { SyncSide } from '../../sync/types.js';
import { iso } from './respond.js';

/** The names the admin API gives a sync's sides: its adapters' names (`crm`, `esp`). @internal */
export interface SideNames {
  readonly left: string;
  readonly right: string;
}

const NAME = /^[a-z][a-z0-9_]{0,39}$/;

/** The adapters' names, lower-cased; `left`/`right` when they are unusable as JSON keys or equal. @internal */
export function sideNames(sync: Sync): SideNames {
  const l = String(sync.rt.adapters.left.name).toLowerCase();
  const r = String(sync.rt.adapters.right.name).toLowerCase();
  return NAME.test(l) && NAME.test(r) && l !== r ? { left: l, right: r } : { left: 'left', right: 'right' };
}

/** The side a name designates (`'crm'` → `'left'`), or undefined. @internal */
export function sideOf(names: SideNames, name: unknown): SyncSide | undefined {
  if (name === names.left) return 'left';
  if (name === names.right) return 'right';
  return undefined;
}

/** A `{ left, right }` pair as `{ crm, esp }`; anything else unchanged. */
function namedPair(names: SideNames, v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const keys = Object.keys(v);
  if (keys.length !== 2 || !keys.includes('left') || !keys.includes('right')) return v;
  const o = v as { left: unknown; right: unknown };
  return { [names.left]: o.left, [names.right]: o.right };
}

/** The contract's `Conflict` (snake_case, sides by name) plus `sync`. @internal */
export function conflictJson(c: SyncConflictRecord, names: SideNames): Record<string, unknown> {
  return {
    id: c.id,
    sync: c.sync,
    [`${names.left}_id`]: c.leftId,
    [`${names.right}_id`]: c.rightId,
    field: c.field,
    baseline: namedPair(names, c.baseline) ?? null,
    [`${names.left}_value`]: c.leftValue ?? null,
    [`${names.right}_value`]: c.rightValue ?? null,
    detected_at: iso(c.detectedAt),
    resolution: c.resolution,
    policy: c.policy,
    ...(c.finalValue === undefined ? {} : { final_value: c.finalValue }),
  };
}

/** Kinds the contract names; any other kind is served as `other`, with the sync's own kind in `detail.kind`. */
const KINDS = new Set(['reconsent_required', 'email_collision', 'remote_deleted', 'identity_collision', 'other']);

/** A stored resolution (`{ choose: 'left', written: ['right'] }`) with sides by name. */
function resolutionJson(res: unknown, names: SideNames): unknown {
  if (res === null || typeof res !== 'object') return res ?? null;
  const r = { ...(res as Record<string, unknown>) };
  const name = (s: unknown): unknown => (s === 'left' ? names.left : s === 'right' ? names.right : s);
  if ('choose' in r) r['choose'] = name(r['choose']);
  if (Array.isArray(r['written'])) r['written'] = (r['written'] as unknown[]).map(name);
  return r;
}

/** The contract's `Escalation` (snake_case, sides by name) plus `sync`, `policy`, `suggestion`, `resolved_at`, `resolution`. @internal */
export function escalationJson(e: SyncEscalationRecord, names: SideNames): Record<string, unknown> {
  const known = KINDS.has(e.kind);
  const detail = known ? e.detail : { ...e.detail, kind: e.kind };
  return {
    id: e.id,
    sync: e.sync,
    kind: known ? e.kind : 'other',
    [`${names.left}_id`]: e.leftId,
    ...(e.rightId === null ? {} : { [`${names.right}_id`]: e.rightId }),
    ...(e.field === null ? {} : { field: e.field }),
    ...('leftValue' in e && e.leftValue !== undefined ? { [`${names.left}_value`]: e.leftValue } : {}),
    ...('rightValue' in e && e.rightValue !== undefined ? { [`${names.right}_value`]: e.rightValue } : {}),
    ...(e.suggestion === undefined ? {} : { suggestion: e.suggestion }),
    policy: e.policy,
    created_at: iso(e.createdAt),
    state: e.state,
    ...(detail === null ? {} : { detail }),
    resolved_at: iso(e.resolvedAt),
    resolution: resolutionJson(e.resolution, names),
  };
}

/** The contract's `Report` (snake_case, sides by name) plus `sync`, `skipped` and `error`. @internal */
export function reportJson(r: ReconcileReport, sync: string, names: SideNames): Record<string, unknown> {
  return {
    id: r.id,
    sync,
    mode: r.mode,
    state: r.state,
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    compared: r.compared,
    in_sync: r.inSync,
    diffs_by_class: { ...r.diffsByClass },
    repairs: { ...r.repairs },
    escalations_raised: r.escalationsRaised,
    api_calls: { [names.left]: r.apiCalls.left, [names.right]: r.apiCalls.right },
    items: r.items.map((i) => ({
      class: i.class,
      ...(i.leftId === undefined ? {} : { [`${names.left}_id`]: i.leftId }),
      ...(i.rightId === undefined ? {} : { [`${names.right}_id`]: i.rightId }),
      ...(i.field === undefined ? {} : { field: i.field }),
      action: i.action === 'write_left' ? `write_${names.left}` : i.action === 'write_right' ? `write_${names.right}` : i.action,
    })),
    skipped: r.skipped,
    ...(r.error === undefined ? {} : { error: r.error }),
  };
}
