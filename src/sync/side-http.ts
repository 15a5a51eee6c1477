import type { Clock } from '../internal/clock.js';
import type { Connection } from '../http/connection.js';
import type { RequestOptions } from '../http/connection-options.js';
import type { HttpResponse, RequestBody } from '../http/response.js';
import { isWeirError } from '../errors.js';

/** An estimate of how far a system's clock is ahead of ours. */
export interface SkewEstimate {
  /** Server clock minus local clock, ms (median of recent samples). 0 without samples. */
  readonly offsetMs: number;
  /** Half the spread of the samples plus half a second (`Date` has one-second resolution), ms. */
  readonly uncertaintyMs: number;
  readonly samples: number;
}

const MAX_SAMPLES = 16;

/** Estimates a system's clock skew from the `Date` headers of its responses. */
export class ClockSkew {
  private readonly samples: number[] = [];

  constructor(private readonly clock: Clock) {}

  /** Feeds one `Date` header value, read when the response arrived. */
  observe(date: string | undefined): void {
    if (date === undefined) return;
    const at = Date.parse(date);
    if (Number.isNaN(at)) return;
    // The header is truncated to the second: its true time lies in [at, at + 1000).
    this.samples.push(at + 500 - this.clock.now());
    if (this.samples.length > MAX_SAMPLES) this.samples.shift();
  }

  estimate(): SkewEstimate {
    if (this.samples.length === 0) return { offsetMs: 0, uncertaintyMs: 500, samples: 0 };
    const sorted = this.samples.toSorted((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] as number;
    const spread = (sorted[sorted.length - 1] as number) - (sorted[0] as number);
    return { offsetMs: median, uncertaintyMs: spread / 2 + 500, samples: sorted.length };
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
    try {
      const res = await call();
      this.skew.observe(res.header('date'));
      return res;
    } catch (err) {
      if (isWeirError(err)) {
        const h = (err as { headers?: Record<string, string | string[]> }).headers?.date;
        this.skew.observe(Array.isArray(h) ? h[0] : h);
      }
      throw err;
    }
  }
}
