import { uuidv7 } from '../internal/ids.js';
import { orderingKey, type SyncRuntime } from './runtime.js';
import type { SyncSide } from './types.js';

/** The queue payload of a change. @internal */
export interface ChangeMessage {
  readonly side: SyncSide;
  readonly id: string;
  readonly record?: unknown;
}

/** A polling checkpoint: the inclusive lower bound, and the cursor inside the current round. */
export interface PollCheckpoint {
  readonly since: number | null;
  readonly cursor: string | null;
  /** The newest `updatedAt` seen in the current round (the next round's `since`). */
  readonly maxSeen: number | null;
}

/** What one polling round did. */
export interface PollReport {
  readonly pages: number;
  readonly seen: number;
  /** Items handed to the queue (an item already enqueued under the same id is a no-op there). */
  readonly enqueued: number;
  /** Items skipped because their version was already synced (echoes of Weir's own writes). */
  readonly skipped: number;
}

const KV = 'weir.sync';

/**
 * Enqueues a change of `side` (a full record, or just its id for thin webhooks) with its ordering
 * key. A record's message id is `side:id:version`, so duplicates of one change enqueue once.
 * @internal
 */
export async function intakeChange(rt: SyncRuntime, side: SyncSide, recordOrId: unknown, eventId?: string): Promise<string> {
  const a = rt.adapters[side];
  const id = typeof recordOrId === 'string' ? recordOrId : a.id(recordOrId);
  const link = await rt.store.sync.getLink(rt.name, side, id);
  const payload: ChangeMessage = typeof recordOrId === 'string' ? { side, id } : { side, id, record: recordOrId };
  const messageId = typeof recordOrId === 'string' ? (eventId ?? uuidv7()) : `${rt.name}:${side}:${id}:${a.version(recordOrId)}`;
  return rt.queue.enqueue(rt.topic, payload, { key: orderingKey(side, id, link), id: messageId });
}

/**
 * One polling round of a side: pages from the checkpoint, every item enqueued (durably) before the
 * checkpoint moves past it; the checkpoint is saved after every page. The round ends at the last
 * page, and the next round starts at the newest `updatedAt` seen, inclusive (items seen again
 * dedup by message id, and by version watermark).
 * @internal
 */
export async function pollSide(rt: SyncRuntime, side: SyncSide, maxPages = Number.POSITIVE_INFINITY): Promise<PollReport> {
  const a = rt.adapters[side];
  const key = `${rt.name}:poll:${side}`;
  const entry = await rt.store.kv.get<PollCheckpoint>(KV, key, rt.clock.now());
  let cp: PollCheckpoint = entry?.value ?? { since: null, cursor: null, maxSeen: null };
  let pages = 0;
  let seen = 0;
  let enqueued = 0;
  let skipped = 0;
  while (pages < maxPages) {
    const page = await a.list({ since: cp.since, cursor: cp.cursor, limit: rt.pageSize }, { http: rt.http[side] });
    pages++;
    const items = [];
    let maxSeen = cp.maxSeen;
    for (const record of page.items) {
      seen++;
      const t = a.updatedAt(record);
      maxSeen = maxSeen === null ? t : Math.max(maxSeen, t);
      const id = a.id(record);
      const link = await rt.store.sync.getLink(rt.name, side, id);
      const mark = link === null ? null : side === 'left' ? link.leftVersion : link.rightVersion;
      if (mark !== null && a.version(record) <= mark) {
        skipped++;
        continue;
      }
      items.push({ topic: rt.topic, payload: { side, id, record } satisfies ChangeMessage, key: orderingKey(side, id, link), id: `${rt.name}:${side}:${id}:${a.version(record)}` });
    }
    if (items.length > 0) {
      await rt.queue.enqueueMany(items);
      enqueued += items.length;
    }
    cp = page.next === null ? { since: maxSeen ?? cp.since, cursor: null, maxSeen: null } : { since: cp.since, cursor: page.next, maxSeen };
    await rt.store.kv.set(KV, key, cp, { now: rt.clock.now() });
    if (page.next === null) break;
  }
  return { pages, seen, enqueued, skipped };
}
