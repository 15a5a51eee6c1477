import type { Disposable } from '../../internal/events.js';
import type {
  ClaimedMessage,
  ClaimRequest,
  Handoff,
  Hold,
  InboxStore,
  Lease,
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
import type { PgConnection } from './connection.js';
import { type QueueSql, sql } from './queue.sql.js';

/** The PostgreSQL queue. Many processes on many machines may share it. */
export class PostgresQueueStore implements QueueStore, InboxStore {
  private readonly q: QueueSql;

  constructor(private readonly c: PgConnection) {
    this.q = sql(`"${c.schema}"`, c.channel);
  }

  /** The batch travels as one JSON parameter; the `enqueue` function locks keys and notifies on commit. */
  async enqueue(tx: Transaction | undefined, messages: readonly NewMessage[], now: number): Promise<readonly string[]> {
    if (messages.length === 0) return [];
    const batch = messages.map((m) => ({
      id: m.id,
      topic: m.topic,
      key: m.key,
      payload: m.payload ?? null,
      headers: m.headers,
      run_at: m.runAt,
    }));
    const rows = await this.c.query(this.q.enqueue, [JSON.stringify(batch), now], tx, true);
    return rows.map((r) => r.id as string);
  }

  async claim(r: ClaimRequest): Promise<readonly ClaimedMessage[]> {
    const rows = await this.c.query(this.q.claim, [r.topic, r.now, r.limit, r.workerId, r.now + r.leaseMs], undefined, true);
    return rows.map(claimedRow).toSorted((a, b) => a.runAt - b.runAt || a.seq - b.seq);
  }

  async settle(settlements: readonly Settlement[], now: number, handoff?: Handoff): Promise<SettleOutcome> {
    if (settlements.length === 0) return handoff === undefined ? { ok: [], promoted: [] } : { ok: [], promoted: [], claimed: [] };
    const batch = settlements.map((s) => {
      const base = { kind: s.kind, id: s.lease.id, token: s.lease.token, ...(s.kind !== 'retry' && s.next === true ? { next: true } : {}) };
      if (s.kind === 'done') return base;
      const e = errorColumns(s.error);
      const error = { error: s.error, code: e.code, message: e.message, history: s.history };
      return s.kind === 'retry'
        ? { ...base, ...error, run_at: s.runAt, refund: s.refund ? 1 : 0 }
        : { ...base, ...error, signature: s.signature, block_key: s.blockKey };
    });
    const params = [JSON.stringify(batch), now, handoff?.workerId ?? null, handoff?.leaseUntil ?? null];
    const rows = await this.c.query(this.q.settle, params, undefined, true);
    const ok = settlements.map(() => false);
    const promoted: string[] = [];
    const claimed: ClaimedMessage[] = [];
    for (const r of rows) {
      if (r.ord !== null) ok[num(r.ord) - 1] = true;
      else if (r.promoted !== null) promoted.push(r.promoted as string);
      else claimed.push(claimedRow(r));
    }
    return handoff === undefined ? { ok, promoted } : { ok, promoted, claimed };
  }

  async renew(workerId: string, leaseUntil: number): Promise<readonly Lease[]> {
    const rows = await this.c.query(this.q.renew, [workerId, leaseUntil], undefined, true);
    return rows.map((r) => ({ id: r.id as string, token: num(r.lease_token) }));
  }

  async nextDueAt(topics: readonly string[], now: number): Promise<number | null> {
    const rows = await this.c.query(this.q.nextDue, [topics, now], undefined, true);
    return numOrNull(rows[0]?.t);
  }

  async get(id: string): Promise<MessageRecord | null> {
    const rows = await this.c.query(this.q.get, [id]);
    return rows[0] === undefined ? null : messageRow(rows[0]);
  }

  async stats(now: number): Promise<readonly TopicStats[]> {
    return (await this.c.query(this.q.stats, [now])).map((r) => ({
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
    await this.c.query(this.q.hold, [h.topic, h.key ?? '', h.until, h.reason]);
  }

  async releaseHold(topic: string, key: string | null): Promise<boolean> {
    return (await this.c.query(this.q.releaseHold, [topic, key ?? ''])).length > 0;
  }

  async holds(now: number): Promise<readonly Hold[]> {
    return (await this.c.query(this.q.holds, [now])).map((r) => ({
      topic: r.topic as string,
      key: r.key === '' ? null : (r.key as string),
      until: num(r.until),
      reason: r.reason as string,
    }));
  }

  async registerTopic(t: TopicConfig): Promise<void> {
    await this.c.query(this.q.registerTopic, [t.topic, t.ordering, JSON.stringify(t.policy), t.updatedAt]);
  }

  async topics(): Promise<readonly TopicConfig[]> {
    return (await this.c.query(this.q.topics)).map(topicRow);
  }

  async heartbeat(w: WorkerInfo, now: number): Promise<void> {
    await this.c.query(this.q.heartbeat, [w.id, w.host, w.pid, JSON.stringify(w.topics), w.startedAt, now], undefined, true);
  }

  async workers(): Promise<readonly WorkerRecord[]> {
    return (await this.c.query(this.q.workers)).map(workerRow);
  }

  async removeWorker(workerId: string): Promise<void> {
    await this.c.query(this.q.removeWorker, [workerId]);
  }

  async reclaim(r: ReclaimRequest): Promise<number> {
    const rows = await this.c.query(this.q.reclaim, [r.now, r.deadWorkers], undefined, true);
    return rows.reduce((n, row) => n + num(row.n), 0);
  }

  async repair(now: number): Promise<number> {
    return (await this.c.query(this.q.repair, [now])).length;
  }

  async purge(r: PurgeRequest): Promise<PurgeReport> {
    return { done: await this.drain(this.q.purgeDone, r.doneBefore), inbox: await this.drain(this.q.purgeInbox, r.inboxBefore) };
  }

  private async drain(statement: string, before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.c.run(statement, [before]);
      total += n;
      if (n < 5000) return total;
    }
  }

  subscribe(listener: (topic: string | null) => void): Disposable {
    return this.c.subscribe(listener);
  }

  async once(tx: Transaction, consumer: string, messageId: string, now: number): Promise<boolean> {
    return (await this.c.run(this.q.once, [consumer, messageId, now], tx)) === 1;
  }
}
