import { isWeirError } from '../errors.js';
import { uuidv7 } from '../internal/ids.js';
import type { SyncLinkRecord } from '../store/sync.js';
import { planSync, type SyncPlan } from './conflicts.js';
import { frozenFields, raiseFieldEscalation, raiseRecordEscalation, stale } from './escalations.js';
import { createCounterpart, type WorkContext } from './links.js';
import { equal } from './policies.js';
import { baselineHash, other, type SyncRuntime } from './runtime.js';
import type { SyncFields, SyncSide } from './types.js';

/** A change to process: a record of one side (with its data when the notification carried it). */
export interface SyncChange {
  readonly side: SyncSide;
  readonly id: string;
  readonly record?: unknown;
}

/**
 * What processing a change did:
 * `stale` (older than, or equal to, what was synced or written: echo or reordering), `no_change`
 * (the projection equals the baseline), `synced`, `created`, `adopted`, `escalated`, `ignored`
 * (unlinked and not to be created, or the link is retired), `frozen` (the record has an open escalation).
 */
export type ProcessOutcome = 'stale' | 'no_change' | 'synced' | 'created' | 'adopted' | 'escalated' | 'ignored' | 'frozen';

const statusOf = (err: unknown): number | undefined => (isWeirError(err) ? ((err as { status?: number }).status ?? undefined) : undefined);

/** Processes one change. Throws transient errors (412, a moved link) for the queue to retry with fresh data. @internal */
export async function processChange(rt: SyncRuntime, change: SyncChange, w: WorkContext): Promise<ProcessOutcome> {
  const { side, id } = change;
  const a = rt.adapters[side];
  const link = await rt.store.sync.getLink(rt.name, side, id);
  const mark = (l: SyncLinkRecord | null): number | null => (l === null ? null : side === 'left' ? l.leftVersion : l.rightVersion);
  if (change.record !== undefined && change.record !== null && mark(link) !== null && a.version(change.record) <= (mark(link) as number)) return 'stale';
  const ctx = { http: w.http[side], ...(w.correlationId === undefined ? {} : { correlationId: w.correlationId }) };
  const record = await a.get(id, ctx);
  if (link === null || link.state === 'pending_create') {
    if (record === null) return 'ignored';
    const wanted = link !== null || rt.create[other(side)]?.(a.project(record), record) === true;
    if (!wanted) return 'ignored';
    return createCounterpart(rt, side, record, link, w, async (l, source, target) => {
      await syncLinked(rt, l, side === 'left' ? { left: source, right: target } : { left: target, right: source }, w, {});
    });
  }
  if (link.state === 'tombstoned') return 'ignored';
  if (link.state === 'escalated') return 'frozen';
  if (record === null) {
    await raiseRecordEscalation(rt, link, 'remote_deleted', { side, id, system: a.name });
    return 'escalated';
  }
  const seen = mark(link);
  if (seen !== null && a.version(record) <= seen) return 'stale';
  if (link.baseline !== null && equal(a.project(record), link.baseline[side])) {
    await rt.store.sync.updateLink({ id: link.id, revision: link.revision, now: rt.clock.now(), [`${side}Version`]: a.version(record) });
    return 'no_change';
  }
  const otherSide = other(side);
  const otherId = link[`${otherSide}Id`] as string;
  const counterpart = await rt.adapters[otherSide].get(otherId, { ...ctx, http: w.http[otherSide] });
  if (counterpart === null) {
    await raiseRecordEscalation(rt, link, 'remote_deleted', { side: otherSide, id: otherId, system: rt.adapters[otherSide].name });
    return 'escalated';
  }
  const records = side === 'left' ? { left: record, right: counterpart } : { left: counterpart, right: record };
  const done = await syncLinked(rt, link, records, w, {});
  return done.escalated ? 'escalated' : 'synced';
}

/** Options of {@link syncLinked}. @internal */
export interface SyncLinkedOptions {
  /** Plan only: write nothing anywhere. */
  readonly dryRun?: boolean;
}

/**
 * Compares a linked pair three-way and applies the plan: escalations, conditional writes
 * (If-Match the version read), conflicts, then the new baseline and version watermarks (compare-and-set).
 * @internal
 */
export async function syncLinked(
  rt: SyncRuntime,
  link: SyncLinkRecord,
  records: { left: unknown; right: unknown },
  w: WorkContext,
  o: SyncLinkedOptions,
): Promise<{ plan: SyncPlan; escalated: boolean; writes: number }> {
  const { left: la, right: ra } = rt.adapters;
  const proj = { left: la.project(records.left), right: ra.project(records.right) };
  const base = link.baseline ?? { left: proj.right, right: proj.right };
  const plan = planSync({
    policies: rt.policies,
    baseline: base,
    left: proj.left,
    right: proj.right,
    records,
    updatedAt: (s) => rt.adapters[s].updatedAt(records[s]),
    editor: (s) => rt.adapters[s].editor?.(records[s]),
    skew: (s) => rt.http[s].skew.estimate(),
    frozen: await frozenFields(rt, link),
  });
  if (o.dryRun === true) return { plan, escalated: plan.escalations.length > 0, writes: 0 };
  for (const e of plan.escalations) await raiseFieldEscalation(rt, link, e);
  const baseline = { left: { ...plan.baseline.left }, right: { ...plan.baseline.right } };
  const current = { ...records };
  let escalated = plan.escalations.length > 0;
  let writes = 0;
  for (const side of ['right', 'left'] as const) {
    const patch: Record<string, unknown> = { ...plan.writes[side] };
    if (Object.keys(patch).length === 0) continue;
    const a = rt.adapters[side];
    const id = link[`${side}Id`] as string;
    for (;;) {
      const version = a.version(current[side]);
      try {
        current[side] = await a.update(id, patch, {
          http: w.http[side],
          ifMatch: version,
          idempotencyKey: `weir-sync:${rt.name}:update:${side}:${id}:${version}`,
          ...(w.correlationId === undefined ? {} : { correlationId: w.correlationId }),
        });
        writes++;
        // The baseline is what the side stores, re-projected: a value it cannot represent as such
        // (a richer value of the other side) is kept as its own projection of it.
        const stored = a.project(current[side]);
        for (const f of Object.keys(patch)) baseline[side][f] = stored[f];
        break;
      } catch (err) {
        const status = statusOf(err);
        if (status === 412) throw stale(`${a.name} record ${id} changed since it was read`);
        if (status === 404) {
          await raiseRecordEscalation(rt, link, 'remote_deleted', { side, id, system: a.name });
          return { plan, escalated: true, writes };
        }
        const unique = (a.uniqueFields ?? []).filter((f) => f in patch);
        if (status !== 409 || unique.length === 0) throw err;
        for (const field of unique) {
          await raiseFieldEscalation(rt, link, { field, kind: `${field}_collision`, left: proj.left[field], right: proj.right[field], policy: 'unique', suggestion: patch[field] });
          delete patch[field];
          baseline.left[field] = base.left[field];
          baseline.right[field] = base.right[field];
        }
        escalated = true;
        if (Object.keys(patch).length === 0) break;
      }
    }
  }
  const now = rt.clock.now();
  for (const c of plan.conflicts) {
    await rt.store.sync.addConflict({
      id: uuidv7(),
      sync: rt.name,
      linkId: link.id,
      leftId: link.leftId,
      rightId: link.rightId,
      field: c.field,
      baseline: c.baseline,
      leftValue: c.left,
      rightValue: c.right,
      detectedAt: now,
      resolution: c.resolution,
      policy: c.policy,
      ...('finalValue' in c ? { finalValue: c.finalValue } : {}),
      detail: null,
    });
  }
  const next = await rt.store.sync.updateLink({
    id: link.id,
    revision: link.revision,
    now,
    leftVersion: Math.max(la.version(current.left), link.leftVersion ?? 0),
    rightVersion: Math.max(ra.version(current.right), link.rightVersion ?? 0),
    baseline,
    baselineHash: baselineHash(baseline),
  });
  if (next === null) throw stale('link changed while syncing');
  return { plan, escalated, writes };
}

/** The projection of a side's record. @internal */
export function projectionOf(rt: SyncRuntime, side: SyncSide, record: unknown): SyncFields {
  return rt.adapters[side].project(record);
}
