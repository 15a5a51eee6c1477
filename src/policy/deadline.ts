import { type Clock, systemClock } from '../internal/clock.js';

/**
 * The header that carries a deadline between services: the caller's remaining budget as an
 * integer number of milliseconds (`X-Weir-Deadline: 2350`). Relative, so the two clocks need not agree.
 */
export const DEADLINE_HEADER = 'x-weir-deadline';

/**
 * An absolute point in time by which work must be done. It flows through `execute()` in the
 * context, so nested policies never sleep past it and outbound calls can send it on.
 */
export class Deadline {
  constructor(
    /** Epoch ms on `clock`. */
    readonly at: number,
    readonly clock: Clock = systemClock,
  ) {}

  /** A deadline `ms` from now. */
  static after(ms: number, clock: Clock = systemClock): Deadline {
    return new Deadline(clock.now() + ms, clock);
  }

  /**
   * Adopts a caller's budget from a {@link DEADLINE_HEADER} value, capped at `maxMs`.
   * Returns `undefined` for a missing or malformed value (never throws).
   */
  static fromHeader(value: string | null | undefined, options: { maxMs: number; clock?: Clock }): Deadline | undefined {
    if (value === null || value === undefined || !/^\s*\d{1,15}\s*$/.test(value)) return undefined;
    const ms = Math.min(Number(value), options.maxMs);
    return Deadline.after(ms, options.clock ?? systemClock);
  }

  /** Milliseconds left, never negative. */
  remainingMs(): number {
    const left = this.at - this.clock.now();
    return left > 0 ? left : 0;
  }

  get expired(): boolean {
    return this.clock.now() >= this.at;
  }

  /** The earlier of two deadlines (`undefined` counts as none). */
  min(other: Deadline | undefined): Deadline {
    return other === undefined || this.at <= other.at ? this : other;
  }

  /** The value for {@link DEADLINE_HEADER}: whole milliseconds remaining. */
  toHeaderValue(): string {
    return String(Math.floor(this.remainingMs()));
  }
}
