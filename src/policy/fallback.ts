import { type Classification, type Classifier, defaultClassifier } from './classify.js';
import { Emitter } from '../internal/events.js';
import { fn as isFn } from '../internal/validate.js';
import { BasePolicy, type ExecuteOptions, isAborted, type PolicyContext, type Task, toContext } from './types.js';

/** Computes the fallback from the failure (an error, or a value the classifier called a failure). */
export type FallbackFn<F> = (error: unknown, ctx: PolicyContext) => F | PromiseLike<F>;

export interface FallbackOptions {
  /** Whether a failure is replaced. Default: every failure. A `cancelled` one (or any failure after the caller's signal aborted) is never replaced. */
  when?: (classification: Classification, error: unknown) => boolean;
  /**
   * Classifies each outcome. Default {@link defaultClassifier} (values are successes). A custom
   * classifier may also call a value a failure (e.g. a 503 response); that value is then passed
   * to `when` and to the fallback function in place of an error.
   */
  classify?: Classifier;
}

/** Emitted each time a failure is replaced by the fallback. */
export interface FallbackEvent {
  readonly classification: Classification;
  readonly error: unknown;
}

/**
 * Replaces a failure with a value, or with what a function computes from the failure. A call
 * cancelled by its signal is never replaced: the cancellation propagates.
 *
 * A function argument is always called as the fallback function; to fall back to a function
 * value, return it from one: `fallback(() => myFn)`.
 *
 * Import from `weir/policy`.
 *
 * @throws InvalidOptionError (`fallback.when`, `fallback.classify`) at construction.
 * @example
 * ```ts
 * const cached = fallback((err) => cache.get('prices'));
 * const prices = await wrap(cached, retry({ attempts: 3 })).execute(() => api.get('/prices'));
 * const empty = fallback([], { when: (c) => c === 'transient' });
 * ```
 */
export function fallback<F>(valueOrFn: F | FallbackFn<F>, options: FallbackOptions = {}): FallbackPolicy<F> {
  return new FallbackPolicy<F>(valueOrFn, options);
}

const always = (): boolean => true;

export class FallbackPolicy<F = unknown> extends BasePolicy {
  private readonly compute: FallbackFn<F>;
  private readonly when: (classification: Classification, error: unknown) => boolean;
  private readonly classify: Classifier | undefined;
  private readonly fallbacks = new Emitter<FallbackEvent>();
  /** Fires each time a failure is replaced. */
  readonly onFallback = this.fallbacks.event;

  constructor(valueOrFn: F | FallbackFn<F>, options: FallbackOptions = {}) {
    super();
    this.compute = typeof valueOrFn === 'function' ? (valueOrFn as FallbackFn<F>) : () => valueOrFn;
    this.when = options.when === undefined ? always : isFn(options.when, 'fallback.when');
    this.classify = options.classify === undefined ? undefined : isFn<Classifier>(options.classify, 'fallback.classify');
  }

  /**
   * Runs `fn`; on a failure that `when` accepts, resolves with the fallback instead.
   * @throws whatever `fn` threw when the failure is not replaced (always so when cancelled), or
   * whatever the fallback function throws.
   */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T | F>;
  /** @internal The signature every `Policy` shares, for `wrap()`. */
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T>;
  async execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T | F> {
    const ctx = toContext(options);
    let value: T;
    try {
      value = await fn(ctx);
    } catch (error) {
      const classification = (this.classify ?? defaultClassifier)({ ok: false, error });
      if (this.replaces(classification, error, ctx)) return this.substitute(classification, error, ctx);
      throw error;
    }
    if (this.classify !== undefined) {
      const classification = this.classify({ ok: true, value });
      if (classification !== 'success' && this.replaces(classification, value, ctx)) return this.substitute(classification, value, ctx);
    }
    return value;
  }

  private replaces(classification: Classification, error: unknown, ctx: PolicyContext): boolean {
    // A caller that cancelled wants the cancellation, never a substitute (whatever `when` says).
    return classification !== 'cancelled' && !isAborted(ctx) && this.when(classification, error);
  }

  private substitute(classification: Classification, error: unknown, ctx: PolicyContext): F | PromiseLike<F> {
    if (this.fallbacks.size > 0) this.fallbacks.emit({ classification, error });
    return this.compute(error, ctx);
  }
}
