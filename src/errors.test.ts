import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  BulkheadFullError,
  CancelledError,
  CircuitOpenError,
  InvalidOptionError,
  isWeirError,
  permanent,
  RateLimitedError,
  RetriesExhaustedError,
  TimeoutError,
  WeirError,
} from './errors.js';
import { classifyError, classifyStatus } from './policy/classify.js';

describe('WeirError', () => {
  it('carries stable codes and default classifications', () => {
    const cases: Array<[WeirError, string, string]> = [
      [new TimeoutError(10), 'WEIR_TIMEOUT', 'transient'],
      [new CancelledError(), 'WEIR_CANCELLED', 'cancelled'],
      [new CircuitOpenError(100), 'WEIR_CIRCUIT_OPEN', 'transient'],
      [new BulkheadFullError({ maxConcurrent: 1, maxQueue: 0 }), 'WEIR_BULKHEAD_FULL', 'transient'],
      [new RateLimitedError(500), 'WEIR_RATE_LIMITED', 'rate_limited'],
      [permanent(new Error('gone')), 'WEIR_PERMANENT', 'permanent'],
    ];
    for (const [err, code, cls] of cases) {
      expect(err.code).toBe(code);
      expect(err.classification).toBe(cls);
      expect(classifyError(err)).toBe(cls);
      expect(err).toBeInstanceOf(Error);
      expect(isWeirError(err, code as never)).toBe(true);
    }
    expect(new RateLimitedError(500).retryAfterMs).toBe(500);
  });

  it('RetriesExhausted keeps attempts, reason, cause and the cause classification', () => {
    const last = new RateLimitedError(250);
    const err = new RetriesExhaustedError(3, 'attempts', last);
    expect(err.attempts).toBe(3);
    expect(err.reason).toBe('attempts');
    expect(err.cause).toBe(last);
    expect(err.classification).toBe('rate_limited');
    expect(err.retryAfterMs).toBe(250);
    expect(new RetriesExhaustedError(2, 'budget', permanent('x')).classification).toBe('permanent');
  });

  it('instanceof works across copies through the Symbol.for brand', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('weir.error')]: true, code: 'WEIR_TIMEOUT' });
    expect(foreign instanceof WeirError).toBe(true);
    expect(new Error('plain') instanceof WeirError).toBe(false);
    expect(isWeirError(null)).toBe(false);
  });

  it('InvalidOptionError is a TypeError and a WeirError naming the option', () => {
    const err = new InvalidOptionError('retry.attempts', 'an integer >= 1', 0);
    expect(err).toBeInstanceOf(TypeError);
    expect(err instanceof WeirError).toBe(true);
    expect(err.code).toBe('WEIR_INVALID_OPTION');
    expect(err.option).toBe('retry.attempts');
  });

  it('toJSON reduces the cause to name and code', () => {
    const cause = Object.assign(new Error('token=supersecret'), { code: 'EX' });
    const json = new TimeoutError(5, { cause }).toJSON();
    expect(json).toMatchObject({ code: 'WEIR_TIMEOUT', timeoutMs: 5, cause: { name: 'Error', code: 'EX' } });
    expect(JSON.stringify(json)).not.toContain('supersecret');
    expect(inspect(new TimeoutError(5))).toContain('WEIR_TIMEOUT');
  });
});

describe('classification', () => {
  it('classifies HTTP statuses and common errors', () => {
    expect(classifyStatus(200)).toBe('success');
    expect(classifyStatus(429)).toBe('rate_limited');
    expect(classifyStatus(503)).toBe('transient');
    expect(classifyStatus(408)).toBe('transient');
    expect(classifyStatus(404)).toBe('permanent');
    expect(classifyStatus(501)).toBe('permanent');
    expect(classifyError({ statusCode: 502 })).toBe('transient');
    expect(classifyError(Object.assign(new Error('x'), { status: 400 }))).toBe('permanent');
    expect(classifyError(new DOMException('aborted', 'AbortError'))).toBe('cancelled');
    expect(classifyError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe('transient');
    expect(classifyError('weird')).toBe('transient');
  });
});
