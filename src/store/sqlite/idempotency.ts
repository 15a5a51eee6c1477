import type {
  IdempotencyBegin,
  IdempotencyBeginRequest,
  IdempotencyCompletion,
  IdempotencyRecord,
  IdempotencyStore,
} from '../idempotency.js';
import { idempotencyRow } from './rows.js';
import type { Transaction } from '../types.js';
import type { SqliteConnection } from './connection.js';
import * as sql from './idempotency.sql.js';

type Row = Record<string, unknown>;

/** Idempotency records in SQLite; `begin` is one write transaction, so two callers never both acquire. */
export class SqliteIdempotencyStore implements IdempotencyStore {
  constructor(private readonly c: SqliteConnection) {}

  async begin(r: IdempotencyBeginRequest): Promise<IdempotencyBegin> {
    return this.c.tx((): IdempotencyBegin => {
      const row = this.c.stmt(sql.GET).get(r.scope, r.key) as Row | undefined;
      const current = row === undefined ? null : idempotencyRow(row);
      const params = { scope: r.scope, key: r.key, lockedUntil: r.now + r.lockMs };
      if (current === null || current.expiresAt <= r.now) {
        this.c.stmt(sql.ACQUIRE).run({ ...params, fingerprint: r.fingerprint, now: r.now, expiresAt: r.now + r.ttlMs });
        return { status: 'acquired' };
      }
      if (current.fingerprint !== r.fingerprint) return { status: 'mismatch', record: current };
      if (current.state === 'completed') return { status: 'completed', record: current };
      if ((current.lockedUntil ?? 0) <= r.now) {
        this.c.stmt(sql.RELOCK).run(params);
        return { status: 'acquired' };
      }
      return { status: 'in_flight', record: current };
    });
  }

  async complete(scope: string, key: string, response: unknown, now: number, ttlMs: number, lockedUntil?: number): Promise<boolean> {
    return this.completeIn(undefined, { scope, key, response, now, ttlMs, ...(lockedUntil === undefined ? {} : { lockedUntil }) });
  }

  /** Synchronous: better-sqlite3 runs it inside the caller's `db.transaction()`. */
  completeIn(tx: Transaction | undefined, c: IdempotencyCompletion): boolean {
    const params = { scope: c.scope, key: c.key, response: JSON.stringify(c.response ?? null), expiresAt: c.now + c.ttlMs };
    if (c.lockedUntil === undefined) return this.c.stmtOn(tx, sql.COMPLETE).run(params).changes > 0;
    return this.c.stmtOn(tx, sql.COMPLETE_FENCED).run({ ...params, lockedUntil: c.lockedUntil }).changes > 0;
  }

  async release(scope: string, key: string, lockedUntil?: number): Promise<void> {
    if (lockedUntil === undefined) this.c.stmt(sql.RELEASE).run(scope, key);
    else this.c.stmt(sql.RELEASE_FENCED).run(scope, key, lockedUntil);
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | null> {
    const row = this.c.stmt(sql.GET).get(scope, key) as Row | undefined;
    return row === undefined ? null : idempotencyRow(row);
  }

  async purge(now: number): Promise<number> {
    return this.c.stmt(sql.PURGE).run(now).changes;
  }
}
