import { describe, expect, it } from 'vitest';
import { convoy, github, type SchemeInput, sign, verify, type WebhookHeaders } from '../../src/webhooks/index.js';
import { type FormatVector, loadVectors, outcome, payloadOf, type StandardWebhooksVector } from './vectors.js';

// Every vector of both shared files, with the answer the file says a correct verifier gives.
const standardVectors = loadVectors<StandardWebhooksVector>('standard-webhooks.json');
const formatVectors = loadVectors<FormatVector>('webhook-formats.json');

/** Rejections whose code is not the plain WEIR_SIGNATURE_INVALID. */
const expectedCodes: Record<string, string> = {
  'sw-stale-timestamp': 'WEIR_SIGNATURE_STALE',
  'sw-future-timestamp': 'WEIR_SIGNATURE_FUTURE',
  'ed25519-stale': 'WEIR_SIGNATURE_STALE',
  'slack-stale': 'WEIR_SIGNATURE_STALE',
  'stripe-generated-stale': 'WEIR_SIGNATURE_STALE',
  'convoy-advanced-expired': 'WEIR_SIGNATURE_STALE',
};
const expected = (v: { name: string; valid: boolean }): string => (v.valid ? 'ok' : (expectedCodes[v.name] ?? 'WEIR_SIGNATURE_INVALID'));

/** The same request in each header and body shape a receiver may hold. */
function shapes(headers: Record<string, string>, body: string): Array<[string, WebhookHeaders, string | Uint8Array]> {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]]));
  const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
  const bytes = Buffer.from(body, 'utf8');
  return [
    ['plain object, string body', headers, body],
    ['Headers, Buffer body', new Headers(headers), bytes],
    ['IncomingHttpHeaders arrays, Uint8Array body', lower, new Uint8Array(bytes)],
    ['upper-case names, Buffer body', upper, bytes],
  ];
}

describe('standard-webhooks.json', () => {
  it('has vectors with unique names', () => {
    expect(standardVectors.length).toBeGreaterThanOrEqual(38);
    expect(new Set(standardVectors.map((v) => v.name)).size).toBe(standardVectors.length);
  });

  for (const v of standardVectors) {
    const headers = { 'webhook-id': v.id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.signature };
    const body = payloadOf(v);
    // v1a vectors are verified with the public key, as a consumer holds it.
    const secret = v.publicKey ?? v.secret;

    it(`${v.name} → ${expected(v)}`, () => {
      for (const [shape, h, rawBody] of shapes(headers, body)) {
        const got = outcome(() => verify('standard-webhooks', { secret, rawBody, headers: h, now: v.now * 1000, toleranceSeconds: v.toleranceSeconds }));
        expect(got, shape).toBe(expected(v));
      }
    });

    it(`${v.name} under svix-* header names → ${expected(v)}`, () => {
      const svix = { 'svix-id': v.id, 'svix-timestamp': String(v.timestamp), 'svix-signature': v.signature };
      expect(outcome(() => verify('standard-webhooks', { secret, rawBody: body, headers: svix, now: new Date(v.now * 1000), toleranceSeconds: v.toleranceSeconds }))).toBe(expected(v));
    });

    if (v.publicKey !== undefined) {
      it(`${v.name} with the whsk_ secret key (public half derived) → ${expected(v)}`, () => {
        expect(outcome(() => verify('standard-webhooks', { secret: v.secret, rawBody: body, headers, now: v.now * 1000, toleranceSeconds: v.toleranceSeconds }))).toBe(expected(v));
      });
    }

    // A valid vector with one signature is reproduced exactly by sign() (Ed25519 is deterministic too).
    if (v.valid && !v.signature.includes(' ')) {
      it(`${v.name}: sign() reproduces the signature`, () => {
        const signed = sign('standard-webhooks', { secret: v.secret, rawBody: body, id: v.id, now: v.timestamp * 1000 });
        expect(signed).toEqual({ 'webhook-id': v.id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.signature });
      });
    }
  }

  it('returns the verified bytes themselves, not a parsed or re-encoded body', () => {
    const v = standardVectors.find((x) => x.name === 'gen-newline-payload') as StandardWebhooksVector;
    const rawBody = Buffer.from(payloadOf(v), 'utf8');
    const headers = { 'webhook-id': v.id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.signature };
    expect(verify('standard-webhooks', { secret: v.secret, rawBody, headers, now: v.now * 1000 })).toBe(rawBody);
    const fromString = verify('standard-webhooks', { secret: v.secret, rawBody: payloadOf(v), headers, now: v.now * 1000 });
    expect(Buffer.from(fromString).toString('utf8')).toBe(payloadOf(v));
  });
});

/** A header's comma-separated params in a stable order. */
const params = (value: string | undefined): string[] => (value ?? '').split(',').toSorted();

function schemeFor(v: FormatVector): SchemeInput {
  // Vectors that describe a non-default variant carry its parameters; they map to the scheme options.
  if (v.provider === 'github') return v.algorithm === 'hmac-sha1' ? github({ allowSha1: true }) : 'github';
  if (v.provider === 'convoy') {
    return convoy({
      advanced: v.advanced === true,
      hash: (v.hash ?? 'SHA256').toLowerCase() as 'sha256' | 'sha512',
      encoding: (v.encoding ?? 'hex') as 'hex' | 'base64',
    });
  }
  return v.provider;
}

describe('webhook-formats.json', () => {
  it('has vectors with unique names for every provider', () => {
    expect(formatVectors.length).toBeGreaterThanOrEqual(35);
    expect(new Set(formatVectors.map((v) => v.name)).size).toBe(formatVectors.length);
    expect(new Set(formatVectors.map((v) => v.provider))).toEqual(new Set(['github', 'slack', 'stripe', 'shopify', 'convoy']));
  });

  for (const v of formatVectors) {
    it(`${v.provider} ${v.name} → ${expected(v)}`, () => {
      for (const [shape, headers, rawBody] of shapes(v.headers, v.payload)) {
        const got = outcome(() =>
          verify(schemeFor(v), {
            secret: v.secret,
            rawBody,
            headers,
            ...(v.now === undefined ? {} : { now: v.now * 1000 }),
            ...(v.toleranceSeconds === undefined ? {} : { toleranceSeconds: v.toleranceSeconds }),
          }),
        );
        expect(got, shape).toBe(expected(v));
      }
    });

    // A valid vector with one signature is reproduced by sign() (params compared in any order).
    const single = Object.values(v.headers).every((h) => h.split(',').filter((p) => /^v[01]=/.test(p)).length <= 1);
    if (v.valid && single) {
      it(`${v.provider} ${v.name}: sign() reproduces the headers`, () => {
        const signed = sign(schemeFor(v), { secret: v.secret, rawBody: v.payload, ...(v.timestamp === undefined ? {} : { now: v.timestamp * 1000 }) });
        for (const [name, value] of Object.entries(v.headers)) expect(params(signed[name]), name).toEqual(params(value));
      });
    }
  }

  it('github: the legacy SHA-1 header alone is refused unless allowSha1 is set', () => {
    const v = formatVectors.find((x) => x.name === 'github-legacy-sha1') as FormatVector;
    expect(outcome(() => verify('github', { secret: v.secret, rawBody: v.payload, headers: v.headers }))).toBe('WEIR_SIGNATURE_MISSING');
    expect(outcome(() => verify(github({ allowSha1: true }), { secret: v.secret, rawBody: v.payload, headers: v.headers }))).toBe('ok');
  });

  it('github: with allowSha1, a present SHA-256 header alone decides (a valid SHA-1 does not rescue a bad SHA-256)', () => {
    const good1 = formatVectors.find((x) => x.name === 'github-legacy-sha1') as FormatVector;
    const bad256 = formatVectors.find((x) => x.name === 'github-missing-prefix') as FormatVector;
    const headers = { ...good1.headers, ...bad256.headers };
    expect(outcome(() => verify(github({ allowSha1: true }), { secret: good1.secret, rawBody: good1.payload, headers }))).toBe('WEIR_SIGNATURE_INVALID');
  });

  it('stripe: a future timestamp passes by default (as stripe-node) but not with futureToleranceSeconds', () => {
    const v = formatVectors.find((x) => x.name === 'stripe-generated-future-accepted') as FormatVector;
    const base = { secret: v.secret, rawBody: v.payload, headers: v.headers, now: (v.now as number) * 1000 };
    expect(outcome(() => verify('stripe', base))).toBe('ok');
    expect(outcome(() => verify('stripe', { ...base, futureToleranceSeconds: 300 }))).toBe('WEIR_SIGNATURE_FUTURE');
  });
});
