/** Plain-text output helpers of the CLI: tables, times, truncation. No colours and no escape codes, so output pipes cleanly. */

/** A column of {@link formatTable}. */
export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
  /** Cut longer cells to this many characters (with `…`). Default no limit. */
  readonly max?: number;
  /** Right-align (numbers). */
  readonly right?: boolean;
}

/**
 * Formats rows as a fixed-width table with a header line, two spaces between columns, trailing
 * spaces trimmed. Newlines and tabs in cells become spaces.
 * @example
 * ```ts
 * formatTable(rows, [{ header: 'ID', value: (r) => r.id }, { header: 'COUNT', value: (r) => String(r.n), right: true }]);
 * ```
 */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => truncate(oneLine(c.value(row)), c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] as string).length)));
  const line = (values: readonly string[]): string =>
    values
      .map((v, i) => (columns[i]?.right === true ? v.padStart(widths[i] as number) : v.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** Cuts `text` to `max` characters, ending with `…` when cut. */
export function truncate(text: string, max: number | undefined): string {
  if (max === undefined || text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** Collapses newlines and tabs to single spaces. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n\t]+\s*/g, ' ');
}

/** Epoch ms as an ISO 8601 UTC time without milliseconds (`2026-05-01T12:00:00Z`). */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A duration in ms as a short human text (`850ms`, `2.5s`, `3m 20s`, `2h 5m`). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ${Math.floor((ms % 60_000) / 1000)}s`;
  return `${Math.floor(ms / 3_600_000)}h ${Math.floor((ms % 3_600_000) / 60_000)}m`;
}

/** `1 dead letter`, `3 dead letters`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Pretty JSON for `--json` output, one document ending with a newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
