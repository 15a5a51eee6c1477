import type { DeadLetter, DeadLetterFilter, DeadLetterGroup, DeadLetterStore, ReplayRequest } from '../dead-letters.js';
import { deadLetterRow } from './rows.js';
import { num, pageSize } from '../shared.js';
import type { SqliteConnection } from './connection.js';
import * as sql from './dead-letters.sql.js';
import { PROMOTE } from './queue.sql.js';

type Row = Record<string, unknown>;

/** Dead letters in SQLite. */
export class SqliteDeadLetterStore implements DeadLetterStore {
  constructor(private readonly c: SqliteConnection) {}

  async list(filter: DeadLetterFilter = {}): Promise<readonly DeadLetter[]> {
    const { clause, params } = sql.where(filter);
    return (this.c.stmt(sql.list(clause)).all({ ...params, limit: pageSize(filter.limit) }) as Row[]).map(deadLetterRow);
  }

  async count(filter: Omit<DeadLetterFilter, 'limit' | 'beforeSeq'> = {}): Promise<number> {
    const { clause, params } = sql.where(filter);
    return num((this.c.stmt(sql.count(clause)).get(params) as Row).n);
  }

  async groups(filter: { readonly topic?: string } = {}): Promise<readonly DeadLetterGroup[]> {
    const { clause, params } = sql.where(filter);
    return (this.c.stmt(sql.groups(clause)).all(params) as Row[]).map((r) => ({
      topic: r.topic as string,
      signature: (r.signature as string | null) ?? '',
      count: num(r.n),
      firstAt: num(r.first_at),
      lastAt: num(r.last_at),
      code: (r.code as string | null) ?? null,
      message: (r.message as string | null) ?? '',
    }));
  }

  async get(id: string): Promise<DeadLetter | null> {
    const row = this.c.stmt(sql.GET).get(id) as Row | undefined;
    return row === undefined ? null : deadLetterRow(row);
  }

  async replay(ids: readonly string[], r: ReplayRequest): Promise<readonly string[]> {
    const rows = this.c.tx(() => {
      const done: Row[] = [];
      for (const id of ids) {
        const row = this.c.stmt(sql.REPLAY).get({ id, runAt: r.now + done.length * r.spacingMs }) as Row | undefined;
        if (row !== undefined) done.push({ ...row, id });
      }
      return done;
    });
    for (const topic of new Set(rows.map((row) => row.topic as string))) this.c.wakeNow(topic);
    return rows.map((row) => row.id as string);
  }

  async discard(ids: readonly string[]): Promise<readonly string[]> {
    const { discarded, promoted } = this.c.tx(() => {
      const out: string[] = [];
      const topics = new Set<string>();
      for (const id of ids) {
        const row = this.c.stmt(sql.DISCARD).get(id) as Row | undefined;
        if (row === undefined) continue;
        out.push(id);
        if (row.state === 'blocked' && row.key !== null) {
          if (this.c.stmt(PROMOTE).get({ topic: row.topic, key: row.key }) !== undefined) topics.add(row.topic as string);
        }
      }
      return { discarded: out, promoted: topics };
    });
    for (const topic of promoted) this.c.wakeNow(topic);
    return discarded;
  }

  async purge(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = this.c.stmt(sql.PURGE).run(before).changes;
      total += n;
      if (n < 5000) return total;
    }
  }
}
