import { createRedactor, type Redactor } from '../../security/redact.js';
import type { DeadLetter, DeadLetterGroup } from '../../store/dead-letters.js';
import type { AttemptRecord, ErrorRecord } from '../../store/queue.js';
import { formatDuration, formatTable, formatTime, oneLine, truncate } from '../format.js';

/** Views of dead letters for `weir dlq`: table rows, JSON shapes, the detail page. Everything shown passes the redactor. */

const PAYLOAD_PREVIEW_CHARS = 4000;

/** The error of a dead letter as one short line: `CODE: message` (or `Name: message`). */
export function errorLine(error: ErrorRecord | null, redactor: Redactor): string {
  if (error === null) return '-';
  return `${error.code ?? error.name}: ${redactor.text(oneLine(error.message))}`;
}

function redactError(error: ErrorRecord | null, redactor: Redactor, withStack: boolean): ErrorRecord | null {
  if (error === null) return null;
  const { stack, ...rest } = error;
  return {
    ...rest,
    message: redactor.text(error.message),
    ...(withStack && stack !== undefined ? { stack: redactor.text(stack) } : {}),
  };
}

function redactHistory(history: readonly AttemptRecord[], redactor: Redactor): AttemptRecord[] {
  return history.map((a) => ({ ...a, error: redactError(a.error, redactor, false) }));
}

/** A dead letter in `dlq list --json`: everything but payload, headers, stack and history. */
export function summaryJson(d: DeadLetter, redactor: Redactor = createRedactor()): Record<string, unknown> {
  return {
    id: d.id,
    seq: d.seq,
    topic: d.topic,
    key: d.key,
    state: d.state,
    attempts: d.attempts,
    replays: d.replays,
    createdAt: d.createdAt,
    deadAt: d.deadAt,
    signature: d.signature,
    error: redactError(d.error, redactor, false),
  };
}

/** A dead letter in `dlq show --json`: the whole record, redacted (payload, headers, messages, stacks). */
export function detailJson(d: DeadLetter, redactor: Redactor = createRedactor()): Record<string, unknown> {
  return {
    ...summaryJson(d, redactor),
    runAt: d.runAt,
    finishedAt: d.finishedAt,
    headers: redactor.headers(d.headers),
    payload: redactor.json(d.payload),
    error: redactError(d.error, redactor, true),
    history: redactHistory(d.history, redactor),
    previous: d.previous.map((p) => ({ deadAt: p.deadAt, error: redactError(p.error, redactor, true), history: redactHistory(p.history, redactor) })),
  };
}

/** The table of `dlq list`. */
export function listTable(items: readonly DeadLetter[], redactor: Redactor = createRedactor()): string {
  return formatTable(items, [
    { header: 'ID', value: (d) => d.id },
    { header: 'TOPIC', value: (d) => d.topic, max: 24 },
    { header: 'KEY', value: (d) => d.key ?? '-', max: 20 },
    { header: 'DEAD AT', value: (d) => formatTime(d.deadAt) },
    { header: 'ATTEMPTS', value: (d) => String(d.attempts), right: true },
    { header: 'STATE', value: (d) => d.state },
    { header: 'ERROR', value: (d) => errorLine(d.error, redactor), max: 60 },
  ]);
}

/** The table of `dlq list --group`. */
export function groupTable(groups: readonly DeadLetterGroup[], redactor: Redactor = createRedactor()): string {
  return formatTable(groups, [
    { header: 'COUNT', value: (g) => String(g.count), right: true },
    { header: 'TOPIC', value: (g) => g.topic, max: 24 },
    { header: 'SIGNATURE', value: (g) => g.signature, max: 16 },
    { header: 'FIRST', value: (g) => formatTime(g.firstAt) },
    { header: 'LAST', value: (g) => formatTime(g.lastAt) },
    { header: 'ERROR', value: (g) => `${g.code ?? '-'}: ${redactor.text(g.message)}`, max: 60 },
  ]);
}

/** Groups listed dead letters by topic and signature (for `--group --since`, which the store's `groups()` cannot filter). */
export function groupLocally(items: readonly DeadLetter[]): DeadLetterGroup[] {
  const groups = new Map<string, { -readonly [K in keyof DeadLetterGroup]: DeadLetterGroup[K] }>();
  for (const d of items) {
    const id = `${d.topic}\u0000${d.signature}`;
    const g = groups.get(id);
    if (g === undefined) {
      groups.set(id, { topic: d.topic, signature: d.signature, count: 1, firstAt: d.deadAt, lastAt: d.deadAt, code: d.error.code, message: d.error.message });
    } else {
      g.count += 1;
      g.firstAt = Math.min(g.firstAt, d.deadAt);
      g.lastAt = Math.max(g.lastAt, d.deadAt);
    }
  }
  return [...groups.values()].toSorted((a, b) => b.count - a.count || b.lastAt - a.lastAt);
}

/** The detail page of `dlq show`: fields, error, headers, payload preview, stack, attempt history, earlier dead-letterings. */
export function detailText(d: DeadLetter, redactor: Redactor = createRedactor()): string {
  const out: string[] = [];
  const field = (name: string, value: string): number => out.push(`${name.padEnd(10)}${value}`);
  field('id', d.id);
  field('topic', d.topic);
  field('key', d.key ?? '-');
  field('state', d.state === 'blocked' ? 'blocked (its key waits until this is replayed or discarded)' : 'dead');
  field('enqueued', formatTime(d.createdAt));
  field('dead at', formatTime(d.deadAt));
  field('attempts', `${d.attempts} (replayed ${d.replays} times)`);
  field('signature', d.signature);
  const e = d.error;
  const extra = [`classification ${e.classification}`, e.status === undefined ? '' : `status ${e.status}`].filter((s) => s !== '').join(', ');
  field('error', `${errorLine(e, redactor)} (${extra})`);

  out.push('', 'headers');
  const headers = Object.entries(redactor.headers(d.headers));
  if (headers.length === 0) out.push('  (none)');
  for (const [name, value] of headers) out.push(`  ${name}: ${Array.isArray(value) ? value.join(', ') : value}`);

  out.push('', 'payload');
  const payload = JSON.stringify(redactor.json(d.payload), null, 2) ?? 'undefined';
  const preview = truncate(payload, PAYLOAD_PREVIEW_CHARS);
  out.push(...preview.split('\n').map((l) => `  ${l}`));
  if (preview.length < payload.length) out.push(`  (preview: ${PAYLOAD_PREVIEW_CHARS} of ${payload.length} characters; --json prints all)`);

  if (e.stack !== undefined) {
    out.push('', 'stack');
    out.push(...redactor.text(e.stack).split('\n').map((l) => `  ${l}`));
  }

  out.push('', 'attempt history');
  if (d.history.length === 0) out.push('  (none)');
  else out.push(...historyTable(d.history, redactor).split('\n').map((l) => `  ${l}`));

  if (d.previous.length > 0) {
    out.push('', `earlier dead-letterings (${d.previous.length})`);
    for (const p of d.previous) out.push(`  ${formatTime(p.deadAt)}  ${errorLine(p.error, redactor)}  (${p.history.length} attempts)`);
  }
  return out.join('\n');
}

function historyTable(history: readonly AttemptRecord[], redactor: Redactor): string {
  return formatTable(history, [
    { header: 'DELIVERY', value: (a) => String(a.delivery), right: true },
    { header: 'ATTEMPT', value: (a) => String(a.attempt), right: true },
    { header: 'AT', value: (a) => formatTime(a.at) },
    { header: 'TOOK', value: (a) => formatDuration(a.durationMs), right: true },
    { header: 'WORKER', value: (a) => a.workerId, max: 24 },
    { header: 'OUTCOME', value: (a) => a.outcome },
    { header: 'ERROR', value: (a) => errorLine(a.error, redactor), max: 60 },
  ]);
}
