import { jsonAsIs } from '../rows.js';
import { num, numOrNull, pageSize } from '../shared.js';
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
import type { PgConnection } from './connection.js';
import { LINK_COLUMNS, sql } from './sync.sql.js';

const { linkRow, conflictRow, escalationRow } = syncRowMappers(jsonAsIs);

/** Sync links, conflicts and escalations in PostgreSQL. */
export class PostgresSyncStore implements SyncStore {
  private readonly q: ReturnType<typeof sql>;

  constructor(private readonly c: PgConnection) {
    this.q = sql(`"${c.schema}"`);
  }

  async createLink(l: NewSyncLink): Promise<SyncLinkRecord | null> {
    const row = (await this.c.query(this.q.createLink, [l.id, l.sync, l.leftId, l.rightId, l.state, l.now]))[0];
    return row === undefined ? null : linkRow(row);
  }

  async getLink(sync: string, side: SyncSide, id: string): Promise<SyncLinkRecord | null> {
    const row = (await this.c.query(side === 'left' ? this.q.getLinkLeft : this.q.getLinkRight, [sync, id]))[0];
    return row === undefined ? null : linkRow(row);
  }

  async getLinkById(id: string): Promise<SyncLinkRecord | null> {
    const row = (await this.c.query(this.q.getLink, [id]))[0];
    return row === undefined ? null : linkRow(row);
  }

  async updateLink(u: SyncLinkUpdate): Promise<SyncLinkRecord | null> {
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
    const params: unknown[] = [u.id, u.revision, u.now];
    for (const [c] of LINK_COLUMNS) params.push(values[c] === undefined, values[c] ?? null);
    const row = (await this.c.query(this.q.updateLink, params))[0];
    return row === undefined ? null : linkRow(row);
  }

  async listLinks(
    sync: string,
    o: { readonly state?: SyncLinkState; readonly afterId?: string; readonly limit?: number } = {},
  ): Promise<readonly SyncLinkRecord[]> {
    return (await this.c.query(this.q.listLinks, [sync, o.state ?? null, o.afterId ?? '', pageSize(o.limit)])).map(linkRow);
  }

  async addConflict(k: SyncConflictRecord): Promise<void> {
    await this.c.run(this.q.addConflict, [
      k.id,
      k.sync,
      k.linkId,
      k.leftId,
      k.rightId,
      k.field,
      conflictVals(k),
      k.detectedAt,
      k.resolution,
      k.policy,
      jsonOrNull(k.detail),
    ]);
  }

  async listConflicts(sync: string, o: { readonly linkId?: string; readonly limit?: number } = {}): Promise<readonly SyncConflictRecord[]> {
    return (await this.c.query(this.q.listConflicts, [sync, o.linkId ?? null, pageSize(o.limit)])).map(conflictRow);
  }

  async openEscalation(e: NewSyncEscalation): Promise<{ readonly escalation: SyncEscalationRecord; readonly created: boolean }> {
    const row = (
      await this.c.query(this.q.openEscalation, [
        e.id,
        e.sync,
        e.dedupKey,
        e.linkId,
        e.kind,
        e.leftId,
        e.rightId,
        e.field,
        escalationVals(e),
        e.policy,
        e.createdAt,
        jsonOrNull(e.detail),
      ])
    )[0];
    if (row !== undefined) return { escalation: escalationRow(row), created: true };
    const open = (await this.c.query(this.q.openByDedup, [e.sync, e.dedupKey]))[0];
    if (open !== undefined) return { escalation: escalationRow(open), created: false };
    const same = (await this.c.query(this.q.getEscalation, [e.id]))[0] as Record<string, unknown>;
    return { escalation: escalationRow(same), created: false };
  }

  async getEscalation(id: string): Promise<SyncEscalationRecord | null> {
    const row = (await this.c.query(this.q.getEscalation, [id]))[0];
    return row === undefined ? null : escalationRow(row);
  }

  async listEscalations(
    sync: string,
    o: { readonly state?: SyncEscalationState; readonly linkId?: string; readonly afterSeq?: number; readonly limit?: number } = {},
  ): Promise<readonly SyncEscalationRecord[]> {
    const params = [sync, o.state ?? null, o.linkId ?? null, o.afterSeq ?? 0, pageSize(o.limit)];
    return (await this.c.query(this.q.listEscalations, params)).map(escalationRow);
  }

  async resolveEscalation(id: string, resolution: unknown, now: number): Promise<boolean> {
    return (await this.c.run(this.q.resolveEscalation, [id, now, JSON.stringify(resolution ?? null)])) > 0;
  }

  async escalationStats(sync: string): Promise<{ readonly open: number; readonly oldestCreatedAt: number | null }> {
    const row = (await this.c.query(this.q.escalationStats, [sync]))[0] as { open: unknown; oldest: unknown };
    return { open: num(row.open), oldestCreatedAt: numOrNull(row.oldest) };
  }

  async busyKeys(topic: string, keys: readonly string[]): Promise<readonly string[]> {
    if (keys.length === 0) return [];
    return (await this.c.query(this.q.busyKeys, [topic, keys])).map((r) => r.key as string);
  }
}
