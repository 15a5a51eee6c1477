import { describe, expect, it } from 'vitest';
import { generateStandardWebhooksKeyPair, generateStandardWebhooksSecret, MAX_SIGNATURES_PER_HEADER, Secret } from '../../src/security/index.js';
import { convoy, github, type SchemeInput, type SchemeName, sign, stripe, verify, webhookVerifier } from '../../src/webhooks/index.js';
import { caught, outcome } from './vectors.js';

const T = 1_767_225_600;
const now = T * 1000;
const SW_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const PLAIN_SECRET = 'a-provider-secret-0123456789';
const secretFor = (scheme: SchemeName): string => (scheme === 'standard-webhooks' ? SW_SECRET : PLAIN_SECRET);
const schemes: SchemeName[] = ['standard-webhooks', 'stripe', 'github', 'shopify', 'slack', 'convoy'];
const binary = Buffer.from([0x00, 0xff, 0x80, 0xc3, 0x28, 0x0a, 0x0d, 0x7b]);

describe('every built-in scheme', () => {
  for (const scheme of schemes) {
    const secret = secretFor(scheme);

    it(`${scheme}: sign → verify round-trips for JSON, text, empty and non-UTF-8 bodies`, () => {
      for (const body of ['{"a":1}', 'a=1&b=2', '', binary]) {
        const headers = sign(scheme, { secret, rawBody: body, id: 'msg_1', now });
        const bytes = verify(scheme, { secret, rawBody: body, headers, now });
        expect(Buffer.from(bytes).equals(Buffer.from(body))).toBe(true);
      }
    });

    it(`${scheme}: a changed byte, a wrong secret or missing headers are refused`, () => {
      const headers = sign(scheme, { secret, rawBody: binary, id: 'msg_1', now });
      const changed = Buffer.from(binary);
      changed[3] = (changed[3] as number) ^ 1;
      expect(outcome(() => verify(scheme, { secret, rawBody: changed, headers, now }))).toBe('WEIR_SIGNATURE_INVALID');
      const other = scheme === 'standard-webhooks' ? generateStandardWebhooksSecret() : 'another-secret';
      expect(outcome(() => verify(scheme, { secret: other, rawBody: binary, headers, now }))).toBe('WEIR_SIGNATURE_INVALID');
      expect(outcome(() => verify(scheme, { secret, rawBody: binary, headers: {}, now }))).toBe('WEIR_SIGNATURE_MISSING');
    });

    it(`${scheme}: no error message or detail ever holds the secret`, () => {
      const headers = sign(scheme, { secret, rawBody: 'x', id: 'msg_1', now });
      const failures = [
        () => verify(scheme, { secret, rawBody: 'y', headers, now }),
        () => verify(scheme, { secret, rawBody: 'x', headers: {}, now }),
        () => verify(scheme, { secret, rawBody: 'x', headers, now: now + 3_600_000 }),
        () => verify(scheme, { secrets: [secret, `${secret}%%`], rawBody: 'x', headers, now }),
        () => verify(scheme, { secret: Buffer.alloc(0), rawBody: 'x', headers, now }),
      ];
      for (const fail of failures) {
        let err: unknown;
        try {
          fail();
        } catch (e) {
          err = e;
        }
        if (err === undefined) continue; // schemes without a timestamp accept the late one
        const text = `${(err as Error).message} ${JSON.stringify(err)} ${JSON.stringify((err as { details?: unknown }).details)}`;
        expect(text).not.toContain(secret);
        expect(text).not.toContain(secret.replace('whsec_', ''));
      }
    });
  }
});

describe('secret rotation', () => {
  const sw = [generateStandardWebhooksSecret(), generateStandardWebhooksSecret()] as const;

  it('verifies with several active secrets, whichever one signed', () => {
    for (const signer of sw) {
      const headers = sign('standard-webhooks', { secret: signer, rawBody: 'x', now });
      expect(outcome(() => verify('standard-webhooks', { secrets: [...sw], rawBody: 'x', headers, now }))).toBe('ok');
      expect(outcome(() => verify('standard-webhooks', { secrets: [...sw].toReversed(), rawBody: 'x', headers, now }))).toBe('ok');
    }
    expect(outcome(() => verify('standard-webhooks', { secrets: [generateStandardWebhooksSecret()], rawBody: 'x', headers: sign('standard-webhooks', { secret: sw[0], rawBody: 'x', now }), now }))).toBe(
      'WEIR_SIGNATURE_INVALID',
    );
  });

  for (const scheme of ['standard-webhooks', 'stripe', convoy()] as const) {
    const name = typeof scheme === 'string' ? scheme : scheme.name;
    it(`${name}: signing with old and new secrets during the overlap satisfies a receiver holding either`, () => {
      const secrets = name === 'standard-webhooks' ? [...sw] : ['old-secret', 'new-secret'];
      const headers = sign(scheme, { secrets, rawBody: 'x', now });
      for (const secret of secrets) expect(outcome(() => verify(scheme, { secret, rawBody: 'x', headers, now }))).toBe('ok');
    });
  }

  it('standard-webhooks: the header carries one signature per secret, v1 for whsec_ and v1a for whsk_', () => {
    const pair = generateStandardWebhooksKeyPair();
    const headers = sign('standard-webhooks', { secrets: [sw[0], sw[1], pair.secretKey], rawBody: 'x', id: 'msg_r', now });
    expect(headers['webhook-signature']?.split(' ').map((e) => e.split(',')[0])).toEqual(['v1', 'v1', 'v1a']);
    expect(outcome(() => verify('standard-webhooks', { secret: pair.publicKey, rawBody: 'x', headers, now }))).toBe('ok');
  });

  it('github: a one-signature format refuses several signing secrets rather than pick one', () => {
    expect(caught(() => sign(github(), { secrets: ['a', 'b'], rawBody: 'x' })).code).toBe('WEIR_INVALID_OPTION');
  });
});

describe('headers', () => {
  const headers = sign('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', id: 'msg_h', now });
  const ok = (h: unknown): string => outcome(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', headers: h as Headers, now }));

  it('are read from Headers, IncomingHttpHeaders and plain objects of any case', () => {
    expect(ok(new Headers(headers))).toBe('ok');
    expect(ok(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v])))).toBe('ok');
    expect(ok(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v, v]])))).toBe('ok');
  });

  it('refuse two different values of one header as ambiguous', () => {
    const twice = { ...headers, 'webhook-timestamp': [String(T), String(T + 1)] };
    const err = caught(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', headers: twice, now }));
    expect([err.code, err.details.reason]).toEqual(['WEIR_SIGNATURE_INVALID', 'duplicate-header']);
  });

  it('treat an empty header as missing, and never mix webhook-* and svix-* families', () => {
    expect(ok({ ...headers, 'webhook-signature': '' })).toBe('WEIR_SIGNATURE_MISSING');
    const mixed = { 'webhook-signature': headers['webhook-signature'], 'svix-id': headers['webhook-id'], 'svix-timestamp': headers['webhook-timestamp'] };
    expect(caught(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', headers: mixed, now })).details).toMatchObject({ header: 'webhook-id' });
  });

  it(`look at ${MAX_SIGNATURES_PER_HEADER} signatures at most`, () => {
    const filler = Array.from({ length: MAX_SIGNATURES_PER_HEADER }, () => `v1,${Buffer.alloc(32).toString('base64')}`).join(' ');
    expect(ok({ ...headers, 'webhook-signature': `${filler} ${headers['webhook-signature']}` })).toBe('WEIR_SIGNATURE_INVALID');
    expect(ok({ ...headers, 'webhook-signature': `${filler.split(' ').slice(1).join(' ')} ${headers['webhook-signature']}` })).toBe('ok');
  });
});

describe('time', () => {
  const headers = sign('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', now });

  it('is passed in as a Date or Unix ms; the signature is checked before the timestamp', () => {
    expect(outcome(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', headers, now: new Date(now) }))).toBe('ok');
    const stale = caught(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', headers, now: now + 301_000 }));
    expect([stale.code, stale.details]).toEqual(['WEIR_SIGNATURE_STALE', { scheme: 'standard-webhooks', reason: 'stale', timestamp: T, now: T + 301, toleranceSeconds: 300 }]);
    // A forged request is INVALID even when its timestamp is also out of the window.
    expect(outcome(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'forged', headers, now: now + 301_000 }))).toBe('WEIR_SIGNATURE_INVALID');
  });

  it('a sub-second clock is truncated to seconds, as the reference libraries do', () => {
    expect(outcome(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', headers, now: now + 300_999 }))).toBe('ok');
  });

  const at = (offset: number, opts = {}): string =>
    outcome(() => verify('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', headers, now: now + offset * 1000, ...opts }));

  it('tolerance options override the scheme, symmetrically unless the future one is given', () => {
    expect(at(61, { toleranceSeconds: 60 })).toBe('WEIR_SIGNATURE_STALE');
    expect(at(-61, { toleranceSeconds: 60 })).toBe('WEIR_SIGNATURE_FUTURE');
    expect(at(-61, { toleranceSeconds: 60, futureToleranceSeconds: 120 })).toBe('ok');
    expect(outcome(() => verify(stripe({ futureToleranceSeconds: 10 }), { secret: 's', rawBody: 'x', headers: sign('stripe', { secret: 's', rawBody: 'x', now }), now: now - 11_000 }))).toBe(
      'WEIR_SIGNATURE_FUTURE',
    );
  });
});

function optionOf(fn: () => unknown): string {
  const err = caught(fn) as unknown as { code: string; option: string };
  expect(err.code).toBe('WEIR_INVALID_OPTION');
  return err.option;
}

describe('options are validated at once', () => {
  const base = { rawBody: 'x', headers: {} };

  it('names the wrong option', () => {
    expect(optionOf(() => verify('stripe', { ...base } as never))).toBe('secrets');
    expect(optionOf(() => verify('stripe', { ...base, secrets: [] }))).toBe('secrets');
    expect(optionOf(() => verify('stripe', { ...base, secret: 'a', secrets: ['b'] } as never))).toBe('secrets');
    expect(optionOf(() => verify('stripe', { ...base, secret: '' }))).toBe('secret');
    expect(optionOf(() => verify('standard-webhooks', { ...base, secrets: [SW_SECRET, 'whsec_not base64!'] }))).toBe('secrets[1]');
    expect(optionOf(() => verify('stripe', { ...base, secret: 's', toleranceSeconds: -1 }))).toBe('toleranceSeconds');
    expect(optionOf(() => verify('stripe', { ...base, secret: 's', toleranceSeconds: Number.NaN }))).toBe('toleranceSeconds');
    expect(optionOf(() => verify('stripe', { ...base, secret: 's', futureToleranceSeconds: -5 }))).toBe('futureToleranceSeconds');
    expect(optionOf(() => verify('stripe', { ...base, secret: 's', now: new Date('nope') }))).toBe('now');
    expect(optionOf(() => verify('stripe', { secret: 's', headers: {}, rawBody: { parsed: 'json' } as never }))).toBe('rawBody');
    expect(optionOf(() => verify(convoy({ hash: 'md5' as 'sha256' }), { ...base, secret: 's' }))).toBe('convoy.hash');
    expect(optionOf(() => sign('standard-webhooks', { secret: SW_SECRET, rawBody: 'x', id: 'has.dot' }))).toBe('id');
    expect(optionOf(() => sign('standard-webhooks', { secret: generateStandardWebhooksKeyPair().publicKey, rawBody: 'x' }))).toBe('secret');
  });

  it('a verifier parses its secrets once and is reusable', () => {
    expect(optionOf(() => webhookVerifier('standard-webhooks', { secret: 'whsk_AAAA' }))).toBe('secret');
    const verifier = webhookVerifier('standard-webhooks', { secrets: [SW_SECRET] });
    expect(verifier.scheme).toBe('standard-webhooks');
    for (let i = 0; i < 3; i += 1) {
      const headers = sign('standard-webhooks', { secret: SW_SECRET, rawBody: `body ${i}`, now });
      expect(Buffer.from(verifier.verify({ rawBody: `body ${i}`, headers, now })).toString()).toBe(`body ${i}`);
    }
  });

  it('takes a Secret from weir/security as a secret', () => {
    const stripeSecret = Secret.of('STRIPE_WEBHOOK_SECRET', 'whsec_from_the_environment');
    const headers = sign('stripe', { secret: 'whsec_from_the_environment', rawBody: 'x', now });
    expect(outcome(() => verify('stripe', { secret: stripeSecret, rawBody: 'x', headers, now }))).toBe('ok');
    expect(outcome(() => verify('stripe', { secrets: [Secret.of('OLD', 'old'), stripeSecret], rawBody: 'x', headers, now }))).toBe('ok');
  });

  it('sign() makes a msg_ id when none is given', () => {
    expect(sign('standard-webhooks', { secret: SW_SECRET, rawBody: 'x' })['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
  });

  it('accepts a scheme value of its own making', () => {
    const scheme: SchemeInput = {
      name: 'accept-all',
      toleranceSeconds: 0,
      futureToleranceSeconds: 0,
      importKey: (s) => s,
      check: () => undefined,
      sign: () => ({}),
    };
    expect(outcome(() => verify(scheme, { secret: 'k', rawBody: 'x', headers: {} }))).toBe('ok');
  });
});
