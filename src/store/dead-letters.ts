import type { AttemptRecord, ErrorRecord, MessageRecord } from './queue.js';

/** An earlier dead-lettering of a message that was replayed since. */
export interface PreviousDeadLetter {
  readonly deadAt: number;
  readonly error: ErrorRecord | null;
  readonly history: readonly AttemptRecord[];
}

/** A message that ran out of retries (or failed permanently), with everything needed to diagnose and replay it. */
export interface DeadLetter extends MessageRecord {
  readonly state: 'dead' | 'blocked';
  readonly error: ErrorRecord;
  /** Groups dead letters that failed the same way; see `errorSignature()` in `weir/queue`. */
  readonly signature: string;
  /** When it was dead-lettered, epoch ms. */
  readonly deadAt: number;
  /** Earlier dead-letterings, oldest first, when it was replayed before. */
  readonly previous: readonly PreviousDeadLetter[];
}

/** Narrows a listing. Every field is optional; results are newest first (by `seq`). */
export interface DeadLetterFilter {
  readonly topic?: string;
  readonly signature?: string;
  readonly key?: string;
  /** Only dead-lettered at or after this time. */
  readonly since?: number;
  /** Only dead-lettered before this time. */
  readonly until?: number;
  /** Page size. Default 100, at most 1000. */
  readonly limit?: number;
  /** Keyset page: only messages with a smaller `seq` (pass the last `seq` of the previous page). */
  readonly beforeSeq?: number;
}

/** Dead letters that share a topic and an error signature. */
export interface DeadLetterGroup {
  readonly topic: string;
  readonly signature: string;
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
  /** Code and message of one member, as a label. */
  readonly code: string | null;
  readonly message: string;
}

export interface ReplayRequest {
  readonly now: number;
  /** The n-th message becomes due at `now + n * spacingMs`, which rate-limits a large replay. */
  readonly spacingMs: number;
}

/** Storage of dead letters (messages in state `dead` or `blocked`). */
export interface DeadLetterStore {
  list(filter?: DeadLetterFilter): Promise<readonly DeadLetter[]>;
  count(filter?: Omit<DeadLetterFilter, 'limit' | 'beforeSeq'>): Promise<number>;
  groups(filter?: { readonly topic?: string }): Promise<readonly DeadLetterGroup[]>;
  get(id: string): Promise<DeadLetter | null>;
  /**
   * Puts dead letters back in the queue under the same id, with attempts reset and a new attempt
   * history (the old error and history move to `previous`). A keyed message waits behind whatever
   * its key is doing now; a blocked one is the head of its key again.
   * @returns the ids replayed (ids not dead are ignored).
   */
  replay(ids: readonly string[], request: ReplayRequest): Promise<readonly string[]>;
  /** Deletes dead letters (a blocked key moves on). @returns the ids discarded. */
  discard(ids: readonly string[]): Promise<readonly string[]>;
  /** Deletes dead letters dead-lettered before `before`. @returns how many. */
  purge(before: number): Promise<number>;
}
