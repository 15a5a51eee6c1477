import { uuidv7 } from '../internal/ids.js';
import type { SyncLinkRecord } from '../store/sync.js';
import { raiseRecordEscalation, stale } from './escalations.js';
import { baselineHash, other, type SyncRuntime } from './runtime.js';
import type { SideHttp } from './side-http.js';
import type { SyncSide } from './types.js';

/** What the creation protocol did. */
export type CreateResult = 'created' | 'adopted' | 'escalated' | 'ignored';

/** Clients and correlation of one piece of work. @internal */
export interface WorkContext {
  readonly http: { readonly left: SideHttp; readonly right: SideHttp };
  readonly correlationId?: string;
}

/**
 * Creates the counterpart of `record` (on `side`) on the other side, safely under lost responses:
 * a `pending_create` link first; a deterministic Idempotency-Key; before any repeat, a lookup by
 * external id then natural key; a 409 "exists" adopts an unlinked record, and escalates
 * `identity_collision` when it is linked to another record.
 * @returns what happened, and the link as it now is.
 * @internal
 */
export async function createCounterpart(
  rt: SyncRuntime,
  side: SyncSide,
  record: unknown,
  existing: SyncLinkRecord | null,
  w: WorkContext,
  adoptThen: (link: SyncLinkRecord, source: unknown, target: unknown) => Promise<void>,
): Promise<CreateResult> {
  const source = rt.adapters[side];
  const targetSide = other(side);
  const target = rt.adapters[targetSide];
  const sid = source.id(record);
  const ctx = { http: w.http[targetSide], ...(w.correlationId === undefined ? {} : { correlationId: w.correlationId }) };
  let link = existing;
  if (link === null) {
    link =
      (await rt.store.sync.createLink({
        id: uuidv7(),
        sync: rt.name,
        leftId: side === 'left' ? sid : null,
        rightId: side === 'right' ? sid : null,
        state: 'pending_create',
        now: rt.clock.now(),
      })) ?? (await rt.store.sync.getLink(rt.name, side, sid));
  }
  if (link === null || link.state !== 'pending_create') return 'ignored';
  if (link.createAttempts > 0 && target.find !== undefined) {
    // An earlier create may have committed with its response lost: look before creating again.
    let found = await target.find({ externalId: sid }, ctx);
    const key = source.naturalKey?.(record);
    if (found === null && key !== undefined) found = await target.find({ naturalKey: key }, ctx);
    if (found !== null) return adopt(rt, link, side, record, found, w, adoptThen);
  }
  if (target.create === undefined) return 'ignored';
  const counted = await rt.store.sync.updateLink({ id: link.id, revision: link.revision, now: rt.clock.now(), createAttempts: link.createAttempts + 1 });
  if (counted === null) throw stale('link changed before create');
  const outcome = await target.create(source.project(record), { ...ctx, idempotencyKey: `weir-sync:${rt.name}:create:${side}:${sid}`, otherId: sid });
  if ('exists' in outcome) {
    const found = await target.get(outcome.exists, ctx);
    if (found === null) throw stale(`the existing ${target.name} record ${outcome.exists} is gone`);
    return adopt(rt, counted, side, record, found, w, adoptThen);
  }
  const created = outcome.created;
  const baseline = side === 'left'
    ? { left: source.project(record), right: target.project(created) }
    : { left: target.project(created), right: source.project(record) };
  const versions = { [side]: source.version(record), [targetSide]: target.version(created) } as Record<SyncSide, number>;
  const linked = await rt.store.sync.updateLink({
    id: counted.id,
    revision: counted.revision,
    now: rt.clock.now(),
    state: 'linked',
    [`${targetSide}Id`]: target.id(created),
    leftVersion: versions.left,
    rightVersion: versions.right,
    baseline,
    baselineHash: baselineHash(baseline),
  });
  if (linked === null) throw stale('link changed during create');
  return 'created';
}

async function adopt(
  rt: SyncRuntime,
  link: SyncLinkRecord,
  side: SyncSide,
  record: unknown,
  found: unknown,
  w: WorkContext,
  adoptThen: (link: SyncLinkRecord, source: unknown, target: unknown) => Promise<void>,
): Promise<CreateResult> {
  const targetSide = other(side);
  const target = rt.adapters[targetSide];
  const sid = rt.adapters[side].id(record);
  const fid = target.id(found);
  const owner = await rt.store.sync.getLink(rt.name, targetSide, fid);
  const ext = target.externalId?.(found);
  if ((owner !== null && owner.id !== link.id) || (ext != null && ext !== '' && ext !== sid)) {
    await raiseRecordEscalation(rt, link, 'identity_collision', { [`${targetSide}Id`]: fid, linkedTo: owner?.[`${side}Id`] ?? ext ?? null });
    return 'escalated';
  }
  const ctx = { http: w.http[targetSide], ...(w.correlationId === undefined ? {} : { correlationId: w.correlationId }) };
  const adopted = target.adopt !== undefined && ext !== sid ? await target.adopt(fid, sid, found, ctx) : found;
  // The source's values count as changes against the adopted record, so they flow through the policies.
  const projected = target.project(adopted);
  const baseline = { left: projected, right: projected };
  const linked = await rt.store.sync.updateLink({
    id: link.id,
    revision: link.revision,
    now: rt.clock.now(),
    state: 'linked',
    [`${targetSide}Id`]: fid,
    [`${side}Version`]: null,
    [`${targetSide}Version`]: target.version(adopted),
    baseline,
    baselineHash: baselineHash(baseline),
  });
  if (linked === null) throw stale('link changed during adoption');
  await adoptThen(linked, record, adopted);
  return 'adopted';
}
