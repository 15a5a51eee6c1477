import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock, type Timer } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { finite, integer } from '../internal/validate.js';
import { createRedactor, type Redactor } from '../security/redact.js';
import type { AuditEntry, AuditQuery, AuditRecord, AuditStore } from '../store/audit.js';

/** Anything that takes audit entries. `record` must not block or throw: it is called on the request path. */
export interface AuditSink {
  record(entry: AuditEntry): void;
}

/** Options of {@link auditTrail}. */
export interface AuditTrailOptions {
  /** Where entries are written: a `Store` (its `audit`) or an `AuditStore`. */
  store: AuditStore | { readonly audit: AuditStore };
  /** Entries per write (one transaction each). Default 200. */
  batchSize?: number;
  /**
   * How long an entry may wait in memory before it is written, in ms. Default 1_000. `0` writes
   * before the event loop moves on (the entries recorded in one turn form one batch): on SQLite, whose
   * writes are synchronous, an entry is on disk before any further I/O of the process, so a `kill -9`
   * cannot lose the entry of an attempt whose answer was acted upon.
   */
  flushIntervalMs?: number;
  /** Entries kept in memory while the store is slow or down; beyond it the oldest are dropped (and counted). Default 10_000. */
  maxBuffered?: number;
  /** Delete entries older than this many ms, checked every `purgeIntervalMs`. Default false (keep everything). */
  retentionMs?: number | false;
  /** How often retention runs, in ms. Default 3_600_000 (1 h). */
  purgeIntervalMs?: number;
  /** Applied to every entry's path and detail before it is written (defence in depth). Default `createRedactor()`. */
  redactor?: Redactor;
  /** Default: the system clock. */
  clock?: Clock;
}

/** Filters of {@link AuditTrail.query}; all optional, combined with AND (the store's `AuditQuery`). */
export type AuditTrailQuery = AuditQuery;

export interface AuditFlushEvent {
  readonly count: number;
}
export interface AuditDropEvent {
  readonly count: number;
  readonly reason: 'overflow' | 'closed';
}

const DEFAULTS = { batchSize: 200, flushIntervalMs: 1_000, maxBuffered: 10_000, purgeIntervalMs: 3_600_000 } as const;

/**
 * The audit trail: takes entries on the request path (`record` is a push onto an array) and writes
 * them to the store in batches, off the hot path, at most `flushIntervalMs` after they arrived or
 * as soon as a batch is full. A failed write keeps its entries for the next try (up to
 * `maxBuffered`, then the oldest are dropped and counted: the trail never grows without bound nor
 * blocks a request). `close()` writes everything still in memory. Reads (`query`) flush first, so
 * they see every entry recorded before them. Retention deletes old entries in the background.
 *
 * Background timers are `unref`'d, an explicit choice: an audit flush must never keep a process
 * alive; call `close()` (or `flush()`) before exit. Import from `weir/observability`.
 *
 * @throws InvalidOptionError naming `auditTrail.<option>` for a bad option.
 * @example
 * ```ts
 * const store = await openStore('sqlite:./weir.db');
 * const trail = auditTrail({ store, retentionMs: 30 * 86_400_000 });
 * const esp = connection({ name: 'esp', baseUrl, audit: trail });
 * await trail.query({ correlationId: message.id });
 * await trail.close();
 * ```
 */
export function auditTrail(options: AuditTrailOptions): AuditTrail {
  return new AuditTrail(options);
}

export class AuditTrail implements AuditSink {
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly maxBuffered: number;
  readonly retentionMs: number | undefined;
  readonly purgeIntervalMs: number;
  private readonly store: AuditStore;
  private readonly redactor: Redactor;
  private readonly clock: Clock;
  private buffer: AuditEntry[] = [];
  private timer: Timer | undefined = undefined;
  private timerDue = 0;
  private purgeTimer: Timer | undefined = undefined;
  private flushing: Promise<void> = Promise.resolve();
  private turnFlush = false;
  private closed = false;
  private droppedCount = 0;
  private readonly flushes = new Emitter<AuditFlushEvent>();
  private readonly drops = new Emitter<AuditDropEvent>();
  private readonly errors = new Emitter<unknown>();
  /** Fires after each successful write. */
  readonly onFlush = this.flushes.event;
  /** Fires when entries are dropped (buffer full while the store is down, or recorded after `close()`). */
  readonly onDrop = this.drops.event;
  /** Fires when a write or a purge fails (the entries are kept for the next try). */
  readonly onError = this.errors.event;

  constructor(options: AuditTrailOptions) {
    const s = options?.store as Partial<AuditStore> & { audit?: AuditStore };
    const store = typeof s?.append === 'function' ? (s as AuditStore) : s?.audit;
    if (store === undefined || typeof store.append !== 'function') throw new InvalidOptionError('auditTrail.store', 'a Store or an AuditStore', s);
    this.store = store;
    this.batchSize = integer(options.batchSize ?? DEFAULTS.batchSize, 'auditTrail.batchSize', 1);
    this.flushIntervalMs = finite(options.flushIntervalMs ?? DEFAULTS.flushIntervalMs, 'auditTrail.flushIntervalMs', 0);
    this.maxBuffered = integer(options.maxBuffered ?? DEFAULTS.maxBuffered, 'auditTrail.maxBuffered', 1);
    this.retentionMs = options.retentionMs === undefined || options.retentionMs === false ? undefined : finite(options.retentionMs, 'auditTrail.retentionMs', 1);
    this.purgeIntervalMs = finite(options.purgeIntervalMs ?? DEFAULTS.purgeIntervalMs, 'auditTrail.purgeIntervalMs', 1);
    this.redactor = options.redactor ?? createRedactor();
    this.clock = options.clock ?? systemClock;
    if (this.retentionMs !== undefined) this.armPurge(0);
  }

  /** Entries waiting to be written. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Entries dropped so far (see `onDrop`). */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Takes one entry; never blocks, never throws. */
  record(entry: AuditEntry): void {
    if (this.closed) {
      this.drop(1, 'closed');
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length > this.maxBuffered) this.drop(this.buffer.splice(0, this.buffer.length - this.maxBuffered).length, 'overflow');
    if (this.flushIntervalMs === 0) this.flushThisTurn();
    else this.schedule(this.buffer.length >= this.batchSize ? 0 : this.flushIntervalMs);
  }

  private flushThisTurn(): void {
    if (this.turnFlush) return;
    this.turnFlush = true;
    queueMicrotask(() => {
      this.turnFlush = false;
      this.flush().catch(() => {
        if (!this.closed && this.buffer.length > 0) this.schedule(100);
      });
    });
  }

  /**
   * Writes every entry recorded so far. Flushes run one at a time, in order.
   * @throws the store's error (`WEIR_STORE`) when a write fails; the entries stay buffered.
   */
  flush(): Promise<void> {
    const run = this.flushing.then(() => this.writeAll());
    this.flushing = run.catch(() => undefined);
    return run;
  }

  /**
   * Reads entries (after flushing, so every entry recorded before the call is visible): by time
   * (`since`/`until`), connection (`system`), `correlationId`, `outcome`, `requestId`, direction,
   * and `afterSeq`/`beforeSeq` for paging. Newest first unless `order: 'asc'` or `afterSeq`.
   */
  async query(q: AuditTrailQuery = {}): Promise<readonly AuditRecord[]> {
    await this.flush();
    return this.store.list(q);
  }

  /** Every entry of one logical operation (a message, a sync step), oldest first. */
  byCorrelation(correlationId: string, limit = 1000): Promise<readonly AuditRecord[]> {
    return this.query({ correlationId, order: 'asc', limit });
  }

  /**
   * Deletes entries older than the retention (or than `before`, epoch ms, when given).
   * @returns how many were deleted.
   */
  async purge(before?: number): Promise<number> {
    const cutoff = before ?? (this.retentionMs === undefined ? undefined : this.clock.now() - this.retentionMs);
    if (cutoff === undefined) return 0;
    return this.store.purge(cutoff);
  }

  /** Writes what is buffered and stops the timers. Entries recorded afterwards are dropped. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    this.timer?.close();
    this.timer = undefined;
    this.purgeTimer?.close();
    this.purgeTimer = undefined;
    await this.flush();
  }

  private schedule(ms: number): void {
    const due = this.clock.now() + ms;
    if (this.timer !== undefined) {
      if (this.timerDue <= due) return;
      this.timer.close();
    }
    this.timerDue = due;
    this.timer = this.clock.setTimer(ms, () => {
      this.timer = undefined;
      this.flush().catch(() => {
        // Kept in the buffer; try again after the interval (errors are reported through onError).
        if (!this.closed && this.buffer.length > 0) this.schedule(Math.max(this.flushIntervalMs, 100));
      });
    });
    this.timer.unref();
  }

  private async writeAll(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.batchSize);
      try {
        await this.store.append(batch.map((e) => this.clean(e)));
      } catch (err) {
        this.buffer = [...batch, ...this.buffer];
        if (this.buffer.length > this.maxBuffered) this.drop(this.buffer.splice(0, this.buffer.length - this.maxBuffered).length, 'overflow');
        if (this.errors.size > 0) this.errors.emit(err);
        throw err;
      }
      if (this.flushes.size > 0) this.flushes.emit({ count: batch.length });
    }
  }

  /** The redactor again, on the way to disk: whoever recorded the entry, no secret is written. */
  private clean(e: AuditEntry): AuditEntry {
    return { ...e, path: this.redactor.url(e.path), detail: this.redactor.json(e.detail) as Record<string, unknown> };
  }

  private drop(count: number, reason: AuditDropEvent['reason']): void {
    if (count <= 0) return;
    this.droppedCount += count;
    if (this.drops.size > 0) this.drops.emit({ count, reason });
  }

  private armPurge(ms: number): void {
    this.purgeTimer = this.clock.setTimer(ms, () => {
      this.purgeTimer = undefined;
      this.purge()
        .catch((err: unknown) => {
          if (this.errors.size > 0) this.errors.emit(err);
        })
        .finally(() => {
          if (!this.closed) this.armPurge(this.purgeIntervalMs);
        });
    });
    this.purgeTimer.unref();
  }
}

/** An audit entry in the JSON shape of the admin API (`GET /audit`): snake_case, as in the flagship contract. */
export interface AuditEntryJson {
  readonly seq: number;
  readonly ts: number;
  readonly direction: 'inbound' | 'outbound';
  readonly system: string;
  readonly request_id: string;
  readonly method: string;
  readonly path: string;
  readonly status: number | null;
  readonly outcome: string;
  readonly attempt: number;
  readonly duration_ms: number;
  readonly correlation_id: string | null;
  readonly idempotency_key?: string;
}

/** Converts a stored record to the admin API's JSON shape. */
export function toAuditJson(r: AuditRecord): AuditEntryJson {
  return {
    seq: r.seq,
    ts: r.ts,
    direction: r.direction,
    system: r.system,
    request_id: r.requestId,
    method: r.method,
    path: r.path,
    status: r.status,
    outcome: r.outcome,
    attempt: r.attempt,
    duration_ms: r.durationMs,
    correlation_id: r.correlationId,
    ...(r.idempotencyKey === null ? {} : { idempotency_key: r.idempotencyKey }),
  };
}
