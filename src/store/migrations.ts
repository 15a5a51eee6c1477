import type { MigrationRecord, MigrationReport } from './types.js';

/**
 * One versioned schema change. Versions start at 1 and grow by one; a migration, once released,
 * never changes (later issues add sync and saga tables as new versions).
 */
export interface Migration extends MigrationRecord {
  /** The DDL, run in one transaction with the version record. */
  readonly sql: string;
}

/**
 * Checks a migration list: versions 1, 2, 3, … in order, each with a name.
 * @throws Error on a malformed list (a programming error in Weir itself).
 */
export function checkMigrations(list: readonly Migration[]): readonly Migration[] {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration #${i} has version ${m.version}; expected ${i + 1}`);
    if (m.name.length === 0) throw new Error(`migration ${m.version} has no name`);
  });
  return list;
}

/** The migrations newer than `current`. */
export function pending(list: readonly Migration[], current: number): readonly Migration[] {
  return list.filter((m) => m.version > current);
}

/** Builds a report. */
export function report(from: number, applied: readonly Migration[]): MigrationReport {
  const last = applied[applied.length - 1];
  return {
    from,
    to: last === undefined ? from : last.version,
    applied: applied.map((m) => ({ version: m.version, name: m.name })),
  };
}
