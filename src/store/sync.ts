import type { JsonDecoder } from './rows.js';
import { num, numOrNull } from './shared.js';

/** One side of a sync. */
export type SyncSide = 'left' | 'right';

/**
 * Where an identity link is:
 * - `pending_create`: the record is being created on the other side (outcome may be unknown);
 * - `linked`: both ids known, changes flow;
 * - `tombstoned`: retired on purpose; nothing flows any more (terminal);
 * - `escalated`: a person must decide (remote deletion, identity collision); nothing flows meanwhile.
 */
export type SyncLinkState = 'pending_create' | 'linked' | 'tombstoned' | 'escalated';

/** Mapped field values, normalised, by field name. */
export type SyncFields = Readonly<Record<string, unknown>>;

/** The last-synced projections of both sides (they differ only where a divergence was accepted). */
export interface SyncBaseline {
  readonly left: SyncFields;
  readonly right: SyncFields;
}

/** A stored identity link between a left record and a right record. */
export interface SyncLinkRecord {
  readonly id: string;
  readonly sync: string;
  readonly leftId: string | null;
  readonly rightId: string | null;
  readonly state: SyncLinkState;
  /** Version of the left record last synced (or written by Weir): the echo/stale watermark. */
  readonly leftVersion: number | null;
  readonly rightVersion: number | null;
  readonly baseline: SyncBaseline | null;
  readonly baselineHash: string | null;
  /** Create calls started (for `pending_create`): above 0, the outcome of an earlier one may be unknown. */
  readonly createAttempts: number;
  /** Grows by one with every update; updates compare and set it. Starts at 1. */
  readonly revision: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly detail: Readonly<Record<string, unknown>> | null;
}

/** A link to create. */
export type NewSyncLink = Pick<SyncLinkRecord, 'id' | 'sync' | 'leftId' | 'rightId' | 'state'> & { readonly now: number };

/** A compare-and-set update: applied only while the link's revision is still `revision`. Omitted fields are kept. */
export interface SyncLinkUpdate {
  readonly id: string;
  readonly revision: number;
  readonly now: number;
  readonly state?: SyncLinkState;
  readonly leftId?: string | null;
  readonly rightId?: string | null;
  readonly leftVersion?: number | null;
  readonly rightVersion?: number | null;
  readonly baseline?: SyncBaseline | null;
  readonly baselineHash?: string | null;
  readonly createAttempts?: number;
  readonly detail?: Readonly<Record<string, unknown>> | null;
}

/** How a conflict ended. */
export type SyncConflictResolution = 'resolved_by_policy' | 'escalated';

/** A recorded conflict: both values, the baseline, the policy and the outcome (the losing value is kept here). */
export interface SyncConflictRecord {
  readonly id: string;
  readonly sync: string;
  readonly linkId: string;
  readonly leftId: string | null;
  readonly rightId: string | null;
  readonly field: string;
  readonly baseline: unknown;
  readonly leftValue: unknown;
  readonly rightValue: unknown;
  readonly detectedAt: number;
  readonly resolution: SyncConflictResolution;
  readonly policy: string;
  /** The value both sides got (absent when escalated). */
  readonly finalValue?: unknown;
  readonly detail: Readonly<Record<string, unknown>> | null;
}

export type SyncEscalationState = 'open' | 'resolved';

/** A decision waiting for a person. While open, its field (or the whole record when `field` is null) is frozen. */
export interface SyncEscalationRecord {
  readonly id: string;
  /** Creation order. */
  readonly seq: number;
  readonly sync: string;
  readonly linkId: string | null;
  readonly kind: string;
  readonly leftId: string | null;
  readonly rightId: string | null;
  readonly field: string | null;
  readonly leftValue?: unknown;
  readonly rightValue?: unknown;
  readonly suggestion?: unknown;
  /** The policy that raised it. */
  readonly policy: string | null;
  readonly createdAt: number;
  readonly state: SyncEscalationState;
  readonly resolvedAt: number | null;
  readonly resolution: unknown;
  readonly detail: Readonly<Record<string, unknown>> | null;
}

/** An escalation to open. At most one open escalation exists per `(sync, dedupKey)`. */
export type NewSyncEscalation = Omit<SyncEscalationRecord, 'seq' | 'state' | 'resolvedAt' | 'resolution'> & { readonly dedupKey: string };

/**
 * Sync state: identity links, conflicts, escalations. Implemented by the SQLite and PostgreSQL
 * stores (migration 3, `'sync'`); used by `weir/sync`.
 */
export interface SyncStore {
  /** Creates a link. @returns it, or null when the sync already links that left or right id. */
  createLink(link: NewSyncLink): Promise<SyncLinkRecord | null>;
  /** The link of a record on one side, or null. */
  getLink(sync: string, side: SyncSide, id: string): Promise<SyncLinkRecord | null>;
  getLinkById(id: string): Promise<SyncLinkRecord | null>;
  /** Compare-and-set update. @returns the new record, or null when the revision moved on (or the link is gone). */
  updateLink(update: SyncLinkUpdate): Promise<SyncLinkRecord | null>;
  /** Links of a sync in id order, paged by `afterId`. */
  listLinks(sync: string, options?: { readonly state?: SyncLinkState; readonly afterId?: string; readonly limit?: number }): Promise<readonly SyncLinkRecord[]>;
  /** Records a conflict (idempotent on `id`). */
  addConflict(conflict: SyncConflictRecord): Promise<void>;
  /** Conflicts of a sync, newest first. */
  listConflicts(sync: string, options?: { readonly linkId?: string; readonly limit?: number }): Promise<readonly SyncConflictRecord[]>;
  /** Opens an escalation unless one with the same `dedupKey` is open. @returns the open one and whether it was created now. */
  openEscalation(escalation: NewSyncEscalation): Promise<{ readonly escalation: SyncEscalationRecord; readonly created: boolean }>;
  getEscalation(id: string): Promise<SyncEscalationRecord | null>;
  /** Escalations of a sync, oldest first. */
  listEscalations(
    sync: string,
    options?: { readonly state?: SyncEscalationState; readonly linkId?: string; readonly afterSeq?: number; readonly limit?: number },
  ): Promise<readonly SyncEscalationRecord[]>;
  /** Closes an open escalation. @returns false when it was not open. */
  resolveEscalation(id: string, resolution: unknown, now: number): Promise<boolean>;
  /** How many escalations are open, and when the oldest was created (null: none). */
  escalationStats(sync: string): Promise<{ readonly open: number; readonly oldestCreatedAt: number | null }>;
  /** Which of `keys` have unfinished queue messages (ready, waiting, active, blocked) on `topic`. */
  busyKeys(topic: string, keys: readonly string[]): Promise<readonly string[]>;
}

type Row = Record<string, unknown>;

/** Sync row mappers for a dialect's JSON decoding. @internal */
export function syncRowMappers(fromJson: JsonDecoder) {
  const json = <T>(v: unknown): T | null => (v === null || v === undefined ? null : fromJson<T>(v));
  function linkRow(r: Row): SyncLinkRecord {
    return {
      id: r.id as string,
      sync: r.sync as string,
      leftId: (r.left_id as string | null) ?? null,
      rightId: (r.right_id as string | null) ?? null,
      state: r.state as SyncLinkState,
      leftVersion: numOrNull(r.left_version),
      rightVersion: numOrNull(r.right_version),
      baseline: json<SyncBaseline>(r.baseline),
      baselineHash: (r.baseline_hash as string | null) ?? null,
      createAttempts: num(r.create_attempts),
      revision: num(r.revision),
      createdAt: num(r.created_at),
      updatedAt: num(r.updated_at),
      detail: json<Record<string, unknown>>(r.detail),
    };
  }
  function conflictRow(r: Row): SyncConflictRecord {
    const v = fromJson<{ baseline: unknown; left: unknown; right: unknown; final?: unknown }>(r.vals);
    return {
      id: r.id as string,
      sync: r.sync as string,
      linkId: r.link_id as string,
      leftId: (r.left_id as string | null) ?? null,
      rightId: (r.right_id as string | null) ?? null,
      field: r.field as string,
      baseline: v.baseline ?? null,
      leftValue: v.left ?? null,
      rightValue: v.right ?? null,
      detectedAt: num(r.detected_at),
      resolution: r.resolution as SyncConflictResolution,
      policy: r.policy as string,
      ...('final' in v ? { finalValue: v.final } : {}),
      detail: json<Record<string, unknown>>(r.detail),
    };
  }
  function escalationRow(r: Row): SyncEscalationRecord {
    const v = fromJson<Record<string, unknown>>(r.vals);
    return {
      id: r.id as string,
      seq: num(r.seq),
      sync: r.sync as string,
      linkId: (r.link_id as string | null) ?? null,
      kind: r.kind as string,
      leftId: (r.left_id as string | null) ?? null,
      rightId: (r.right_id as string | null) ?? null,
      field: (r.field as string | null) ?? null,
      ...('left' in v ? { leftValue: v.left } : {}),
      ...('right' in v ? { rightValue: v.right } : {}),
      ...('suggestion' in v ? { suggestion: v.suggestion } : {}),
      policy: (r.policy as string | null) ?? null,
      createdAt: num(r.created_at),
      state: r.state as SyncEscalationState,
      resolvedAt: numOrNull(r.resolved_at),
      resolution: json(r.resolution),
      detail: json<Record<string, unknown>>(r.detail),
    };
  }
  return { linkRow, conflictRow, escalationRow };
}

/** The JSON `vals` column of a conflict. @internal */
export function conflictVals(c: SyncConflictRecord): string {
  return JSON.stringify({ baseline: c.baseline ?? null, left: c.leftValue ?? null, right: c.rightValue ?? null, ...('finalValue' in c ? { final: c.finalValue ?? null } : {}) });
}

/** The JSON `vals` column of an escalation. @internal */
export function escalationVals(e: NewSyncEscalation): string {
  const v: Record<string, unknown> = {};
  if ('leftValue' in e) v.left = e.leftValue ?? null;
  if ('rightValue' in e) v.right = e.rightValue ?? null;
  if ('suggestion' in e) v.suggestion = e.suggestion ?? null;
  return JSON.stringify(v);
}

/** Nullable JSON text. @internal */
export function jsonOrNull(v: unknown): string | null {
  return v === undefined || v === null ? null : JSON.stringify(v);
}
