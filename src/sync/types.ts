import type { Connection } from '../http/connection.js';
import type { SyncBaseline, SyncFields, SyncSide } from '../store/sync.js';
import type { SideHttp } from './side-http.js';

export type { SyncBaseline, SyncFields, SyncSide };

/** What an adapter call gets: the side's HTTP client (which observes `Date` headers and counts calls) and the call's context. */
export interface SideContext {
  /** Calls through the side's `weir/http` connection; responses feed the clock-skew estimate. */
  readonly http: SideHttp;
  /** The queue message or reconciliation the call serves (audit `correlation_id`). */
  readonly correlationId?: string;
  readonly signal?: AbortSignal;
}

/** One page of `list()`. */
export interface SyncPage<R> {
  readonly items: readonly R[];
  /** The opaque cursor of the next page, or null at the end. */
  readonly next: string | null;
}

/** The outcome of `create()`: the new record, or the id of an existing record the remote refused to duplicate (409 "exists"). */
export type CreateOutcome<R> = { readonly created: R } | { readonly exists: string };

/**
 * One system of a sync: how to read and write its records over a `weir/http` connection, and how
 * to read a record's identity, version, edit time, last editor and mapped fields.
 *
 * Errors: throw what the connection throws. The engine reads `HttpStatusError.status` of `update`:
 * 412 (version moved: the change is retried with fresh data), 409 (a unique field collides:
 * escalated), 404 (deleted: escalated).
 */
export interface SyncAdapter<R = Record<string, unknown>> {
  /** The system's name (`'crm'`): reports, metrics, escalation values. */
  readonly name: string;
  /** The connection calls go through (its `Date` headers give the clock skew). */
  readonly connection: Connection;
  /** The record, or null when it does not exist (404). */
  get(id: string, ctx: SideContext): Promise<R | null>;
  /** A page ordered by `(updatedAt, id)`; `since` (epoch ms) is inclusive; null: from the beginning. */
  list(page: { readonly since: number | null; readonly cursor: string | null; readonly limit: number }, ctx: SideContext): Promise<SyncPage<R>>;
  /**
   * Creates a record from the other side's mapped fields. Send `idempotencyKey` as the
   * Idempotency-Key and `otherId` as the record's external id. Return `{ exists: id }` on a 409 "exists".
   */
  create?(fields: SyncFields, ctx: SideContext & { readonly idempotencyKey: string; readonly otherId: string }): Promise<CreateOutcome<R>>;
  /** Writes mapped fields conditionally (`If-Match: ifMatch`). @returns the updated record. */
  update(id: string, patch: SyncFields, ctx: SideContext & { readonly ifMatch: number; readonly idempotencyKey: string }): Promise<R>;
  /** Looks a record up by the other side's id (its external id) or by natural key; null when none. */
  find?(query: { readonly externalId: string } | { readonly naturalKey: string }, ctx: SideContext): Promise<R | null>;
  /** Records the other side's id on an adopted record (sets its external id). @returns the updated record. */
  adopt?(id: string, otherId: string, record: R, ctx: SideContext): Promise<R>;
  id(record: R): string;
  /** A number that grows with every change of the record. */
  version(record: R): number;
  /** When the record was last changed, epoch ms, by the system's own clock. */
  updatedAt(record: R): number;
  /** Who changed it last (e.g. `'user'` or `'api'`), if known. */
  editor?(record: R): string | undefined;
  /** The natural key (e.g. the lower-cased email), normalised, if any. */
  naturalKey?(record: R): string | undefined;
  /** The other side's id recorded on this record, if any. */
  externalId?(record: R): string | null | undefined;
  /** The mapped fields, normalised (e.g. lower-cased email); the same field names on both sides. */
  project(record: R): SyncFields;
  /** Fields whose values are unique on this system: a 409 on update escalates `<field>_collision`. */
  readonly uniqueFields?: readonly string[];
}
