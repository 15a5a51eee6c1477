/** One audited exchange: an inbound request or one outbound attempt. Never contains a secret. */
export interface AuditEntry {
  /** Epoch ms. */
  readonly ts: number;
  readonly direction: 'inbound' | 'outbound';
  /** The other system (a connection name). */
  readonly system: string;
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  /** HTTP status, or null when no response arrived. */
  readonly status: number | null;
  /** e.g. `success`, `transient`, `rate_limited`, `permanent`, `timeout`, `circuit_open`. */
  readonly outcome: string;
  /** 1-based attempt number. */
  readonly attempt: number;
  readonly durationMs: number;
  readonly correlationId: string | null;
  readonly idempotencyKey: string | null;
  /** Redacted extra detail. */
  readonly detail: Readonly<Record<string, unknown>>;
}

/** An entry as stored, with its sequence number (strictly increasing). */
export interface AuditRecord extends AuditEntry {
  readonly seq: number;
}

export interface AuditQuery {
  /** Only entries with a larger seq (tailing). */
  readonly afterSeq?: number;
  /** Only entries with a smaller seq (paging back). */
  readonly beforeSeq?: number;
  readonly since?: number;
  readonly until?: number;
  readonly system?: string;
  readonly direction?: 'inbound' | 'outbound';
  readonly correlationId?: string;
  readonly requestId?: string;
  /** Only entries with this outcome (e.g. `http_error`, `rejected`). */
  readonly outcome?: string;
  /** Default 100, at most 1000. */
  readonly limit?: number;
  /** Default `'asc'` (oldest first) with `afterSeq`, else `'desc'`. */
  readonly order?: 'asc' | 'desc';
}

/** The append-only audit trail. */
export interface AuditStore {
  /** Appends entries in one transaction. @returns their seqs, in order. */
  append(entries: readonly AuditEntry[]): Promise<readonly number[]>;
  list(query?: AuditQuery): Promise<readonly AuditRecord[]>;
  /** Deletes entries older than `before` (retention). @returns how many. */
  purge(before: number): Promise<number>;
}
