import { WeirError } from '../errors.js';
import { uuidv7 } from '../internal/ids.js';
import type { SyncEscalationRecord, SyncLinkRecord } from '../store/sync.js';
import type { PlannedEscalation } from './conflicts.js';
import type { SyncRuntime } from './runtime.js';

/** Opens a field-level escalation of a link (one open per link, field and kind). @internal */
export async function raiseFieldEscalation(rt: SyncRuntime, link: SyncLinkRecord, e: PlannedEscalation): Promise<SyncEscalationRecord> {
  const { escalation } = await rt.store.sync.openEscalation({
    id: uuidv7(),
    sync: rt.name,
    dedupKey: `${e.kind}:${link.id}:${e.field}`,
    linkId: link.id,
    kind: e.kind,
    leftId: link.leftId,
    rightId: link.rightId,
    field: e.field,
    leftValue: e.left ?? null,
    rightValue: e.right ?? null,
    ...('suggestion' in e ? { suggestion: e.suggestion } : {}),
    policy: e.policy,
    createdAt: rt.clock.now(),
    detail: e.detail ?? null,
  });
  return escalation;
}

/** Opens a record-level escalation (remote deletion, identity collision) and puts the link in `escalated`. @internal */
export async function raiseRecordEscalation(
  rt: SyncRuntime,
  link: SyncLinkRecord,
  kind: string,
  detail: Readonly<Record<string, unknown>>,
): Promise<void> {
  await rt.store.sync.openEscalation({
    id: uuidv7(),
    sync: rt.name,
    dedupKey: `${kind}:${link.id}`,
    linkId: link.id,
    kind,
    leftId: link.leftId,
    rightId: link.rightId,
    field: null,
    policy: null,
    createdAt: rt.clock.now(),
    detail,
  });
  if (link.state !== 'escalated') {
    const moved = await rt.store.sync.updateLink({ id: link.id, revision: link.revision, now: rt.clock.now(), state: 'escalated' });
    if (moved === null) throw stale('link moved on while escalating');
  }
}

/** The fields frozen by open escalations of a link (`'*'`: the whole record). @internal */
export async function frozenFields(rt: SyncRuntime, link: SyncLinkRecord): Promise<Set<string>> {
  const open = await rt.store.sync.listEscalations(rt.name, { state: 'open', linkId: link.id, limit: 1000 });
  return new Set(open.map((e) => e.field ?? '*'));
}

/** A transient "try again with fresh data" error. @internal */
export function stale(message: string): WeirError<'WEIR_PRECONDITION_FAILED'> {
  return new WeirError('WEIR_PRECONDITION_FAILED', `Sync: ${message}; retried with fresh data.`, { classification: 'transient' });
}
