import { WeirError } from '../errors.js';
import type { SyncEscalationRecord } from '../store/sync.js';
import { stale } from './escalations.js';
import { intakeChange } from './intake.js';
import { equal, type FieldContext } from './policies.js';
import { baselineHash, type SyncRuntime } from './runtime.js';
import type { SyncSide } from './types.js';

/** A person's decision on an escalation. */
export type EscalationChoice = { readonly choose: 'left' | 'right' } | { readonly choose: 'value'; readonly value: unknown } | { readonly choose: 'dismiss' };

/**
 * Resolves an escalation. A field escalation writes the chosen value conditionally (If-Match) to
 * each side that differs and whose policies allow it (a sticky value is never overwritten), then
 * advances the field's baseline and unfreezes it; both records are then re-queued so any other
 * pending difference flows. A record escalation (`remote_deleted`, `identity_collision`) retires
 * the link (`tombstoned`): nothing is recreated automatically.
 * @throws WeirError `WEIR_NOT_FOUND` (no such escalation), `WEIR_INVALID_STATE` (not open); transient errors when a record moved on (try again).
 * @internal
 */
export async function resolveEscalation(rt: SyncRuntime, id: string, choice: EscalationChoice): Promise<SyncEscalationRecord> {
  const esc = await rt.store.sync.getEscalation(id);
  if (esc === null || esc.sync !== rt.name) throw new WeirError('WEIR_NOT_FOUND', `No escalation ${id} in sync ${rt.name}.`);
  if (esc.state !== 'open') throw new WeirError('WEIR_INVALID_STATE', `Escalation ${id} is already resolved.`);
  const link = esc.linkId === null ? null : await rt.store.sync.getLinkById(esc.linkId);
  const done = async (resolution: Record<string, unknown>): Promise<SyncEscalationRecord> => {
    await rt.store.sync.resolveEscalation(id, resolution, rt.clock.now());
    return (await rt.store.sync.getEscalation(id)) as SyncEscalationRecord;
  };
  if (link === null) return done({ ...choice });
  if (esc.field === null) {
    if (choice.choose !== 'dismiss' || link.state === 'escalated') {
      const moved = await rt.store.sync.updateLink({ id: link.id, revision: link.revision, now: rt.clock.now(), state: 'tombstoned' });
      if (moved === null) throw stale('link changed while resolving');
    }
    return done({ ...choice, link: 'tombstoned' });
  }
  if (choice.choose === 'dismiss') return done({ ...choice });
  const field = esc.field;
  const records: Record<SyncSide, unknown> = { left: null, right: null };
  for (const side of ['left', 'right'] as const) {
    const rid = link[`${side}Id`];
    const rec = rid === null ? null : await rt.adapters[side].get(rid, { http: rt.http[side] });
    if (rec === null) throw new WeirError('WEIR_INVALID_STATE', `The ${side} record of escalation ${id} is gone.`);
    records[side] = rec;
  }
  const proj = { left: rt.adapters.left.project(records.left), right: rt.adapters.right.project(records.right) };
  const value = choice.choose === 'value' ? choice.value : proj[choice.choose][field];
  const base = link.baseline ?? { left: proj.left, right: proj.right };
  const ctx: FieldContext = {
    field,
    baseline: { left: base.left[field], right: base.right[field] },
    left: proj.left[field],
    right: proj.right[field],
    leftChanged: !equal(proj.left[field], base.left[field]),
    rightChanged: !equal(proj.right[field], base.right[field]),
    records,
    updatedAt: (s) => rt.adapters[s].updatedAt(records[s]),
    editor: (s) => rt.adapters[s].editor?.(records[s]),
    skew: (s) => rt.http[s].skew.estimate(),
  };
  const written: SyncSide[] = [];
  const versions: Partial<Record<SyncSide, number>> = {};
  for (const side of ['right', 'left'] as const) {
    if (equal(proj[side][field], value)) continue;
    if (!(rt.policies.get(field) ?? []).every((p) => p.mayWrite?.(side, value, ctx) ?? true)) continue;
    const a = rt.adapters[side];
    const rid = link[`${side}Id`] as string;
    const version = a.version(records[side]);
    try {
      records[side] = await a.update(rid, { [field]: value }, { http: rt.http[side], ifMatch: version, idempotencyKey: `weir-sync:${rt.name}:resolve:${id}:${side}` });
    } catch (err) {
      if ((err as { status?: number }).status === 412) throw stale(`${a.name} record ${rid} changed since it was read`);
      throw err;
    }
    written.push(side);
    const watermark = side === 'left' ? link.leftVersion : link.rightVersion;
    if (watermark === version) versions[side] = a.version(records[side]);
  }
  const baseline = {
    left: { ...base.left, [field]: rt.adapters.left.project(records.left)[field] },
    right: { ...base.right, [field]: rt.adapters.right.project(records.right)[field] },
  };
  const moved = await rt.store.sync.updateLink({
    id: link.id,
    revision: link.revision,
    now: rt.clock.now(),
    baseline,
    baselineHash: baselineHash(baseline),
    ...(versions.left === undefined ? {} : { leftVersion: versions.left }),
    ...(versions.right === undefined ? {} : { rightVersion: versions.right }),
  });
  if (moved === null) throw stale('link changed while resolving');
  const resolved = await done({ ...choice, value: value ?? null, written });
  for (const side of ['left', 'right'] as const) await intakeChange(rt, side, link[`${side}Id`] as string, `${rt.name}:resolve:${id}:${side}`);
  return resolved;
}
