import type { Disposable } from '../internal/events.js';
import { HTTP_METRICS, type MetricMeter, noopMeter } from '../observability/metrics.js';
import type { BreakerState, CircuitBreakerPolicy } from '../policy/circuit-breaker.js';
import type { RetryPolicy } from '../policy/retry.js';
import type { ConnectionLimits } from './limits.js';

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, open: 1, 'half-open': 2, isolated: 3 };

/**
 * Subscribes the connection-level metrics to the policies' events: breaker state, retries, retry
 * budget exhaustion, remaining quota and hold. Nothing is subscribed for the no-op meter.
 * @returns the subscriptions, to dispose on close.
 */
export function observe(
  system: string,
  meter: MetricMeter,
  policies: { readonly retry: RetryPolicy | undefined; readonly breaker: CircuitBreakerPolicy | undefined },
  limits: ConnectionLimits,
): Disposable[] {
  if (meter === noopMeter) return [];
  const labels = { system };
  const subs: Disposable[] = [];
  const breaker = policies.breaker;
  if (breaker !== undefined) {
    const state = meter.gauge(HTTP_METRICS.circuitState, { description: 'Circuit state: 0 closed, 1 open, 2 half-open, 3 isolated', labelNames: ['system'] });
    state.set(STATE_VALUE[breaker.state], labels);
    subs.push(breaker.onStateChange(({ to }) => state.set(STATE_VALUE[to], labels)));
  }
  const retry = policies.retry;
  if (retry !== undefined) {
    const retries = meter.counter(HTTP_METRICS.retries, { description: 'Retries scheduled', labelNames: ['system'] });
    const exhausted = meter.counter(HTTP_METRICS.budgetExhausted, { description: 'Retries refused by the retry budget', labelNames: ['system'] });
    subs.push(retry.onRetry(() => retries.add(1, labels)));
    subs.push(retry.onGiveUp(({ reason }) => reason === 'budget' && exhausted.add(1, labels)));
  }
  const remaining = meter.gauge(HTTP_METRICS.rateLimitRemaining, { description: 'Remaining quota the server last reported', labelNames: ['system'] });
  const held = meter.gauge(HTTP_METRICS.heldUntil, { description: 'Epoch seconds until which the connection is held', unit: 's', labelNames: ['system'] });
  subs.push(limits.onSignal((s) => s.remaining !== undefined && remaining.set(s.remaining, labels)));
  subs.push(limits.onHold(({ until }) => held.set(until / 1000, labels)));
  return subs;
}
