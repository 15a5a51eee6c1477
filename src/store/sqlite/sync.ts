import { parseJsonText } from '../rows.js';
import { pageSize } from '../shared.js';
import {
  conflictVals,
  escalationVals,
  jsonOrNull,
  syncRowMappers,
  type NewSyncEscalation,
  type NewSyncLink,
  type SyncConflictRecord,
  type SyncEscalationRecord,
  type SyncEscalationState,
  type SyncLinkRecord,
  type SyncLinkState,
  type SyncLinkUpdate,
  type SyncSide,
  type SyncStore,
} from '../sync.js';
import type { SqliteConnection } from './connection.js';
import * as sql from './sync.sql.js';

type Row = Record<string, unknown>;
const { linkRow, conflictRow, escalationRow } = syncRowMappers(parseJsonText);

/** The column values of a link update, keyed by column, with `k_<column>` flags for the omitted ones. @internal */
export function linkUpdateColumns(u: SyncLinkUpdate): Record<string, unknown> {
  const values: Record<string, unknown> = {
    state: u.state,
    left_id: u.leftId,
    right_id: u.rightId,
    left_version: u.leftVersion,
    right_version: u.rightVersion,
    baseline: u.baseline === undefined ? undefined : jsonOrNull(u.baseline),
    baseline_hash: u.baselineHash,
    create_attempts: u.createAttempts,
    detail: u.detail === undefined ? undefined : jsonOrNull(u.detail),
  };
  const out: Record<string, unknown> = {};
  for (const c of sql.LINK_COLUMNS) {
    out[`k_${c}`] = values[c] === undefined ? 1 : 0;
    out[c] = values[c] ?? null;
  }
  return out;
}

/** Sync links, conflicts and escalations in SQLite. */
export class SqliteSyncStore implements SyncStore {
  constructor(private readonly c: SqliteConnection) {}

  async createLink(l: NewSyncLink): Promise<SyncLinkRecord | null> {
    const row = this.c.stmt(sql.CREATE_LINK).get({ id: l.id, sync: l.sync, leftId: l.leftId, rightId: l.rightId, state: l.state, now: l.now }) as
      | Row
      | undefined;
    return row === undefined ? null : linkRow(row);
  }

  async getLink(sync: string, side: SyncSide, id: string): Promise<SyncLinkRecord | null> {
    const row = this.c.stmt(side === 'left' ? sql.GET_LINK_LEFT : sql.GET_LINK_RIGHT).get(sync, id) as Row | undefined;
    return row === undefined ? null : linkRow(row);
  }

  async getLinkById(id: string): Promise<SyncLinkRecord | null> {
    const row = this.c.stmt(sql.GET_LINK).get(id) as Row | undefined;
    return row === undefined ? null : linkRow(row);
  }

  async updateLink(u: SyncLinkUpdate): Promise<SyncLinkRecord | null> {
    const row = this.c.stmt(sql.UPDATE_LINK).get({ id: u.id, revision: u.revision, now: u.now, ...linkUpdateColumns(u) }) as Row | undefined;
    return row === undefined ? null : linkRow(row);
  }

  async listLinks(
    sync: string,
    o: { readonly state?: SyncLinkState; readonly afterId?: string; readonly limit?: number } = {},
  ): Promise<readonly SyncLinkRecord[]> {
    const params = { sync, state: o.state ?? null, afterId: o.afterId ?? '', limit: pageSize(o.limit) };
    return (this.c.stmt(sql.LIST_LINKS).all(params) as Row[]).map(linkRow);
  }

  async addConflict(k: SyncConflictRecord): Promise<void> {
    this.c.stmt(sql.ADD_CONFLICT).run({
      id: k.id,
      sync: k.sync,
      linkId: k.linkId,
      leftId: k.leftId,
      rightId: k.rightId,
      field: k.field,
      vals: conflictVals(k),
      detectedAt: k.detectedAt,
      resolution: k.resolution,
      policy: k.policy,
      detail: jsonOrNull(k.detail),
    });
  }

  async listConflicts(sync: string, o: { readonly linkId?: string; readonly limit?: number } = {}): Promise<readonly SyncConflictRecord[]> {
    return (this.c.stmt(sql.LIST_CONFLICTS).all({ sync, linkId: o.linkId ?? null, limit: pageSize(o.limit) }) as Row[]).map(conflictRow);
  }

  async openEscalation(e: NewSyncEscalation): Promise<{ readonly escalation: SyncEscalationRecord; readonly created: boolean }> {
    const row = this.c.stmt(sql.OPEN_ESCALATION).get({
      id: e.id,
      sync: e.sync,
      dedupKey: e.dedupKey,
      linkId: e.linkId,
      kind: e.kind,
      leftId: e.leftId,
      rightId: e.rightId,
      field: e.field,
      vals: escalationVals(e),
      policy: e.policy,
      createdAt: e.createdAt,
      detail: jsonOrNull(e.detail),
    }) as Row | undefined;
    if (row !== undefined) return { escalation: escalationRow(row), created: true };
    const open = this.c.stmt(sql.OPEN_BY_DEDUP).get(e.sync, e.dedupKey) as Row | undefined;
    if (open !== undefined) return { escalation: escalationRow(open), created: false };
    const same = this.c.stmt(sql.GET_ESCALATION).get(e.id) as Row;
    return { escalation: escalationRow(same), created: false };
  }

  async getEscalation(id: string): Promise<SyncEscalationRecord | null> {
    const row = this.c.stmt(sql.GET_ESCALATION).get(id) as Row | undefined;
    return row === undefined ? null : escalationRow(row);
  }

  async listEscalations(
    sync: string,
    o: { readonly state?: SyncEscalationState; readonly linkId?: string; readonly afterSeq?: number; readonly limit?: number } = {},
  ): Promise<readonly SyncEscalationRecord[]> {
    const params = { sync, state: o.state ?? null, linkId: o.linkId ?? null, afterSeq: o.afterSeq ?? 0, limit: pageSize(o.limit) };
    return (this.c.stmt(sql.LIST_ESCALATIONS).all(params) as Row[]).map(escalationRow);
  }

  async resolveEscalation(id: string, resolution: unknown, now: number): Promise<boolean> {
    return this.c.stmt(sql.RESOLVE_ESCALATION).run({ id, now, resolution: JSON.stringify(resolution ?? null) }).changes > 0;
  }

  async escalationStats(sync: string): Promise<{ readonly open: number; readonly oldestCreatedAt: number | null }> {
    const row = this.c.stmt(sql.ESCALATION_STATS).get(sync) as { open: number; oldest: number | null };
    return { open: Number(row.open), oldestCreatedAt: row.oldest ?? null };
  }

  async busyKeys(topic: string, keys: readonly string[]): Promise<readonly string[]> {
    if (keys.length === 0) return [];
    return (this.c.stmt(sql.BUSY_KEYS).all(topic, JSON.stringify(keys)) as { key: string }[]).map((r) => r.key);
  }
}
