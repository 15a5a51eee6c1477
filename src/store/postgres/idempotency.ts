import type {
  IdempotencyBegin,
  IdempotencyBeginRequest,
  IdempotencyCompletion,
  IdempotencyRecord,
  IdempotencyStore,
} from '../idempotency.js';
import { idempotencyRow } from './rows.js';
import type { Transaction } from '../types.js';
import type { PgConnection } from './connection.js';
import { sql } from './idempotency.sql.js';

/** Idempotency records in PostgreSQL: an upsert takes a free key; a row lock arbitrates the rest. */
export class PostgresIdempotencyStore implements IdempotencyStore {
  private readonly q: ReturnType<typeof sql>;

  constructor(private readonly c: PgConnection) {
    this.q = sql(`"${c.schema}"`);
  }

  async begin(r: IdempotencyBeginRequest): Promise<IdempotencyBegin> {
    return this.c.tx(async (client): Promise<IdempotencyBegin> => {
      const lockedUntil = r.now + r.lockMs;
      const taken = await this.c.query(this.q.acquire, [r.scope, r.key, r.fingerprint, lockedUntil, r.now, r.now + r.ttlMs], client);
      if (taken.length > 0) return { status: 'acquired' };
      const row = (await this.c.query(this.q.lockedGet, [r.scope, r.key], client))[0];
      if (row === undefined) return { status: 'acquired' }; // unreachable: the conflict proved the row exists
      const current = idempotencyRow(row);
      if (current.fingerprint !== r.fingerprint) return { status: 'mismatch', record: current };
      if (current.state === 'completed') return { status: 'completed', record: current };
      if ((current.lockedUntil ?? 0) <= r.now) {
        await this.c.query(this.q.relock, [r.scope, r.key, lockedUntil], client);
        return { status: 'acquired' };
      }
      return { status: 'in_flight', record: current };
    });
  }

  async complete(scope: string, key: string, response: unknown, now: number, ttlMs: number, lockedUntil?: number): Promise<boolean> {
    return this.completeIn(undefined, { scope, key, response, now, ttlMs, ...(lockedUntil === undefined ? {} : { lockedUntil }) });
  }

  /** On the caller's client inside its `BEGIN`, so the response commits with the caller's rows. */
  async completeIn(tx: Transaction | undefined, c: IdempotencyCompletion): Promise<boolean> {
    const values = [c.scope, c.key, JSON.stringify(c.response ?? null), c.now + c.ttlMs];
    if (c.lockedUntil === undefined) return (await this.c.run(this.q.complete, values, tx)) > 0;
    return (await this.c.run(this.q.completeFenced, [...values, c.lockedUntil], tx)) > 0;
  }

  async release(scope: string, key: string, lockedUntil?: number): Promise<void> {
    if (lockedUntil === undefined) await this.c.run(this.q.release, [scope, key]);
    else await this.c.run(this.q.releaseFenced, [scope, key, lockedUntil]);
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | null> {
    const row = (await this.c.query(this.q.get, [scope, key]))[0];
    return row === undefined ? null : idempotencyRow(row);
  }

  async purge(now: number): Promise<number> {
    return this.c.run(this.q.purge, [now]);
  }
}
