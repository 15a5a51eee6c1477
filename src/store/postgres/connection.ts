import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../../errors.js';
import { Emitter } from '../../internal/events.js';
import { storeError, wake } from '../shared.js';
import type { PgTransaction, Transaction } from '../types.js';

/** The part of a `pg.PoolClient` Weir uses. */
export interface PgClientLike extends PgTransaction {
  release(destroy?: boolean | Error): void;
  on(event: 'notification', listener: (message: { channel: string; payload?: string | undefined }) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
}

/** The part of a `pg.Pool` Weir uses: an existing pool may be passed in (the caller then owns it). */
export interface PgPoolLike extends PgTransaction {
  connect(): Promise<PgClientLike>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

type Rows = Record<string, unknown>[];

/** A pool that also takes a query config (`pg.Pool` does): named statements are prepared once per connection. */
interface PreparingQueryable {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}

const statementNames = new Map<string, string>();

/** A name derived from the text, so one name never stands for two texts (pg rejects that). */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `weir_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
    statementNames.set(text, name);
  }
  return name;
}

/**
 * The pool, a query helper that turns driver errors into `WEIR_STORE`, transactions, and one
 * dedicated `LISTEN` connection (opened when the first listener subscribes, re-opened with backoff
 * after a connection loss such as a PostgreSQL restart; each reconnect wakes listeners, since
 * notifications sent meanwhile were lost).
 */
export class PgConnection {
  private readonly wakeups = new Emitter<string | null>();
  private listener: PgClientLike | undefined = undefined;
  private listening: Promise<void> | undefined = undefined;
  private retryTimer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  readonly channel: string;

  constructor(
    readonly pool: PgPoolLike,
    readonly schema: string,
    private readonly ownsPool: boolean,
    /** Run hot statements as named prepared statements (parsed and planned once per connection). */
    private readonly prepare = true,
  ) {
    this.channel = `weir_${schema}`;
    // An idle client that loses its connection emits 'error' on the pool; unhandled, it would crash the process.
    pool.on('error', () => undefined);
  }

  /**
   * Runs one statement on `tx` (a caller's client) or on the pool. A `hot` statement on the pool runs
   * as a named prepared statement, which saves its parse and plan on every call after a connection's
   * first. Hot statements name their result columns (never `*`), so a later migration that adds
   * columns cannot change a cached plan's result type.
   */
  async query(text: string, values: unknown[] = [], tx?: Transaction, hot = false): Promise<Rows> {
    // Checked before the try: a wrong transaction is the caller's mistake, not a store failure.
    const target = tx === undefined ? this.pool : asPg(tx);
    try {
      if (tx === undefined && hot && this.prepare) {
        return (await (this.pool as unknown as PreparingQueryable).query({ name: statementName(text), text, values })).rows as Rows;
      }
      return (await target.query(text, values)).rows as Rows;
    } catch (err) {
      throw storeError(`PostgreSQL query failed: ${(err as Error).message}`, err);
    }
  }

  /** Runs one statement and returns how many rows it changed. */
  async run(text: string, values: unknown[] = [], tx?: Transaction): Promise<number> {
    const target = tx === undefined ? this.pool : asPg(tx);
    try {
      return (await target.query(text, values)).rowCount ?? 0;
    } catch (err) {
      throw storeError(`PostgreSQL query failed: ${(err as Error).message}`, err);
    }
  }

  /** Runs `fn` inside BEGIN … COMMIT on one pooled client (ROLLBACK when it throws). */
  async tx<T>(fn: (client: PgClientLike) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    let broken: Error | undefined;
    // pg-pool listens for errors only on idle clients: a connection lost while checked out would
    // emit 'error' with no listener and crash the process.
    const onError = (err: Error): void => {
      broken = err;
    };
    client.on('error', onError);
    try {
      try {
        await client.query('BEGIN');
      } catch (err) {
        broken = err as Error;
        throw storeError(`PostgreSQL BEGIN failed: ${(err as Error).message}`, err);
      }
      try {
        const result = await fn(client);
        await commit(client);
        return result;
      } catch (err) {
        // The caller's own error passes through unchanged; only driver failures become WEIR_STORE.
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw err;
      }
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  /** A pooled client, with driver errors as `WEIR_STORE`. */
  async checkout(): Promise<PgClientLike> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw storeError(`PostgreSQL connection failed: ${(err as Error).message}`, err);
    }
  }

  subscribe(listener: (topic: string | null) => void): { dispose(): void; [Symbol.dispose](): void } {
    const sub = this.wakeups.event(listener);
    if (this.listening === undefined && this.listener === undefined) this.listening = this.listen(0);
    const dispose = (): void => {
      sub.dispose();
      if (this.wakeups.size === 0) this.unlisten();
    };
    return { dispose, [Symbol.dispose]: dispose };
  }

  private async listen(failures: number): Promise<void> {
    let client: PgClientLike | undefined;
    try {
      client = await this.pool.connect();
      client.on('notification', (msg) => {
        if (msg.channel === this.channel) wake(this.wakeups, msg.payload ?? null);
      });
      client.on('error', (err) => this.lost(client as PgClientLike, err));
      await client.query(`LISTEN "${this.channel}"`);
      if (this.closed || this.wakeups.size === 0) {
        client.removeAllListeners();
        client.release(true);
        return;
      }
      this.listener = client;
      this.listening = undefined;
      // Anything committed while we were not listening went unnoticed.
      wake(this.wakeups, null);
    } catch (err) {
      if (client !== undefined) {
        client.removeAllListeners('notification');
        client.release(err as Error);
      }
      this.retry(failures + 1);
    }
  }

  private lost(client: PgClientLike, err: Error): void {
    if (this.listener !== client) return;
    this.listener = undefined;
    client.removeAllListeners('notification');
    client.release(err);
    this.retry(1);
  }

  /** Reconnects after 50 ms, doubling up to 5 s; unref'd, the backstop poll keeps working meanwhile. */
  private retry(failures: number): void {
    if (this.closed || this.wakeups.size === 0) {
      this.listening = undefined;
      return;
    }
    this.listening = new Promise((resolve) => {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        void this.listen(failures).then(resolve);
      }, Math.min(5000, 50 * 2 ** Math.min(failures, 7)));
      this.retryTimer.unref();
    });
  }

  private unlisten(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.listening = undefined;
    const client = this.listener;
    this.listener = undefined;
    if (client === undefined) return;
    client.removeAllListeners('notification');
    client.query(`UNLISTEN "${this.channel}"`).then(
      () => client.release(),
      (err: Error) => client.release(err),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    if (this.ownsPool) await this.pool.end();
  }
}

async function commit(client: PgClientLike): Promise<void> {
  try {
    await client.query('COMMIT');
  } catch (err) {
    throw storeError(`PostgreSQL COMMIT failed: ${(err as Error).message}`, err);
  }
}

/** Checks that a caller's transaction is a pg client. */
export function asPg(tx: Transaction): PgTransaction {
  if (typeof (tx as Partial<PgTransaction>).query !== 'function' || typeof (tx as { prepare?: unknown }).prepare === 'function') {
    throw new InvalidOptionError('tx', 'a pg Client or PoolClient inside BEGIN', tx);
  }
  return tx as PgTransaction;
}
