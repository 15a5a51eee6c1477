import type { Clock } from '../internal/clock.js';
import type { Connection } from '../http/connection.js';
import type { RequestOptions } from '../http/connection-options.js';
import type { HttpResponse, RequestBody } from '../http/response.js';
import { isWeirError } from '../errors.js';

/** An estimate of how far a system's clock is ahead of ours. */
export interface SkewEstimate {
  /** Server clock minus local clock, ms: the middle of the offsets that most recent samples allow. 0 without samples. */
  readonly offsetMs: number;
  /** Half the width of those offsets, ms: the true offset is within `offsetMs ± uncertaintyMs`. 500 without samples. */
  readonly uncertaintyMs: number;
  /** The samples the estimate rests on (those that agree, of the last 16). */
  readonly samples: number;
}

const MAX_SAMPLES = 16;

/** The offsets one response allows: `[lo, hi]`, ms. */
interface Bound {
  readonly lo: number;
  readonly hi: number;
}

/**
 * Estimates a system's clock skew from the `Date` headers of its responses.
 *
 * A `Date` header is the server's clock when it answered, truncated to the second: the answer came
 * between the request's sending and its arrival, so the offset lies within
 * `[date − arrival, date + 1000 − sent]` (one second plus the round trip wide). Each sample is such
 * a bound; the estimate is the range that the most of the last 16 bounds share (Marzullo's
 * algorithm, as NTP selects its sources): a second's resolution shrinks to about a second divided
 * by the samples plus a round trip, and an older sample that disagrees with the rest (a cached
 * response) is outvoted instead of widening the estimate. When the newest sample disagrees (the
 * server's clock may have been stepped), the estimate spans both offsets, so nothing is decided on
 * the old one, until the new offset has as many samples (a tie goes to the newest sample's side).
 */
export class ClockSkew {
  private readonly bounds: Bound[] = [];

  constructor(private readonly clock: Clock) {}

  /** The local clock the samples are read on. */
  now(): number {
    return this.clock.now();
  }

  /**
   * Feeds one `Date` header value, read when the response arrived (now); `sentAt` is when the request
   * was sent (by the same clock; without it the bound is one second wide).
   */
  observe(date: string | undefined, sentAt?: number): void {
    if (date === undefined) return;
    const at = Date.parse(date);
    if (Number.isNaN(at)) return;
    const arrived = this.clock.now();
    const sent = sentAt === undefined ? arrived : Math.min(sentAt, arrived);
    this.bounds.push({ lo: at - arrived, hi: at + 1000 - sent });
    if (this.bounds.length > MAX_SAMPLES) this.bounds.shift();
  }

  estimate(): SkewEstimate {
    const newest = this.bounds.at(-1);
    if (newest === undefined) return { offsetMs: 0, uncertaintyMs: 500, samples: 0 };
    // Sweep the bounds' ends in order (a start before an end at the same point: the bounds are closed).
    const ends: Array<{ at: number; step: 1 | -1 }> = this.bounds.flatMap((b) => [
      { at: b.lo, step: 1 as const },
      { at: b.hi, step: -1 as const },
    ]);
    ends.sort((a, b) => a.at - b.at || b.step - a.step);
    let depth = 0;
    let best = 0;
    let picked: Bound = newest;
    for (const [i, e] of ends.entries()) {
      depth += e.step;
      if (e.step !== 1 || depth < best) continue;
      // A start is always followed by at least its own end.
      const range = { lo: e.at, hi: (ends[i + 1] as { at: number }).at };
      // More samples agree; or as many, and this range is on the newest sample's side.
      if (depth > best || (newest.lo <= range.hi && range.lo <= newest.hi)) picked = range;
      best = depth;
    }
    let { lo, hi } = picked;
    // The newest sample disagrees with the majority: the clock may just have been stepped, so the
    // estimate spans both until the new offset has as many samples (never confidently the old one).
    if (newest.hi < lo || newest.lo > hi) {
      lo = Math.min(lo, newest.lo);
      hi = Math.max(hi, newest.hi);
    }
    return { offsetMs: (lo + hi) / 2, uncertaintyMs: (hi - lo) / 2, samples: best };
  }
}

/**
 * The HTTP client an adapter uses: the side's connection, awaited, with every response's (and
 * every error's) `Date` header fed to the skew estimate and every call counted.
 */
export class SideHttp {
  /** Calls made (each logical call once, whatever its attempts). */
  calls = 0;

  constructor(
    readonly connection: Connection,
    readonly skew: ClockSkew,
    private readonly before?: () => Promise<void>,
  ) {}

  get(path: string, options?: RequestOptions): Promise<HttpResponse> {
    return this.send(() => this.connection.get(path, options));
  }

  post(path: string, body?: RequestBody, options?: RequestOptions): Promise<HttpResponse> {
    return this.send(() => this.connection.post(path, body, options));
  }

  patch(path: string, body?: RequestBody, options?: RequestOptions): Promise<HttpResponse> {
    return this.send(() => this.connection.patch(path, body, options));
  }

  /** A view sharing the connection and skew estimate, with its own call count and pacing (reconciliation's budget). */
  fork(before?: () => Promise<void>): SideHttp {
    return new SideHttp(this.connection, this.skew, before);
  }

  private async send(call: () => PromiseLike<HttpResponse>): Promise<HttpResponse> {
    if (this.before !== undefined) await this.before();
    this.calls++;
    const sentAt = this.skew.now();
    try {
      const res = await call();
      this.skew.observe(res.header('date'), sentAt);
      return res;
    } catch (err) {
      if (isWeirError(err)) {
        const h = (err as { headers?: Record<string, string | string[]> }).headers?.date;
        this.skew.observe(Array.isArray(h) ? h[0] : h, sentAt);
      }
      throw err;
    }
  }
}
