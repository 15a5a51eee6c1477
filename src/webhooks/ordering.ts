import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import type { KvStore } from '../store/kv.js';

/**
 * Out-of-order deliveries are a fact of webhooks: a provider retries an old event after a newer
 * one arrived, or two deliveries race. The receiver records each event's own version (or
 * timestamp) in the message header {@link WEBHOOK_VERSION_HEADER} when `versionBy` is configured;
 * the helpers here let a handler apply a change only when it is newer than what it applied last.
 */

/** Message header in which the receiver records the event's version, as a decimal number. */
export const WEBHOOK_VERSION_HEADER = 'weir-webhook-version';

/** An event's version: a number (a revision counter), a `Date`, or a string holding either (`'42'`, an ISO-8601 time). */
export type EventVersion = number | string | Date;

const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * A version as a comparable number: numbers as they are, dates as epoch ms, decimal strings as
 * numbers, other strings as ISO-8601 / HTTP dates (epoch ms). Import from `weir/webhooks`.
 * @throws InvalidOptionError naming `option` for anything else (NaN, an unparseable string).
 * @example `toVersion('2026-01-01T00:00:00.000Z') // 1767225600000`
 */
export function toVersion(value: unknown, option = 'version'): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (value instanceof Date && Number.isFinite(value.getTime())) return value.getTime();
  if (typeof value === 'string') {
    const text = value.trim();
    if (DECIMAL.test(text)) return Number(text);
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms;
  }
  throw new InvalidOptionError(option, 'a finite number, a Date, or a string holding a number or a date', value);
}

/**
 * The version the receiver recorded for a message (its {@link WEBHOOK_VERSION_HEADER} header), or
 * `undefined` when the receiver had no `versionBy`. Import from `weir/webhooks`.
 * @example `const v = eventVersion(message); // 17`
 */
export function eventVersion(message: { readonly headers: Readonly<Record<string, string>> }): number | undefined {
  const text = message.headers[WEBHOOK_VERSION_HEADER];
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** True when `incoming` is strictly newer than `current` (an unknown current is always older). */
export function isNewer(incoming: EventVersion, current: EventVersion | undefined): boolean {
  return current === undefined || toVersion(incoming, 'incoming') > toVersion(current, 'current');
}

/** Options of {@link versionGate}. */
export interface VersionGateOptions {
  /** Separates one kind of entity from another (`'crm-customer'`). Stored as kv namespace `weir.version:<namespace>`. */
  readonly namespace: string;
  /** Default: the system clock (kv timestamps). */
  readonly clock?: Clock;
}

/** What {@link VersionGate.applyIfNewer} did. */
export type ApplyResult<T> =
  | { readonly applied: true; readonly result: T; readonly previous: number | undefined }
  | { readonly applied: false; readonly current: number };

/**
 * The last applied version per entity, kept in the store's kv (no table of its own). Create with
 * {@link versionGate}.
 */
export class VersionGate {
  readonly namespace: string;
  readonly #kv: KvStore;
  readonly #clock: Clock;

  constructor(store: { readonly kv: KvStore }, options: VersionGateOptions) {
    if (typeof store?.kv?.get !== 'function') throw new InvalidOptionError('store', 'a Store (with kv)', store);
    if (typeof options?.namespace !== 'string' || options.namespace.length === 0) {
      throw new InvalidOptionError('namespace', 'a non-empty string', options?.namespace);
    }
    this.namespace = `weir.version:${options.namespace}`;
    this.#kv = store.kv;
    this.#clock = options.clock ?? systemClock;
  }

  /** The last applied version of `entity`, or `undefined`. */
  async current(entity: string): Promise<number | undefined> {
    const entry = await this.#kv.get<{ v: number }>(this.namespace, entity, this.#clock.now());
    return entry?.value.v;
  }

  /**
   * Runs `apply` only when `version` is strictly newer than the last version applied for `entity`,
   * then records it. An older or equal version is skipped (`applied: false`): a stale or repeated
   * event. The version is recorded after `apply` succeeds, so a crash in between re-applies the
   * same version on redelivery (keep `apply` idempotent, as every queue handler is); a failing
   * `apply` records nothing.
   *
   * Decide per entity one at a time: give the receiver `keyBy` the entity id, so the queue runs one
   * message per entity at a time. Two concurrent calls for one entity would both see the old
   * version; the record stays the newest (compare-and-set), but their effects could land in either order.
   * @throws InvalidOptionError for a version that is not a number or a date; whatever `apply` throws.
   * @example
   * ```ts
   * const customers = versionGate(store, { namespace: 'crm-customer' });
   * await queue.handle('crm-events', async (msg) => {
   *   const event = msg.payload as CrmEvent;
   *   await customers.applyIfNewer(event.data.id, event.data.version, () => upsert(event.data));
   * });
   * ```
   */
  async applyIfNewer<T>(entity: string, version: EventVersion, apply: () => T | Promise<T>): Promise<ApplyResult<Awaited<T>>> {
    if (typeof entity !== 'string' || entity.length === 0) throw new InvalidOptionError('entity', 'a non-empty string', entity);
    const v = toVersion(version);
    const before = await this.#kv.get<{ v: number }>(this.namespace, entity, this.#clock.now());
    if (before !== null && !(v > before.value.v)) return { applied: false, current: before.value.v };
    const result = await apply();
    await this.record(entity, v, before?.version ?? 0);
    return { applied: true, result, previous: before?.value.v };
  }

  /** Records `v` unless a newer one is there; retries the compare-and-set after a concurrent write. */
  private async record(entity: string, v: number, ifVersion: number): Promise<void> {
    let expected = ifVersion;
    for (let i = 0; i < 10; i++) {
      const written = await this.#kv.set(this.namespace, entity, { v }, { now: this.#clock.now(), ifVersion: expected });
      if (written !== null) return;
      const now = await this.#kv.get<{ v: number }>(this.namespace, entity, this.#clock.now());
      if (now !== null && now.value.v >= v) return;
      expected = now?.version ?? 0;
    }
  }
}

/**
 * A gate that applies per-entity changes in version order, whatever order their webhooks arrived
 * in. Import from `weir/webhooks`.
 * @throws InvalidOptionError naming `namespace` or `store`.
 * @example
 * ```ts
 * const gate = versionGate(store, { namespace: 'crm-customer' });
 * const { applied } = await gate.applyIfNewer('crm_1', eventVersion(message)!, () => save(message.payload));
 * ```
 */
export function versionGate(store: { readonly kv: KvStore }, options: VersionGateOptions): VersionGate {
  return new VersionGate(store, options);
}
