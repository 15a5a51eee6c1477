import type { SkewEstimate } from './side-http.js';
import { equal, type Decision, type FieldContext, type FieldPolicy } from './policies.js';
import type { SyncBaseline, SyncFields, SyncSide } from './types.js';

/** A conflict found by a plan (stored with the link's ids and time by the engine). */
export interface PlannedConflict {
  readonly field: string;
  readonly baseline: unknown;
  readonly left: unknown;
  readonly right: unknown;
  readonly resolution: 'resolved_by_policy' | 'escalated';
  readonly policy: string;
  readonly finalValue?: unknown;
}

/** An escalation a plan raises. */
export interface PlannedEscalation {
  readonly field: string;
  readonly kind: string;
  readonly left: unknown;
  readonly right: unknown;
  readonly suggestion?: unknown;
  readonly policy: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** What one three-way comparison decides. */
export interface SyncPlan {
  /** Fields to write per side (mapped names, normalised values). */
  readonly writes: { readonly left: Record<string, unknown>; readonly right: Record<string, unknown> };
  /** The baseline once the writes are done. */
  readonly baseline: SyncBaseline;
  readonly conflicts: readonly PlannedConflict[];
  readonly escalations: readonly PlannedEscalation[];
}

/** Inputs of {@link planSync}. */
export interface PlanInput {
  readonly policies: ReadonlyMap<string, readonly FieldPolicy[]>;
  readonly baseline: SyncBaseline;
  readonly left: SyncFields;
  readonly right: SyncFields;
  readonly records: { readonly left: unknown; readonly right: unknown };
  readonly updatedAt: (side: SyncSide) => number;
  readonly editor: (side: SyncSide) => string | undefined;
  readonly skew: (side: SyncSide) => SkewEstimate;
  /** Fields with an open escalation (`'*'`: the whole record). */
  readonly frozen: ReadonlySet<string>;
}

/**
 * Three-way, field-level comparison: each side against its own last-synced value, then the
 * field's policies in order. Pure: it calls no system and writes nothing.
 */
export function planSync(input: PlanInput): SyncPlan {
  const writes = { left: {} as Record<string, unknown>, right: {} as Record<string, unknown> };
  const baseline = { left: { ...input.baseline.left } as Record<string, unknown>, right: { ...input.baseline.right } as Record<string, unknown> };
  const conflicts: PlannedConflict[] = [];
  const escalations: PlannedEscalation[] = [];
  const fields = new Set([...Object.keys(input.left), ...Object.keys(input.right)]);
  if (input.frozen.has('*')) return { writes, baseline, conflicts, escalations };
  for (const field of fields) {
    if (input.frozen.has(field)) continue;
    const L = input.left[field];
    const R = input.right[field];
    const bl = input.baseline.left[field];
    const br = input.baseline.right[field];
    const leftChanged = !equal(L, bl);
    const rightChanged = !equal(R, br);
    if (equal(L, R)) {
      baseline.left[field] = L;
      baseline.right[field] = R;
      continue;
    }
    // Both as last synced, yet different: a divergence accepted earlier (an ignored field, a closed escalation).
    if (!leftChanged && !rightChanged) continue;
    const ctx: FieldContext = {
      field,
      baseline: { left: bl, right: br },
      left: L,
      right: R,
      leftChanged,
      rightChanged,
      records: input.records,
      updatedAt: input.updatedAt,
      editor: input.editor,
      skew: input.skew,
    };
    let decision: Decision = 'next';
    let policy = 'default';
    for (const p of input.policies.get(field) ?? []) {
      decision = p.decide(ctx);
      policy = p.name;
      if (decision !== 'next') break;
    }
    if (decision === 'next') {
      // No policy decided: a one-sided change flows; a two-sided one goes to a person.
      decision = leftChanged && rightChanged ? { escalate: 'other' } : { take: leftChanged ? 'left' : 'right' };
      if (!(leftChanged && rightChanged)) policy = policy === 'default' ? 'one_sided_change' : policy;
    }
    const shownBaseline = equal(bl, br) ? (bl ?? null) : { left: bl ?? null, right: br ?? null };
    if (decision === 'ignore') {
      baseline.left[field] = L;
      baseline.right[field] = R;
      continue;
    }
    if ('escalate' in decision) {
      escalations.push({
        field,
        kind: decision.escalate,
        left: L,
        right: R,
        policy,
        ...('suggestion' in decision ? { suggestion: decision.suggestion } : {}),
        ...(decision.detail === undefined ? {} : { detail: decision.detail }),
      });
      conflicts.push({ field, baseline: shownBaseline, left: L ?? null, right: R ?? null, resolution: 'escalated', policy });
      continue;
    }
    const value = 'take' in decision ? (decision.take === 'left' ? L : R) : decision.value;
    if (!equal(L, value)) writes.left[field] = value;
    if (!equal(R, value)) writes.right[field] = value;
    baseline.left[field] = value;
    baseline.right[field] = value;
    if ((leftChanged && !equal(L, value)) || (rightChanged && !equal(R, value))) {
      conflicts.push({ field, baseline: shownBaseline, left: L ?? null, right: R ?? null, resolution: 'resolved_by_policy', policy, finalValue: value });
    }
  }
  return { writes, baseline, conflicts, escalations };
}
