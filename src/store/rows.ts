import type { AuditRecord } from './audit.js';
import type { DeadLetter, PreviousDeadLetter } from './dead-letters.js';
import type { IdempotencyRecord } from './idempotency.js';
import type { KvEntry } from './kv.js';
import type {
  AttemptRecord,
  ClaimedMessage,
  ErrorRecord,
  MessageRecord,
  MessageState,
  ScheduleRecord,
  TopicConfig,
  WorkerRecord,
} from './queue.js';
import { num, numOrNull } from './shared.js';

/**
 * Row mappers shared by both dialects: the column names are the same, SQLite returns JSON as text
 * and integers as numbers, pg returns `jsonb` parsed and `bigint` as strings.
 */
type Row = Record<string, unknown>;

/** Decodes a JSON column: SQLite returns text to parse, pg returns `jsonb` already parsed. */
export type JsonDecoder = <T>(value: unknown) => T;

export const parseJsonText: JsonDecoder = <T>(value: unknown): T => JSON.parse(value as string) as T;
export const jsonAsIs: JsonDecoder = <T>(value: unknown): T => value as T;

/** The row mappers of one dialect. */
export type Rows = ReturnType<typeof rowMappers>;

/** Builds the mappers for a dialect's JSON decoding. */
export function rowMappers(fromJson: JsonDecoder) {
  function messageRow(r: Row): MessageRecord {
    return {
      id: r.id as string,
      seq: num(r.seq),
      topic: r.topic as string,
      key: (r.key as string | null) ?? null,
      payload: fromJson(r.payload),
      headers: fromJson<Record<string, string>>(r.headers),
      state: r.state as MessageState,
      runAt: num(r.run_at),
      createdAt: num(r.created_at),
      attempts: num(r.attempts),
      history: fromJson<AttemptRecord[]>(r.history),
      error: r.error === null || r.error === undefined ? null : fromJson<ErrorRecord>(r.error),
      finishedAt: numOrNull(r.finished_at),
      replays: num(r.replays),
    };
  }

  function claimedRow(r: Row): ClaimedMessage {
    return { ...messageRow(r), token: num(r.lease_token), leaseUntil: num(r.lease_until) };
  }

  function deadLetterRow(r: Row): DeadLetter {
    const m = messageRow(r);
    return {
      ...m,
      state: m.state as 'dead' | 'blocked',
      error: m.error as ErrorRecord,
      signature: (r.signature as string | null) ?? '',
      deadAt: m.finishedAt ?? 0,
      previous: r.previous === undefined || r.previous === null ? [] : fromJson<PreviousDeadLetter[]>(r.previous),
    };
  }

  function topicRow(r: Row): TopicConfig {
    return {
      topic: r.topic as string,
      ordering: r.ordering as 'key' | 'none',
      policy: fromJson<Record<string, unknown>>(r.policy),
      updatedAt: num(r.updated_at),
    };
  }

  function workerRow(r: Row): WorkerRecord {
    return {
      id: r.id as string,
      host: r.host as string,
      pid: num(r.pid),
      topics: fromJson<string[]>(r.topics),
      startedAt: num(r.started_at),
      heartbeatAt: num(r.heartbeat_at),
    };
  }

  function scheduleRow(r: Row): ScheduleRecord {
    return {
      name: r.name as string,
      cron: r.cron as string,
      timezone: r.timezone as string,
      topic: r.topic as string,
      key: (r.key as string | null) ?? null,
      payload: fromJson(r.payload),
      headers: fromJson<Record<string, string>>(r.headers),
      nextRunAt: num(r.next_run_at),
      lastRunAt: numOrNull(r.last_run_at),
    };
  }

  function idempotencyRow(r: Row): IdempotencyRecord {
    return {
      scope: r.scope as string,
      key: r.key as string,
      fingerprint: r.fingerprint as string,
      state: r.state as 'in_flight' | 'completed',
      response: r.response === null || r.response === undefined ? null : fromJson(r.response),
      lockedUntil: numOrNull(r.locked_until),
      createdAt: num(r.created_at),
      expiresAt: num(r.expires_at),
    };
  }

  function auditRow(r: Row): AuditRecord {
    return {
      seq: num(r.seq),
      ts: num(r.ts),
      direction: r.direction as 'inbound' | 'outbound',
      system: r.system as string,
      requestId: r.request_id as string,
      method: r.method as string,
      path: r.path as string,
      status: numOrNull(r.status),
      outcome: r.outcome as string,
      attempt: num(r.attempt),
      durationMs: num(r.duration_ms),
      correlationId: (r.correlation_id as string | null) ?? null,
      idempotencyKey: (r.idempotency_key as string | null) ?? null,
      detail: fromJson<Record<string, unknown>>(r.detail),
    };
  }

  function kvRow<T>(r: Row): KvEntry<T> {
    return {
      namespace: r.namespace as string,
      key: r.key as string,
      value: fromJson<T>(r.value),
      version: num(r.version),
      updatedAt: num(r.updated_at),
      expiresAt: numOrNull(r.expires_at),
    };
  }
  return { messageRow, claimedRow, deadLetterRow, topicRow, workerRow, scheduleRow, idempotencyRow, auditRow, kvRow };
}

/** The error columns written with a retry or a dead letter. */
export function errorColumns(error: ErrorRecord | null): { error: string | null; code: string | null; message: string | null } {
  if (error === null) return { error: null, code: null, message: null };
  return { error: JSON.stringify(error), code: error.code, message: error.message.slice(0, 1000) };
}
