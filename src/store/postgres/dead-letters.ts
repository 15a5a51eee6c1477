import type { DeadLetter, DeadLetterFilter, DeadLetterGroup, DeadLetterStore, ReplayRequest } from '../dead-letters.js';
import { deadLetterRow } from './rows.js';
import { num, pageSize } from '../shared.js';
import type { PgConnection } from './connection.js';
import { sql, where } from './dead-letters.sql.js';

/** Dead letters in PostgreSQL; replay and discard lock the keys they touch (see the migration's functions). */
export class PostgresDeadLetterStore implements DeadLetterStore {
  private readonly q: ReturnType<typeof sql>;

  constructor(private readonly c: PgConnection) {
    this.q = sql(`"${c.schema}"`);
  }

  async list(filter: DeadLetterFilter = {}): Promise<readonly DeadLetter[]> {
    const { clause, params } = where(filter);
    const rows = await this.c.query(this.q.list(clause, params.length + 1), [...params, pageSize(filter.limit)]);
    return rows.map(deadLetterRow);
  }

  async count(filter: Omit<DeadLetterFilter, 'limit' | 'beforeSeq'> = {}): Promise<number> {
    const { clause, params } = where(filter);
    return num((await this.c.query(this.q.count(clause), params))[0]?.n);
  }

  async groups(filter: { readonly topic?: string } = {}): Promise<readonly DeadLetterGroup[]> {
    const { clause, params } = where(filter);
    return (await this.c.query(this.q.groups(clause), params)).map((r) => ({
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
    const rows = await this.c.query(this.q.get, [id]);
    return rows[0] === undefined ? null : deadLetterRow(rows[0]);
  }

  async replay(ids: readonly string[], r: ReplayRequest): Promise<readonly string[]> {
    if (ids.length === 0) return [];
    return (await this.c.query(this.q.replay, [ids, r.now, r.spacingMs])).map((row) => row.id as string);
  }

  async discard(ids: readonly string[]): Promise<readonly string[]> {
    if (ids.length === 0) return [];
    return (await this.c.query(this.q.discard, [ids, Number.MAX_SAFE_INTEGER])).map((row) => row.id as string);
  }

  async purge(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.c.run(this.q.purge, [before]);
      total += n;
      if (n < 5000) return total;
    }
  }
}
