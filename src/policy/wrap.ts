import { BasePolicy, type ExecuteOptions, type Policy, type PolicyContext, type Task, toContext } from './types.js';

/**
 * Composes policies, outermost first: `wrap(bulkhead, timeout, retry, breaker)` runs the bulkhead
 * around the timeout around the retry around the breaker around your function. The context
 * (signal, deadline, attempt, key) flows from each policy to the next.
 *
 * @example
 * ```ts
 * import { wrap, timeout, retry, circuitBreaker, bulkhead } from 'weir/policy';
 * const policy = wrap(bulkhead({ maxConcurrent: 10 }), timeout(5_000), retry({ attempts: 3 }), circuitBreaker({ consecutive: 5 }));
 * const body = await policy.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function wrap(...policies: Policy[]): WrappedPolicy {
  return new WrappedPolicy(policies);
}

export class WrappedPolicy extends BasePolicy {
  constructor(readonly policies: readonly Policy[]) {
    super();
  }

  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    return this.run(0, fn, toContext(options));
  }

  private run<T>(index: number, fn: Task<T>, ctx: PolicyContext): Promise<T> {
    const policy = this.policies[index];
    if (policy === undefined) {
      try {
        return Promise.resolve(fn(ctx));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return policy.execute((inner) => this.run(index + 1, fn, inner), ctx);
  }
}

/** A policy that does nothing, for defaults and tests. */
export const noop: Policy = new (class NoopPolicy extends BasePolicy {
  execute<T>(fn: Task<T>, options?: ExecuteOptions): Promise<T> {
    try {
      return Promise.resolve(fn(toContext(options)));
    } catch (err) {
      return Promise.reject(err);
    }
  }
})();
