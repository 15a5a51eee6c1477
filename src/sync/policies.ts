import { InvalidOptionError } from '../errors.js';
import type { SkewEstimate } from './side-http.js';
import type { SyncSide } from './types.js';

/** Everything a field policy may look at. Values are normalised projections. */
export interface FieldContext {
  readonly field: string;
  /** The last-synced values of each side. */
  readonly baseline: { readonly left: unknown; readonly right: unknown };
  readonly left: unknown;
  readonly right: unknown;
  /** The side's value differs from its baseline (a change since the last sync). */
  readonly leftChanged: boolean;
  readonly rightChanged: boolean;
  /** The full records. */
  readonly records: { readonly left: unknown; readonly right: unknown };
  /** When the record was last edited, epoch ms by the system's own clock. */
  updatedAt(side: SyncSide): number;
  /** Who edited it last, if the adapter knows. */
  editor(side: SyncSide): string | undefined;
  /** The side's clock skew estimate (from its `Date` headers). */
  skew(side: SyncSide): SkewEstimate;
}

/**
 * A policy's decision for one field:
 * - `{ take: side }` / `{ value }`: both sides get this value;
 * - `{ escalate: kind, suggestion? }`: a person decides; the field is frozen meanwhile;
 * - `'next'`: no opinion: ask the next policy of the field;
 * - `'ignore'`: leave both sides as they are (the divergence is accepted).
 */
export type Decision =
  | { readonly take: SyncSide }
  | { readonly value: unknown }
  | { readonly escalate: string; readonly suggestion?: unknown; readonly detail?: Readonly<Record<string, unknown>> }
  | 'next'
  | 'ignore';

/** A named field policy. */
export interface FieldPolicy {
  /** Recorded with every conflict it resolves (e.g. `'crm_authoritative'`). */
  readonly name: string;
  decide(c: FieldContext): Decision;
  /** May Weir write `value` onto `side` (e.g. when a person resolves an escalation)? Default yes. */
  mayWrite?(side: SyncSide, value: unknown, c: FieldContext): boolean;
}

/** A policy, or a custom function (its name is the function's name, or `'custom'`). */
export type FieldPolicyInput = FieldPolicy | ((c: FieldContext) => Decision);

/** Normalises a policy input. @internal */
export function toPolicy(p: FieldPolicyInput, option: string): FieldPolicy {
  if (typeof p === 'function') return { name: p.name.length > 0 ? p.name : 'custom', decide: p };
  if (p === null || typeof p !== 'object' || typeof p.decide !== 'function') throw new InvalidOptionError(option, 'a field policy or a function', p);
  return p;
}

const other = (s: SyncSide): SyncSide => (s === 'left' ? 'right' : 'left');

/**
 * The side's value always wins: a change on the other side is reverted (and recorded as a conflict).
 * @example `email: authoritative('left', { name: 'crm_authoritative' })`
 */
export function authoritative(side: SyncSide, options: { readonly name?: string } = {}): FieldPolicy {
  if (side !== 'left' && side !== 'right') throw new InvalidOptionError('authoritative.side', "'left' or 'right'", side);
  return { name: options.name ?? `${side}_authoritative`, decide: () => ({ take: side }) };
}

/** Options of {@link lastWriterWins}. */
export interface LastWriterWinsOptions {
  /** Only `'server-date'`: edit times corrected by each side's skew estimate from its `Date` headers. */
  readonly clock?: 'server-date';
  /** Edits closer than this (plus both estimates' uncertainty) are not ordered by time, ms. Default 2000. */
  readonly skewMarginMs?: number;
  readonly name?: string;
}

/**
 * The later edit wins, by real edit time: each side's `updatedAt` minus its estimated clock skew.
 * When only one side changed, it wins. Inside the margin it does not guess: `'next'` (the next
 * policy decides, or the field escalates).
 */
export function lastWriterWins(options: LastWriterWinsOptions = {}): FieldPolicy {
  const margin = options.skewMarginMs ?? 2000;
  if (!Number.isFinite(margin) || margin < 0) throw new InvalidOptionError('lastWriterWins.skewMarginMs', 'a number ≥ 0', margin);
  if (options.clock !== undefined && options.clock !== 'server-date') throw new InvalidOptionError('lastWriterWins.clock', "'server-date'", options.clock);
  return {
    name: options.name ?? 'last_writer_wins',
    decide(c) {
      if (c.leftChanged !== c.rightChanged) return { take: c.leftChanged ? 'left' : 'right' };
      const l = c.skew('left');
      const r = c.skew('right');
      const tl = c.updatedAt('left') - l.offsetMs;
      const tr = c.updatedAt('right') - r.offsetMs;
      if (Math.abs(tl - tr) <= margin + l.uncertaintyMs + r.uncertaintyMs) return 'next';
      return { take: tl > tr ? 'left' : 'right' };
    },
  };
}

/** Options of {@link sticky}. */
export interface StickyOptions {
  /** Only a value held by this side can be sticky. Default: either side. */
  readonly side?: SyncSide;
  /** Whether the side's record got the value from the right origin (e.g. `unsubscribe_origin === 'user'`). Default: always. */
  readonly origin?: (record: unknown, side: SyncSide) => boolean;
  /** The escalation kind raised when the other side later moves away from it. Default `'sticky_value'`. */
  readonly escalate?: string;
  readonly name?: string;
}

/**
 * A value that, once set by the right origin, automation never undoes: if a side (with that
 * origin) changed to `value`, `value` wins (a concurrent opposite change loses, recorded as a
 * conflict); if the other side later moves away from it, neither side is changed and an
 * escalation is raised; and resolving it never writes another value over the sticky one.
 * @example `subscribed: sticky(false, { side: 'right', origin: (r) => r.unsubscribe_origin === 'user', escalate: 'reconsent_required', name: 'unsubscribe_wins' })`
 */
export function sticky(value: unknown, options: StickyOptions = {}): FieldPolicy {
  const origin = options.origin ?? (() => true);
  const sides: readonly SyncSide[] = options.side === undefined ? ['left', 'right'] : [options.side];
  const holds = (c: FieldContext, s: SyncSide): boolean => sides.includes(s) && equal(c[s], value) && origin(c.records[s], s);
  return {
    name: options.name ?? 'sticky',
    decide(c) {
      const stuck = sides.filter((s) => holds(c, s));
      if (stuck.length === 0) return 'next';
      if (stuck.some((s) => (s === 'left' ? c.leftChanged : c.rightChanged))) return { value };
      const mover = other(stuck[0] as SyncSide);
      if (mover === 'left' ? c.leftChanged : c.rightChanged) return { escalate: options.escalate ?? 'sticky_value', suggestion: value };
      return { value };
    },
    mayWrite: (side, v, c) => !(holds(c, side) && !equal(v, value)),
  };
}

/**
 * Values the two sides hold differently but that mean the same (e.g. a CRM `'unsubscribed'` and an
 * ESP `'unsubscribed:user'`, which also knows who did it): nothing is written, the divergence is
 * accepted and the baselines follow; otherwise `'next'`. Put it first in the field's chain.
 * @throws InvalidOptionError `equivalent.same` when not a function.
 * @example `consent: [equivalent((a, b) => isUnsub(a) && isUnsub(b)), sticky('unsubscribed:user', …)]`
 */
export function equivalent(same: (left: unknown, right: unknown) => boolean, options: { readonly name?: string } = {}): FieldPolicy {
  if (typeof same !== 'function') throw new InvalidOptionError('equivalent.same', 'a function (left, right) => boolean', same);
  return { name: options.name ?? 'equivalent', decide: (c) => (same(c.left, c.right) ? 'ignore' : 'next') };
}

/** Always escalates (kind `'other'` unless named). */
export function escalate(kind = 'other', options: { readonly name?: string } = {}): FieldPolicy {
  return { name: options.name ?? 'escalate', decide: () => ({ escalate: kind }) };
}

/** Never syncs the field: both sides keep their values. */
export function ignore(options: { readonly name?: string } = {}): FieldPolicy {
  return { name: options.name ?? 'ignore', decide: () => 'ignore' };
}

/** Structural equality of JSON values. @internal */
export function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  return stableJson(a) === stableJson(b);
}

/** JSON with sorted keys. @internal */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).toSorted(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
}
