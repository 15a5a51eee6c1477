import type { SideNames } from '../app/admin/shapes.js';
import type { SyncEscalationRecord } from '../store/sync.js';
import type { ReconcileReport } from '../sync/reconcile.js';
import { formatDuration, formatTable, formatTime } from './format.js';

/**
 * Text views of sync data for `weir reconcile` and `weir escalations`, each side named after its
 * adapter (`CRM ID`, `ESP`). Their `--json` output uses the admin API's shapes
 * (`src/app/admin/shapes.ts`), so scripts see the same documents from both.
 */

/** Total differences found, all classes. */
export function diffCount(r: ReconcileReport): number {
  return Object.values(r.diffsByClass).reduce((a, b) => a + b, 0);
}

/** The human report of a reconciliation. */
export function reportText(sync: string, r: ReconcileReport, n: SideNames): string {
  const took = r.finishedAt === null ? '' : ` in ${formatDuration(r.finishedAt - r.startedAt)}`;
  const out = [
    `reconcile ${sync} (${r.mode === 'apply' ? 'apply' : 'dry run: nothing written'}): ${r.state}${took}, run ${r.id}`,
    `compared ${r.compared}, in sync ${r.inSync}${r.skipped > 0 ? `, skipped (work in flight) ${r.skipped}` : ''}`,
    `diffs: ${Object.entries(r.diffsByClass).map(([k, v]) => `${k} ${v}`).join(' · ')}`,
    `repairs: ${r.repairs.attempted} attempted, ${r.repairs.succeeded} succeeded, ${r.repairs.failed} failed`,
    `escalations raised: ${r.escalationsRaised}`,
    `API calls: ${n.left} ${r.apiCalls.left}, ${n.right} ${r.apiCalls.right}`,
  ];
  if (r.error !== undefined) out.push(`error: ${r.error}`);
  if (r.items.length > 0) {
    out.push(
      '',
      formatTable(r.items, [
        { header: 'CLASS', value: (i) => i.class },
        { header: `${n.left.toUpperCase()} ID`, value: (i) => i.leftId ?? '-', max: 36 },
        { header: `${n.right.toUpperCase()} ID`, value: (i) => i.rightId ?? '-', max: 36 },
        { header: 'FIELD', value: (i) => i.field ?? '-' },
        { header: 'ACTION', value: (i) => i.action },
      ]),
    );
    const total = diffCount(r);
    if (total > r.items.length) out.push(`(${r.items.length} of ${total} findings listed)`);
  }
  return out.join('\n');
}

const show = (v: unknown): string => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v));

/** The table of `escalations list`. */
export function escalationTable(items: readonly SyncEscalationRecord[], n: SideNames): string {
  return formatTable(items, [
    { header: 'ID', value: (e) => e.id },
    { header: 'KIND', value: (e) => e.kind },
    { header: `${n.left.toUpperCase()} ID`, value: (e) => e.leftId ?? '-', max: 24 },
    { header: `${n.right.toUpperCase()} ID`, value: (e) => e.rightId ?? '-', max: 24 },
    { header: 'FIELD', value: (e) => e.field ?? '-' },
    { header: n.left.toUpperCase(), value: (e) => show(e.leftValue), max: 30 },
    { header: n.right.toUpperCase(), value: (e) => show(e.rightValue), max: 30 },
    { header: 'CREATED', value: (e) => formatTime(e.createdAt) },
    { header: 'STATE', value: (e) => e.state },
  ]);
}
