import { describe, expect, it } from 'vitest';
import { RateLimitedError, permanent } from '../errors.js';
import { resolveHandleOptions } from './options.js';
import { type Failure, decide, errorRecord, errorSignature, jittered } from './retry.js';

const policy = resolveHandleOptions('t', { retry: { immediate: 2, schedule: ['0s', '1s', '5s'], jitter: 0 } }, 30_000).policy;
const fail = (over: Partial<Failure> = {}): Failure => ({
  error: new Error('boom'),
  classification: 'transient',
  delivery: 1,
  attempt: 1,
  now: 1000,
  heldUntil: undefined,
  ...over,
});

describe('decide', () => {
  it('retries at once while immediate retries remain, then reschedules by the schedule', () => {
    expect(decide(policy, fail({ attempt: 1 }), Math.random)).toEqual({ kind: 'retry-now' });
    expect(decide(policy, fail({ attempt: 2 }), Math.random)).toEqual({ kind: 'retry-now' });
    expect(decide(policy, fail({ attempt: 3 }), Math.random)).toEqual({ kind: 'retry', runAt: 1000, refund: false, outcome: 'retry' });
    expect(decide(policy, fail({ attempt: 3, delivery: 2 }), Math.random)).toMatchObject({ runAt: 2000 });
    expect(decide(policy, fail({ attempt: 3, delivery: 3 }), Math.random)).toMatchObject({ runAt: 6000 });
  });

  it('dead-letters after the last delivery, and a permanent failure at once', () => {
    expect(decide(policy, fail({ attempt: 3, delivery: 4 }), Math.random)).toEqual({ kind: 'dead' });
    expect(decide(policy, fail({ classification: 'permanent', error: permanent(new Error('no')) }), Math.random)).toEqual({ kind: 'dead' });
  });

  it("reschedules at an error's retryAfterMs (capped), skipping immediate retries", () => {
    const limited = fail({ error: new RateLimitedError(30_000), classification: 'rate_limited' });
    expect(decide(policy, limited, Math.random)).toEqual({ kind: 'retry', runAt: 31_000, refund: false, outcome: 'retry' });
    const capped = resolveHandleOptions('t', { retry: { maxRetryAfterMs: 5000 } }, 30_000).policy;
    expect(decide(capped, limited, Math.random)).toMatchObject({ runAt: 6000 });
    expect(decide(policy, { ...limited, delivery: 4 }, Math.random)).toEqual({ kind: 'dead' });
  });

  it('waits for a hold to end and refunds the delivery', () => {
    expect(decide(policy, fail({ heldUntil: 9000 }), Math.random)).toEqual({ kind: 'retry', runAt: 9000, refund: true, outcome: 'held' });
    expect(decide(policy, fail({ heldUntil: 500 }), Math.random)).toEqual({ kind: 'retry-now' });
  });

  it('spreads delays by ± jitter', () => {
    expect(jittered(1000, 0.2, () => 0)).toBe(800);
    expect(jittered(1000, 0.2, () => 0.5)).toBe(1000);
    expect(jittered(1000, 0.2, () => 0.999_999)).toBe(1200);
    expect(jittered(0, 0.2, () => 0)).toBe(0);
  });
});

const rec = (message: string) => errorRecord(new Error(message), 'permanent', false);

describe('error records and signatures', () => {
  it('keeps name, code, message, status and retryAfterMs, and the stack only when asked', () => {
    const err = Object.assign(new Error('HTTP 503'), { status: 503, code: 'E_HTTP', retryAfterMs: 100 });
    expect(errorRecord(err, 'transient', false)).toEqual({ name: 'Error', code: 'E_HTTP', message: 'HTTP 503', classification: 'transient', status: 503, retryAfterMs: 100 });
    expect(errorRecord(err, 'transient', true).stack).toContain('HTTP 503');
    expect(errorRecord('plain', 'transient', false)).toMatchObject({ name: 'string', message: 'plain', code: null });
  });

  it('groups messages that differ only by ids and numbers', () => {
    const a = errorSignature('t', rec('order 123 not found (id 0190b1e2-3c4d-7e8f-9a0b-1c2d3e4f5a6b)'));
    const b = errorSignature('t', rec('order 98765 not found (id 0190b1e2-0000-7e8f-9a0b-1c2d3e4f5a6c)'));
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{12}$/);
    expect(errorSignature('t', rec('customer 1 is blocked'))).not.toBe(a);
    expect(errorSignature('u', rec('order 123 not found (id 0190b1e2-3c4d-7e8f-9a0b-1c2d3e4f5a6b)'))).not.toBe(a);
  });
});
