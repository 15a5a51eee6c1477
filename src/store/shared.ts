import { InvalidOptionError, WeirError } from '../errors.js';
import type { Emitter } from '../internal/events.js';

/** Wraps a driver error into `WEIR_STORE` (transient: a retry may succeed). */
export function storeError(message: string, cause: unknown): WeirError<'WEIR_STORE'> {
  return new WeirError('WEIR_STORE', message, { cause });
}

/** Serialises a payload or a JSON column. */
export function toJson(value: unknown): string {
  return JSON.stringify(value ?? null);
}


/** An epoch-ms column (pg returns `bigint` as a string). */
export function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

/** A nullable epoch-ms column. */
export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

/** Clamps a page size. */
export function pageSize(limit: number | undefined, fallback = 100, max = 1000): number {
  if (limit === undefined) return fallback;
  return Math.max(1, Math.min(max, Math.floor(limit)));
}

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Validates a SQL identifier used in generated SQL (a Postgres schema name).
 * @throws InvalidOptionError naming `option`.
 */
export function sqlIdentifier(value: unknown, option: string): string {
  if (typeof value !== 'string' || !identifier.test(value)) {
    throw new InvalidOptionError(option, 'a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)', value);
  }
  return value;
}

/** Emits to a wake-up emitter, never throwing into the store operation. */
export function wake(emitter: Emitter<string | null>, topic: string | null): void {
  if (emitter.size > 0) emitter.emit(topic);
}
