import type { Disposable } from '../../internal/events.js';
import type {
  ClaimedMessage,
  ClaimRequest,
  Handoff,
  Hold,
  InboxStore,
  Lease,
  LocalClaimer,
  MessageRecord,
  NewMessage,
  PurgeReport,
  PurgeRequest,
  QueueStore,
  ReclaimRequest,
  SettleOutcome,
  Settlement,
  TopicConfig,
  TopicStats,
  WorkerInfo,
  WorkerRecord,
} from '../queue.js';
import { claimedRow, errorColumns, messageRow, topicRow, workerRow } from './rows.js';
import { num, numOrNull } from '../shared.js';
import type { Transaction } from '../types.js';
import type { SqliteConnection } from './connection.js';
import * as sql from './queue.sql.js';

type Row = Record<string, unknown>;

/** The SQLite queue: synchronous under the hood, promises at the interface (except with a caller's transaction). */
export class SqliteQueueStore implements QueueStore, InboxStore {
  constructor(private readonly c: SqliteConnection) {}

  /** Workers of this process that take messages at enqueue (see `LocalClaimer`). */
  private readonly claimers = new Set<LocalClaimer>();

  enqueue(tx: Transaction | undefined, messages: readonly NewMessage[], now: number): readonly string[] {
    const conn = (tx ?? this.c.db) as { readonly inTransaction: boolean };
    // Our own transaction, and a local worker with room: it takes the messages in the same commit.
    if (this.claimers.size > 0 && tx === undefined && !conn.inTransaction) return this.enqueueAndClaim(messages, now);
    const stmt = this.c.stmtOn(tx, sql.ENQUEUE);
    const insert = (): { ids: string[]; wake: Set<string> } => {
      const ids: string[] = [];
      const wake = new Set<string>();
      for (const m of messages) {
        const row = stmt.get(enqueueParams(m, now)) as { state: string } | undefined;
        if (row === undefined) continue;
        ids.push(m.id);
        if (row.state === 'ready' && m.runAt <= now) wake.add(m.topic);
      }
      return { ids, wake };
    };
    // Several messages: one transaction (a savepoint inside the caller's), so the batch is atomic.
    const { ids, wake } = tx === undefined && messages.length > 1 ? this.c.tx(insert) : insert();
    // Committed already (our own statement or transaction): wake this process's workers now, not a
    // turn of the event loop later. Inside a caller's transaction: once it commits.
    if (!conn.inTransaction) for (const topic of wake) this.c.wakeNow(topic);
    else for (const topic of wake) this.c.wakeAfterCommit(topic, conn);
    return ids;
  }

  /**
   * Inserts, in one (synced) transaction, the messages that an attached worker with room takes
   * already leased to it (`ENQUEUE_LEASED`: ready, due and not held), the others as usual: one
   * commit instead of the enqueue's and then the worker's claim, no wake-up hop, one statement per
   * message. A topic is still woken when one of its new messages was left ready (no room, held);
   * older ready messages had their own wake-up when they were enqueued or freed.
   */
  private enqueueAndClaim(messages: readonly NewMessage[], now: number): readonly string[] {
    const taken = new Map<LocalClaimer, ClaimedMessage[]>();
    const left = new Set<string>();
    const ids = this.c.tx(() => {
      const out: string[] = [];
      const room = new Map<string, Array<{ claimer: LocalClaimer; room: number }>>();
      for (const m of messages) {
        let offers = room.get(m.topic);
        if (offers === undefined) {
          offers = [...this.claimers].map((claimer) => ({ claimer, room: claimer.room(m.topic) })).filter((o) => o.room > 0);
          room.set(m.topic, offers);
        }
        const offer = m.runAt <= now ? offers.find((o) => o.room > 0) : undefined;
        const params = enqueueParams(m, now);
        if (offer !== undefined) Object.assign(params, { worker: offer.claimer.workerId, until: now + offer.claimer.leaseMs });
        const row = this.c.stmt(offer === undefined ? sql.ENQUEUE : sql.ENQUEUE_LEASED).get(params) as Row | undefined;
        if (row === undefined) continue;
        out.push(m.id);
        if (offer !== undefined && row.state === 'active') {
          offer.room--;
          let list = taken.get(offer.claimer);
          if (list === undefined) taken.set(offer.claimer, (list = []));
          list.push(claimedRow(row));
        } else if (row.state === 'ready' && m.runAt <= now) left.add(m.topic);
      }
      return out;
    });
    for (const [claimer, claimed] of taken) claimer.take(claimed);
    for (const topic of left) this.c.wakeNow(topic);
    return ids;
  }

  attachClaimer(claimer: LocalClaimer): Disposable {
    this.claimers.add(claimer);
    const dispose = (): void => void this.claimers.delete(claimer);
    return { dispose, [Symbol.dispose]: dispose };
  }

  async claim(r: ClaimRequest): Promise<readonly ClaimedMessage[]> {
    const rows = this.c.relaxed(
      () => this.c.stmt(sql.CLAIM).all({ topic: r.topic, now: r.now, limit: r.limit, worker: r.workerId, until: r.now + r.leaseMs }) as Row[],
    );
    // RETURNING order is unspecified: hand messages out in queue order.
    return rows.map(claimedRow).toSorted((a, b) => a.runAt - b.runAt || a.seq - b.seq);
  }

  async settle(settlements: readonly Settlement[], now: number, handoff?: Handoff): Promise<SettleOutcome> {
    return this.c.relaxed(() => this.settleAll(settlements, now, handoff));
  }

  private settleAll(settlements: readonly Settlement[], now: number, handoff: Handoff | undefined): SettleOutcome {
    return this.c.tx(() => {
      const ok: boolean[] = [];
      const promoted = new Set<string>();
      const claimed: ClaimedMessage[] = [];
      for (const s of settlements) {
        const row = this.settleOne(s, now);
        ok.push(row !== undefined);
        if (row === undefined || row.key === null) continue;
        if (s.kind === 'retry' || (s.kind === 'dead' && s.blockKey)) continue;
        const head = { topic: row.topic, key: row.key };
        const given =
          handoff !== undefined && s.next === true
            ? (this.c.stmt(sql.HANDOFF).get({ ...head, now, worker: handoff.workerId, until: handoff.leaseUntil }) as Row | undefined)
            : undefined;
        if (given !== undefined) claimed.push(claimedRow(given));
        else if (this.c.stmt(sql.PROMOTE).get(head) !== undefined) promoted.add(row.topic);
      }
      for (const topic of promoted) this.c.wakeAfterCommit(topic);
      return handoff === undefined ? { ok, promoted: [...promoted] } : { ok, promoted: [...promoted], claimed };
    });
  }

  private settleOne(s: Settlement, now: number): { topic: string; key: string | null } | undefined {
    const lease = { id: s.lease.id, token: s.lease.token };
    switch (s.kind) {
      case 'done':
        return this.c.stmt(sql.SETTLE_DONE).get({ ...lease, now }) as { topic: string; key: string | null } | undefined;
      case 'retry': {
        const e = errorColumns(s.error);
        return this.c.stmt(sql.SETTLE_RETRY).get({
          ...lease,
          runAt: s.runAt,
          refund: s.refund ? 1 : 0,
          history: JSON.stringify(s.history),
          error: e.error,
          code: e.code,
          message: e.message,
        }) as { topic: string; key: string | null } | undefined;
      }
      case 'dead': {
        const e = errorColumns(s.error);
        return this.c.stmt(sql.SETTLE_DEAD).get({
          ...lease,
          now,
          state: s.blockKey ? 'blocked' : 'dead',
          history: JSON.stringify(s.history),
          error: e.error,
          code: e.code,
          message: e.message,
          signature: s.signature,
        }) as { topic: string; key: string | null } | undefined;
      }
    }
  }

  async renew(workerId: string, leaseUntil: number): Promise<readonly Lease[]> {
    const rows = this.c.relaxed(() => this.c.stmt(sql.RENEW).all({ worker: workerId, until: leaseUntil }) as Row[]);
    return rows.map((r) => ({ id: r.id as string, token: num(r.lease_token) }));
  }

  async nextDueAt(topics: readonly string[], now: number): Promise<number | null> {
    const row = this.c.stmt(sql.NEXT_DUE).get({ topics: JSON.stringify(topics), now }) as { t: unknown };
    return numOrNull(row.t);
  }

  async get(id: string): Promise<MessageRecord | null> {
    const row = this.c.stmt(sql.GET).get(id) as Row | undefined;
    return row === undefined ? null : messageRow(row);
  }

  async stats(now: number): Promise<readonly TopicStats[]> {
    return (this.c.stmt(sql.STATS).all({ now }) as Row[]).map((r) => ({
      topic: r.topic as string,
      ready: num(r.ready),
      scheduled: num(r.scheduled),
      waiting: num(r.waiting),
      active: num(r.active),
      done: num(r.done),
      dead: num(r.dead),
      blocked: num(r.blocked),
      oldestReadyAt: numOrNull(r.oldest),
    }));
  }

  async hold(h: Hold): Promise<void> {
    this.c.stmt(sql.HOLD).run({ topic: h.topic, key: h.key ?? '', until: h.until, reason: h.reason });
  }

  async releaseHold(topic: string, key: string | null): Promise<boolean> {
    const released = this.c.stmt(sql.RELEASE_HOLD).run(topic, key ?? '').changes > 0;
    if (released) this.c.wakeNow(topic);
    return released;
  }

  async holds(now: number): Promise<readonly Hold[]> {
    return (this.c.stmt(sql.HOLDS).all(now) as Row[]).map((r) => ({
      topic: r.topic as string,
      key: r.key === '' ? null : (r.key as string),
      until: num(r.until),
      reason: r.reason as string,
    }));
  }

  async registerTopic(t: TopicConfig): Promise<void> {
    const released = this.c.tx(() => {
      this.c.stmt(sql.REGISTER_TOPIC).run({ topic: t.topic, ordering: t.ordering, policy: JSON.stringify(t.policy), now: t.updatedAt });
      return t.ordering === 'none' ? this.c.stmt(sql.RELEASE_WAITING).run(t.topic).changes : 0;
    });
    if (released > 0) this.c.wakeNow(t.topic);
  }

  async topics(): Promise<readonly TopicConfig[]> {
    return (this.c.stmt(sql.TOPICS).all() as Row[]).map(topicRow);
  }

  async heartbeat(w: WorkerInfo, now: number): Promise<void> {
    const row = { id: w.id, host: w.host, pid: w.pid, topics: JSON.stringify(w.topics), startedAt: w.startedAt, now };
    this.c.relaxed(() => this.c.stmt(sql.HEARTBEAT).run(row));
  }

  async workers(): Promise<readonly WorkerRecord[]> {
    return (this.c.stmt(sql.WORKERS).all() as Row[]).map(workerRow);
  }

  async removeWorker(workerId: string): Promise<void> {
    this.c.stmt(sql.REMOVE_WORKER).run(workerId);
  }

  async reclaim(r: ReclaimRequest): Promise<number> {
    const dead = JSON.stringify(r.deadWorkers);
    const rows = this.c.tx(() => {
      const reclaimed = this.c.stmt(sql.RECLAIM).all({ now: r.now, dead }) as Row[];
      if (r.deadWorkers.length > 0) this.c.stmt(sql.DELETE_WORKERS).run(dead);
      return reclaimed;
    });
    for (const topic of new Set(rows.map((row) => row.topic as string))) this.c.wakeNow(topic);
    return rows.length;
  }

  async repair(): Promise<number> {
    const rows = this.c.stmt(sql.REPAIR).all() as Row[];
    for (const topic of new Set(rows.map((row) => row.topic as string))) this.c.wakeNow(topic);
    return rows.length;
  }

  async purge(r: PurgeRequest): Promise<PurgeReport> {
    return { done: this.drain(sql.PURGE_DONE, r.doneBefore), inbox: this.drain(sql.PURGE_INBOX, r.inboxBefore) };
  }

  /** Repeats a batched delete until nothing is left. */
  private drain(statement: string, before: number): number {
    let total = 0;
    for (;;) {
      const n = this.c.stmt(statement).run(before).changes;
      total += n;
      if (n < 5000) return total;
    }
  }

  subscribe(listener: (topic: string | null) => void): Disposable {
    return this.c.subscribe(listener);
  }

  once(tx: Transaction, consumer: string, messageId: string, now: number): boolean {
    return this.c.stmtOn(tx, sql.ONCE).run(consumer, messageId, now).changes === 1;
  }
}

/** The parameters of ENQUEUE for one message. */
function enqueueParams(m: NewMessage, now: number): Record<string, unknown> {
  return { id: m.id, topic: m.topic, key: m.key, payload: JSON.stringify(m.payload ?? null), headers: JSON.stringify(m.headers), runAt: m.runAt, now };
}
