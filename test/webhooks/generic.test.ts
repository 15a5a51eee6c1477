import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type HmacSchemeConfig, hmacScheme, resolveScheme, sign, verify } from '../../src/webhooks/index.js';
import { caught, outcome } from './vectors.js';

// The flagship contract (shared/contracts/crm-esp.md §2) describes both providers' webhooks;
// each is a few lines of generic config.
const crm: HmacSchemeConfig = { name: 'crm', signatureHeader: 'X-CRM-Signature', format: 'params', signedContent: '{timestamp}.{body}' };
const esp: HmacSchemeConfig = { name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' };

const CRM_SECRET = 'crm-webhook-secret-for-tests';
const ESP_SECRET = 'esp-webhook-secret-for-tests';
const T = 1_767_225_600; // 2026-01-01T00:00:00Z
const crmBody = '{"event_id":"evt_1","type":"customer.updated","occurred_at":"2026-01-01T00:00:00.000Z","data":{"id":"crm_1"}}';
const espBody = '{"type":"contact.unsubscribed","contact_id":"esp_1","occurred_at":"2026-01-01T00:00:00.000Z"}';

/** The CRM header computed independently with node:crypto, exactly as the contract words it. */
const crmHeader = (t: number, body: string, secret = CRM_SECRET): string =>
  `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
const espHeader = (body: string | Buffer, secret = ESP_SECRET): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

const checkCrm = (header: string, nowSeconds: number, body = crmBody, secret = CRM_SECRET): string =>
  outcome(() => verify(crm, { secret, rawBody: body, headers: { 'x-crm-signature': header }, now: nowSeconds * 1000 }));
const checkEsp = (header: string | undefined, body: string | Buffer = espBody, secret = ESP_SECRET): string =>
  outcome(() => verify(esp, { secret, rawBody: body, headers: header === undefined ? {} : { 'x-esp-signature': header } }));

describe('CRM: X-CRM-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>', () => {

  it('accepts a genuine signature and returns the raw bytes', () => {
    const rawBody = Buffer.from(crmBody);
    expect(verify(crm, { secret: CRM_SECRET, rawBody, headers: { 'X-CRM-Signature': crmHeader(T, crmBody) }, now: T * 1000 })).toBe(rawBody);
  });

  it('rejects t more than 300 s away from now, in either direction, and accepts exactly 300 s', () => {
    expect(checkCrm(crmHeader(T, crmBody), T + 300)).toBe('ok');
    expect(checkCrm(crmHeader(T, crmBody), T - 300)).toBe('ok');
    expect(checkCrm(crmHeader(T, crmBody), T + 301)).toBe('WEIR_SIGNATURE_STALE');
    expect(checkCrm(crmHeader(T, crmBody), T - 301)).toBe('WEIR_SIGNATURE_FUTURE');
  });

  it('rejects a tampered body, a wrong secret, a moved timestamp and a missing header', () => {
    expect(checkCrm(crmHeader(T, crmBody), T, crmBody.replace('evt_1', 'evt_2'))).toBe('WEIR_SIGNATURE_INVALID');
    expect(checkCrm(crmHeader(T, crmBody), T, crmBody, 'another-secret')).toBe('WEIR_SIGNATURE_INVALID');
    expect(checkCrm(crmHeader(T, crmBody).replace(`t=${T}`, `t=${T + 1}`), T)).toBe('WEIR_SIGNATURE_INVALID');
    expect(outcome(() => verify(crm, { secret: CRM_SECRET, rawBody: crmBody, headers: {}, now: T * 1000 }))).toBe('WEIR_SIGNATURE_MISSING');
  });

  it('says why a malformed header is refused', () => {
    const reason = (header: string): unknown =>
      caught(() => verify(crm, { secret: CRM_SECRET, rawBody: crmBody, headers: { 'X-CRM-Signature': header }, now: T * 1000 })).details.reason;
    expect(reason(crmHeader(T, crmBody).replace(`t=${T},`, ''))).toBe('malformed-header');
    expect(reason(crmHeader(T, crmBody).replace(`t=${T}`, 't=1e9'))).toBe('malformed-timestamp');
    expect(reason(crmHeader(T, crmBody).replace(`t=${T}`, `t=-${T}`))).toBe('malformed-timestamp');
    expect(reason(`t=${T}`)).toBe('no-signature');
    expect(reason(`t=${T},t=${T + 1},${crmHeader(T, crmBody).split(',')[1]}`)).toBe('malformed-header');
    expect(reason(`t=${T},v1=abc`)).toBe('mismatch');
  });

  it('accepts params in any order, with spaces, and upper-case hex', () => {
    const [t, v1] = crmHeader(T, crmBody).split(',') as [string, string];
    expect(checkCrm(`${v1}, ${t}`, T)).toBe('ok');
    expect(checkCrm(`${t},v1=${v1.slice(3).toUpperCase()}`, T)).toBe('ok');
  });

  it('sign() produces the same header the contract describes', () => {
    expect(sign(crm, { secret: CRM_SECRET, rawBody: crmBody, now: T * 1000 })).toEqual({ 'X-CRM-Signature': crmHeader(T, crmBody) });
  });

  it('verifies during a secret rotation with either secret active', () => {
    const header = crmHeader(T, crmBody, 'old-secret');
    const secrets = ['new-secret', 'old-secret'];
    expect(outcome(() => verify(crm, { secrets, rawBody: crmBody, headers: { 'X-CRM-Signature': header }, now: T * 1000 }))).toBe('ok');
    const both = sign(crm, { secrets, rawBody: crmBody, now: T * 1000 })['X-CRM-Signature'] as string;
    expect(both.split(',')).toHaveLength(3);
    expect(checkCrm(both, T, crmBody, 'old-secret')).toBe('ok');
    expect(checkCrm(both, T, crmBody, 'new-secret')).toBe('ok');
  });
});

describe('ESP: X-ESP-Signature: sha256=<hex HMAC-SHA256(secret, body)>', () => {

  it('accepts a genuine signature, at any time (the format signs no timestamp)', () => {
    expect(checkEsp(espHeader(espBody))).toBe('ok');
    expect(outcome(() => verify(esp, { secret: ESP_SECRET, rawBody: espBody, headers: { 'X-ESP-Signature': espHeader(espBody) }, now: 0 }))).toBe('ok');
  });

  it('rejects a tampered body, a wrong secret, a missing prefix, another algorithm prefix and a missing header', () => {
    expect(checkEsp(espHeader(espBody), `${espBody} `)).toBe('WEIR_SIGNATURE_INVALID');
    expect(checkEsp(espHeader(espBody), espBody, 'x')).toBe('WEIR_SIGNATURE_INVALID');
    expect(checkEsp(espHeader(espBody).slice('sha256='.length))).toBe('WEIR_SIGNATURE_INVALID');
    expect(checkEsp(espHeader(espBody).replace('sha256=', 'sha1='))).toBe('WEIR_SIGNATURE_INVALID');
    expect(checkEsp(undefined)).toBe('WEIR_SIGNATURE_MISSING');
  });

  it('works on bodies that are not JSON, including bytes that are not UTF-8', () => {
    const binary = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]);
    expect(checkEsp(espHeader(binary), binary)).toBe('ok');
    expect(checkEsp(espHeader('plain text'), 'plain text')).toBe('ok');
    expect(sign(esp, { secret: ESP_SECRET, rawBody: binary })).toEqual({ 'X-ESP-Signature': espHeader(binary) });
  });

  it('refuses to sign with two secrets: the format carries one signature', () => {
    expect(caught(() => sign(esp, { secrets: ['a', 'b'], rawBody: espBody })).code).toBe('WEIR_INVALID_OPTION');
  });
});

describe('generic HMAC config', () => {
  it('supports an id, a timestamp header, base64url signatures and a base64 secret', () => {
    const scheme = hmacScheme({
      name: 'acme',
      signatureHeader: 'Acme-Signature',
      idHeader: 'Acme-Id',
      timestampHeader: 'Acme-Timestamp',
      signedContent: '{id}:{timestamp}:{body}:end',
      algorithm: 'sha512',
      encoding: 'base64url',
      secretEncoding: 'base64',
    });
    const secret = Buffer.from('0123456789abcdef0123456789abcdef').toString('base64');
    const headers = sign(scheme, { secret, rawBody: 'payload', id: 'evt_9', now: T * 1000 });
    const expected = createHmac('sha512', Buffer.from(secret, 'base64')).update(`evt_9:${T}:payload:end`).digest('base64url');
    expect(headers).toEqual({ 'Acme-Signature': expected, 'Acme-Id': 'evt_9', 'Acme-Timestamp': String(T) });
    expect(outcome(() => verify(scheme, { secret, rawBody: 'payload', headers, now: T * 1000 }))).toBe('ok');
    expect(outcome(() => verify(scheme, { secret, rawBody: 'payload', headers: { ...headers, 'Acme-Id': 'evt_8' }, now: T * 1000 }))).toBe('WEIR_SIGNATURE_INVALID');
    const { 'Acme-Timestamp': _, ...noTimestamp } = headers;
    expect(outcome(() => verify(scheme, { secret, rawBody: 'payload', headers: noTimestamp, now: T * 1000 }))).toBe('WEIR_SIGNATURE_MISSING');
  });

  it('uses the tolerances of the config, overridable per verifier', () => {
    const scheme: HmacSchemeConfig = { ...crm, toleranceSeconds: 60, futureToleranceSeconds: 5 };
    const headers = { 'X-CRM-Signature': crmHeader(T, crmBody) };
    const at = (now: number, extra = {}): string => outcome(() => verify(scheme, { secret: CRM_SECRET, rawBody: crmBody, headers, now: now * 1000, ...extra }));
    expect(at(T + 60)).toBe('ok');
    expect(at(T + 61)).toBe('WEIR_SIGNATURE_STALE');
    expect(at(T - 5)).toBe('ok');
    expect(at(T - 6)).toBe('WEIR_SIGNATURE_FUTURE');
    expect(at(T + 61, { toleranceSeconds: 120 })).toBe('ok');
    expect(at(T - 6, { futureToleranceSeconds: Number.POSITIVE_INFINITY })).toBe('ok');
  });

  it('compiles a config object once', () => {
    expect(resolveScheme(crm)).toBe(resolveScheme(crm));
    expect(resolveScheme('stripe')).toBe(resolveScheme('stripe'));
  });

  const invalid: Array<[string, unknown, string]> = [
    ['no {body}', { signatureHeader: 'X-Sig', signedContent: '{timestamp}' }, 'scheme.signedContent'],
    ['{body} twice', { signatureHeader: 'X-Sig', signedContent: '{body}{body}' }, 'scheme.signedContent'],
    ['an unknown placeholder', { signatureHeader: 'X-Sig', signedContent: '{foo}.{body}' }, 'scheme.signedContent'],
    ['a signed timestamp with nowhere to read it', { signatureHeader: 'X-Sig', signedContent: '{timestamp}.{body}' }, 'scheme.timestampHeader'],
    ['an unsigned timestamp header', { signatureHeader: 'X-Sig', timestampHeader: 'X-Ts' }, 'scheme.signedContent'],
    ['a signed id with no header', { signatureHeader: 'X-Sig', format: 'params', signedContent: '{id}.{body}' }, 'scheme.idHeader'],
    ['a header name with a space', { signatureHeader: 'X Sig' }, 'scheme.signatureHeader'],
    ['no header name', {}, 'scheme.signatureHeader'],
    ['an unknown algorithm', { signatureHeader: 'X-Sig', algorithm: 'md5' }, 'scheme.algorithm'],
    ['an unknown encoding', { signatureHeader: 'X-Sig', encoding: 'base32' }, 'scheme.encoding'],
    ['a prefix with params', { signatureHeader: 'X-Sig', format: 'params', prefix: 'x=' }, 'scheme.prefix'],
    ['a negative tolerance', { signatureHeader: 'X-Sig', toleranceSeconds: -1 }, 'scheme.toleranceSeconds'],
    ['an infinite past tolerance', { signatureHeader: 'X-Sig', toleranceSeconds: Number.POSITIVE_INFINITY }, 'scheme.toleranceSeconds'],
  ];
  for (const [label, config, option] of invalid) {
    it(`rejects ${label} at once, naming ${option}`, () => {
      const err = caught(() => hmacScheme(config as HmacSchemeConfig)) as unknown as { code: string; option: string };
      expect(err.code).toBe('WEIR_INVALID_OPTION');
      expect(err.option).toBe(option);
    });
  }

  it('rejects an unknown scheme name', () => {
    const err = caught(() => verify('paypal' as 'stripe', { secret: 's', rawBody: '', headers: {} })) as unknown as { code: string; option: string };
    expect([err.code, err.option]).toEqual(['WEIR_INVALID_OPTION', 'scheme']);
  });
});

describe('signed timestamps are parsed strictly', () => {
  for (const t of ['', '+1767225600', '01767225600', '1767225600.0', '1.7e9', '0x69', 'Infinity', 'NaN', '1234567890123456']) {
    it(`refuses t=${JSON.stringify(t)}`, () => {
      const header = crmHeader(T, crmBody).replace(`t=${T}`, `t=${t}`);
      const err = caught(() => verify(crm, { secret: CRM_SECRET, rawBody: crmBody, headers: { 'X-CRM-Signature': header }, now: T * 1000 }));
      expect(err.code).toBe('WEIR_SIGNATURE_INVALID');
    });
  }
});
