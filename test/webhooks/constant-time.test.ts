import { describe, expect, it, vi } from 'vitest';

// Records every crypto.timingSafeEqual call made by Weir's verification code.
const calls = vi.hoisted(() => [] as Array<[number, number]>);
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return {
    ...actual,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.push([a.byteLength, b.byteLength]);
      return actual.timingSafeEqual(a, b);
    },
  };
});

const { sign, verify } = await import('../../src/webhooks/index.js');

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const now = 1_700_000_000_000;

describe('constant-time comparison', () => {
  it('is used for the signature check, on equal lengths only', () => {
    calls.length = 0;
    const headers = sign('standard-webhooks', { secret: SECRET, rawBody: 'x', now });
    verify('standard-webhooks', { secret: SECRET, rawBody: 'x', headers, now });
    expect(calls).toEqual([[32, 32]]);
  });

  it('truncated, padded, garbage and over-long signatures are refused by length before any comparison', () => {
    const headers = sign('standard-webhooks', { secret: SECRET, rawBody: 'x', now });
    const good = (headers['webhook-signature'] as string).slice(3);
    const stripeHeaders = sign('stripe', { secret: 's', rawBody: 'x', now });
    const stripeSig = (stripeHeaders['Stripe-Signature'] as string).split('v1=')[1] as string;
    calls.length = 0;
    for (const signature of ['', good.slice(0, 8), good.slice(0, -1), `${good}AAAA`, 'dawfeoifkpqwoekfpqoekf', Buffer.alloc(64).toString('base64')]) {
      const code = (() => {
        try {
          verify('standard-webhooks', { secret: SECRET, rawBody: 'x', headers: { ...headers, 'webhook-signature': `v1,${signature}` }, now });
          return 'ok';
        } catch (err) {
          return (err as { code: string }).code;
        }
      })();
      expect(code).toBe('WEIR_SIGNATURE_INVALID');
    }
    for (const signature of [stripeSig.slice(0, 10), `${stripeSig}00`, '1234567890']) {
      expect(() => verify('stripe', { secret: 's', rawBody: 'x', headers: { 'Stripe-Signature': `t=${now / 1000},v1=${signature}` }, now })).toThrow(
        expect.objectContaining({ code: 'WEIR_SIGNATURE_INVALID' }),
      );
    }
    expect(calls).toEqual([]);
  });

  it('a same-length wrong signature is compared in constant time against every secret', () => {
    const headers = sign('stripe', { secret: 's', rawBody: 'x', now });
    const forged = (headers['Stripe-Signature'] as string).replace(/v1=[0-9a-f]{64}/, `v1=${'0'.repeat(64)}`);
    calls.length = 0;
    expect(() => verify('stripe', { secrets: ['a', 'b', 'c'], rawBody: 'x', headers: { 'Stripe-Signature': forged }, now })).toThrow(
      expect.objectContaining({ code: 'WEIR_SIGNATURE_INVALID' }),
    );
    expect(calls).toEqual([[32, 32], [32, 32], [32, 32]]);
  });
});
