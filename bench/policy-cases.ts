/**
 * The subjects of `policy.bench.ts`: one function under test, the same for every library, and the
 * policies around it. Settings are as close as the libraries allow; the differences are named.
 */
import {
  bulkhead as cBulkhead,
  circuitBreaker as cCircuitBreaker,
  ConsecutiveBreaker,
  ConstantBackoff,
  handleAll,
  retry as cRetry,
  timeout as cTimeout,
  TimeoutStrategy,
  wrap as cWrap,
} from 'cockatiel';
import CircuitBreaker from 'opossum';
import { backoff, bulkhead, circuitBreaker, type Policy, rateLimiter, retry, timeout, wrap } from '../src/policy/index.js';
import type { Call, Case } from './harness.js';

export type Path = 'success' | 'failure';

/** Thrown on the failure path: one preallocated error, so the cost of building a stack trace is not measured. */
const FAILURE = Object.assign(new Error('simulated failure'), { code: 'EBENCH' });

/**
 * The function under test: an already-settled promise. On the failure path every 10th invocation
 * rejects; a retry's next invocation is the 11th, which succeeds, so retries always recover.
 */
export function work(path: Path): () => Promise<number> {
  let n = 0;
  if (path === 'success') return () => Promise.resolve(n++);
  return () => (++n % 10 === 0 ? Promise.reject(FAILURE) : Promise.resolve(n));
}

/** What each policy is set to, shown beside the results. */
export const SETTINGS = {
  timeout: '1 000 ms, aggressive (Weir default; cockatiel TimeoutStrategy.Aggressive)',
  retry: '3 attempts (cockatiel maxAttempts: 2 retries), constant backoff 0 ms, no budget',
  breaker: 'consecutive 5, open 10 s (cockatiel ConsecutiveBreaker(5), halfOpenAfter 10 s)',
  rateBreaker: 'failure rate 50 % over 10 s (10 buckets), minimum 20 calls, open 10 s',
  bulkhead: 'maxConcurrent 10, maxQueue 100',
  rateLimiter: 'perSecond 1e12, burst 1e12 (never limits: measures the bookkeeping)',
  opossum: 'new CircuitBreaker(fn) with defaults: timeout 10 s, 50 % over a 10 s rolling window',
} as const;

function weirCase(name: string, path: Path, make: () => Policy): Case {
  return {
    name,
    setup: () => {
      const fn = work(path);
      const policy = make();
      return (): Promise<number> => policy.execute(fn);
    },
  };
}

const wTimeout = (): Policy => timeout(1_000);
const wRetry = (): Policy => retry({ attempts: 3, backoff: backoff.constant(0), budget: false });
const wBreaker = (): Policy => circuitBreaker({ consecutive: 5 }, { openMs: 10_000 });
const wRateBreaker = (): Policy => circuitBreaker({ failureRate: 0.5, minimumCalls: 20, windowMs: 10_000 }, { openMs: 10_000 });
const wBulkhead = (): Policy => bulkhead({ maxConcurrent: 10, maxQueue: 100 });

const cRetryPolicy = () => cRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) });
const cBreakerPolicy = () => cCircuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });

function cockatielCase(name: string, path: Path, make: () => { execute(fn: () => Promise<number>): Promise<number> }): Case {
  return {
    name,
    setup: () => {
      const fn = work(path);
      const policy = make();
      return (): Promise<number> => policy.execute(fn);
    },
  };
}

function opossumCase(path: Path): Case {
  let breaker: CircuitBreaker<[], number> | undefined;
  return {
    name: 'opossum breaker (defaults)',
    setup: () => {
      breaker?.shutdown();
      const b = new CircuitBreaker<[], number>(work(path));
      breaker = b;
      return (): Promise<number> => b.fire();
    },
    teardown: () => breaker?.shutdown(),
  };
}

/** Every subject for one path, bare first. */
export function cases(path: Path): { bare: Case; weir: Case[]; weirWrap: Case; weirWrapRate: Case; cockatielWrap: Case; anchors: Case[]; opossum: Case } {
  const bare: Case = { name: 'bare await', setup: (): Call => work(path) };
  const weirWrap = weirCase('weir wrap(timeout, retry, breaker, bulkhead)', path, () => wrap(wTimeout(), wRetry(), wBreaker(), wBulkhead()));
  const weirWrapRate = weirCase('weir wrap(…) with failure-rate breaker', path, () =>
    wrap(wTimeout(), wRetry(), wRateBreaker(), wBulkhead()),
  );
  const cockatielWrap = cockatielCase('cockatiel wrap(retry, breaker, timeout, bulkhead)', path, () =>
    cWrap(cRetryPolicy(), cBreakerPolicy(), cTimeout(1_000, TimeoutStrategy.Aggressive), cBulkhead(10, 100)),
  );
  const opossum = opossumCase(path);
  return {
    bare,
    weir: [
      weirCase('weir timeout', path, wTimeout),
      weirCase('weir retry', path, wRetry),
      weirCase('weir breaker (consecutive)', path, wBreaker),
      weirCase('weir breaker (failure rate)', path, wRateBreaker),
      weirCase('weir bulkhead', path, wBulkhead),
      weirCase('weir rateLimiter', path, () => rateLimiter({ perSecond: 1e12, burst: 1e12 })),
    ],
    weirWrap,
    weirWrapRate,
    cockatielWrap,
    anchors: [
      cockatielCase('cockatiel timeout (cooperative)', path, () => cTimeout(1_000, TimeoutStrategy.Cooperative)),
      cockatielCase('cockatiel timeout (aggressive)', path, () => cTimeout(1_000, TimeoutStrategy.Aggressive)),
      cockatielCase('cockatiel retry', path, cRetryPolicy),
      cockatielCase('cockatiel breaker (consecutive)', path, cBreakerPolicy),
      cockatielCase('cockatiel bulkhead', path, () => cBulkhead(10, 100)),
    ],
    opossum,
  };
}
