// Runs policies the way an app would, then lets the event loop drain. The parent test checks that
// the process exits by itself long before any policy timer (60 s) would have fired.
import { backoff, bulkhead, circuitBreaker, rateLimiter, retry, timeout, wrap } from '../../src/policy/index.js';

const policy = wrap(
  bulkhead({ maxConcurrent: 4, maxQueue: 10 }),
  timeout(60_000),
  rateLimiter({ perSecond: 1000 }),
  retry({ attempts: 3, backoff: backoff.constant(1) }),
  circuitBreaker({ failureRate: 0.5, minimumCalls: 20, windowMs: 60_000 }, { openMs: 60_000 }),
  timeout(30_000),
);
let ok = 0;
for (let i = 0; i < 1000; i++) {
  // Every 10th call fails on its first attempt and succeeds when retried.
  const r = await policy.executeOutcome(async (ctx) => (i % 10 === 0 && ctx.attempt === 1 ? Promise.reject(new Error('boom')) : i));
  if (r.ok) ok++;
}
console.log(`done ${ok}`);
