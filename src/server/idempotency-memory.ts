import type { IdempotencyBegin, IdempotencyBeginRequest, IdempotencyRecord, IdempotencyStore } from '../store/idempotency.js';

/**
 * Idempotency records in this process's memory: one server instance, tests, development. Each
 * operation is synchronous underneath, so `begin()` is atomic within the process. Records past
 * their expiry are dropped as they are met and by `purge()` (no timer). For several instances use
 * SQLite (one host), PostgreSQL or Redis (`weir/store/redis`).
 * Import from `weir/server`.
 *
 * @example
 * ```ts
 * app.use(weir(idempotency({ store: memoryIdempotencyStore() })));
 * ```
 */
export function memoryIdempotencyStore(): MemoryIdempotencyStore {
  return new MemoryIdempotencyStore();
}

export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly records = new Map<string, IdempotencyRecord>();
  private begins = 0;

  /** How many records are held (live or not yet purged). */
  get size(): number {
    return this.records.size;
  }

  async begin(r: IdempotencyBeginRequest): Promise<IdempotencyBegin> {
    // Amortised clean-up without a timer: every 1024 calls, drop what expired.
    if (++this.begins % 1024 === 0) await this.purge(r.now);
    const id = `${r.scope}\u0000${r.key}`;
    const current = this.records.get(id);
    const lockedUntil = r.now + r.lockMs;
    if (current === undefined || current.expiresAt <= r.now) {
      this.records.set(id, {
        scope: r.scope,
        key: r.key,
        fingerprint: r.fingerprint,
        state: 'in_flight',
        response: null,
        lockedUntil,
        createdAt: r.now,
        expiresAt: r.now + r.ttlMs,
      });
      return { status: 'acquired' };
    }
    if (current.fingerprint !== r.fingerprint) return { status: 'mismatch', record: current };
    if (current.state === 'completed') return { status: 'completed', record: current };
    if ((current.lockedUntil ?? 0) <= r.now) {
      this.records.set(id, { ...current, lockedUntil });
      return { status: 'acquired' };
    }
    return { status: 'in_flight', record: current };
  }

  async complete(scope: string, key: string, response: unknown, now: number, ttlMs: number, lockedUntil?: number): Promise<boolean> {
    const id = `${scope}\u0000${key}`;
    const current = this.records.get(id);
    if (current === undefined) return false;
    if (lockedUntil !== undefined && (current.state !== 'in_flight' || current.lockedUntil !== lockedUntil)) return false;
    // Kept by reference (no copy on the hot path): callers hand over a fresh value and never mutate it.
    this.records.set(id, { ...current, state: 'completed', response: response ?? null, lockedUntil: null, expiresAt: now + ttlMs });
    return true;
  }

  async release(scope: string, key: string, lockedUntil?: number): Promise<void> {
    const id = `${scope}\u0000${key}`;
    const current = this.records.get(id);
    if (current === undefined || current.state !== 'in_flight') return;
    if (lockedUntil !== undefined && current.lockedUntil !== lockedUntil) return;
    this.records.delete(id);
  }

  async get(scope: string, key: string): Promise<IdempotencyRecord | null> {
    return this.records.get(`${scope}\u0000${key}`) ?? null;
  }

  async purge(now: number): Promise<number> {
    let n = 0;
    for (const [id, record] of this.records) {
      if (record.expiresAt <= now) {
        this.records.delete(id);
        n++;
      }
    }
    return n;
  }
}
