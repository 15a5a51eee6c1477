import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import { systemClock, type Clock } from '../internal/clock.js';
import type { Queue } from '../queue/queue.js';
import type { Store } from '../store/types.js';
import type { SyncBaseline, SyncLinkRecord } from '../store/sync.js';
import { stableJson, toPolicy, type FieldPolicy, type FieldPolicyInput } from './policies.js';
import { ClockSkew, SideHttp } from './side-http.js';
import type { SideContext, SyncAdapter, SyncFields, SyncSide } from './types.js';

/** Options of `defineSync`. */
export interface SyncOptions {
  /** The sync's name (`[a-z0-9_.-]+`): names its links, queue topic and checkpoints. */
  readonly name: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly left: SyncAdapter<any>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly right: SyncAdapter<any>;
  readonly store: Store;
  readonly queue: Queue;
  /** Per mapped field, its policy or policy chain (first decision wins). Unlisted fields: a one-sided change flows, a two-sided one escalates. */
  readonly fields?: Readonly<Record<string, FieldPolicyInput | readonly FieldPolicyInput[]>>;
  /**
   * When an unlinked record should get a counterpart created on the other side: `right` decides
   * for left records (create on the right), `left` for right records. Omitted: never (R12).
   */
  readonly create?: {
    readonly right?: (fields: SyncFields, record: unknown) => boolean;
    readonly left?: (fields: SyncFields, record: unknown) => boolean;
  };
  /** Time source. Default the system clock. */
  readonly clock?: Clock;
  /** Page size of polling and reconciliation. Default 50. */
  readonly pageSize?: number;
}

/** The sync's internals, shared by its parts. @internal */
export interface SyncRuntime {
  readonly name: string;
  readonly topic: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly adapters: { readonly left: SyncAdapter<any>; readonly right: SyncAdapter<any> };
  readonly http: { readonly left: SideHttp; readonly right: SideHttp };
  readonly policies: ReadonlyMap<string, readonly FieldPolicy[]>;
  readonly store: Store;
  readonly queue: Queue;
  readonly clock: Clock;
  readonly pageSize: number;
  readonly create: NonNullable<SyncOptions['create']>;
}

export const other = (s: SyncSide): SyncSide => (s === 'left' ? 'right' : 'left');

/** Builds the runtime from validated options. @internal */
export function runtime(o: SyncOptions): SyncRuntime {
  if (typeof o.name !== 'string' || !/^[a-z0-9_.-]{1,100}$/.test(o.name)) throw new InvalidOptionError('name', 'a name of [a-z0-9_.-]', o.name);
  for (const side of ['left', 'right'] as const) {
    const a = o[side] as SyncAdapter | undefined;
    if (a === undefined || typeof a.get !== 'function' || typeof a.list !== 'function' || typeof a.update !== 'function' || typeof a.project !== 'function') {
      throw new InvalidOptionError(side, 'a SyncAdapter (get, list, update, project, id, version, updatedAt)', a);
    }
  }
  const policies = new Map<string, readonly FieldPolicy[]>();
  for (const [field, p] of Object.entries(o.fields ?? {})) {
    const list = Array.isArray(p) ? (p as readonly FieldPolicyInput[]) : [p as FieldPolicyInput];
    policies.set(field, list.map((x, i) => toPolicy(x, `fields.${field}[${i}]`)));
  }
  const clock = o.clock ?? systemClock;
  const pageSize = o.pageSize ?? 50;
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new InvalidOptionError('pageSize', 'an integer ≥ 1', pageSize);
  return {
    name: o.name,
    topic: `weir.sync.${o.name}`,
    adapters: { left: o.left, right: o.right },
    http: { left: new SideHttp(o.left.connection, new ClockSkew(clock)), right: new SideHttp(o.right.connection, new ClockSkew(clock)) },
    policies,
    store: o.store,
    queue: o.queue,
    clock,
    pageSize,
    create: o.create ?? {},
  };
}

/** The hash of a baseline. @internal */
export function baselineHash(b: SyncBaseline): string {
  return createHash('sha256').update(stableJson(b)).digest('hex').slice(0, 32);
}

/** The queue ordering key of a record: its link's left id when known (stable for the link's life). @internal */
export function orderingKey(side: SyncSide, id: string, link: SyncLinkRecord | null): string {
  if (link?.leftId != null) return `left:${link.leftId}`;
  return `${side}:${id}`;
}

/** A side context for the engine (or a reconciliation's forked clients). @internal */
export function sideContext(http: SideHttp, correlationId?: string): SideContext {
  return correlationId === undefined ? { http } : { http, correlationId };
}
