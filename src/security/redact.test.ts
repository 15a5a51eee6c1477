import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isWeirError } from '../errors.js';
import { createRedactor, isSensitiveName, REDACTED, redactHeaders, redactJson, redactUrl } from './redact.js';
import { secret } from './secret.js';

const canary = () => `CANARY${randomBytes(16).toString('hex')}`;

/** Fails if any 8-character run of a canary's random part appears in `text`. */
function expectNoCanary(text: string, ...values: string[]): void {
  for (const value of values) {
    const random = value.slice('CANARY'.length);
    for (let i = 0; i + 8 <= random.length; i++) expect(text.includes(random.slice(i, i + 8)), `leaked "${random.slice(i, i + 8)}"`).toBe(false);
  }
}
const bytes = (...values: unknown[]) => values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v) + inspect(v, { depth: null }))).join('\n');

describe('isSensitiveName', () => {
  it.each(['Authorization', 'proxy-authorization', 'Cookie', 'set-cookie', 'X-API-Key', 'x-auth-token', 'client_secret', 'password', 'passwd', 'apiKey', 'api_key', 'private-key', 'X-Hub-Signature-256', 'aws_credentials', 'sessionId', 'X-Shopify-Hmac-Sha256'])(
    '%s is sensitive',
    (name) => {
      expect(isSensitiveName(name)).toBe(true);
    },
  );
  it.each(['content-type', 'idempotency-key', 'x-request-id', 'monkey', 'author', 'x-ratelimit-remaining-tokens', 'RateLimit-Policy'])('%s is not', (name) => {
    expect(isSensitiveName(name)).toBe(false);
  });
  it('takes extra names and exceptions', () => {
    expect(isSensitiveName('x-tenant', { names: ['X-Tenant'] })).toBe(true);
    expect(isSensitiveName('ssn', { names: [/^ssn$/] })).toBe(true);
    expect(isSensitiveName('max_tokens', { allow: ['max_tokens'] })).toBe(false);
  });
});

describe('redactHeaders', () => {
  it('redacts sensitive headers in a record, keeping the Authorization scheme, and header arrays', () => {
    const [t, c1, c2, k, s] = [canary(), canary(), canary(), canary(), canary()];
    const input = {
      Authorization: `Bearer ${t}`,
      cookie: `sid=${c1}; theme=dark`,
      'set-cookie': [`sid=${c1}; Path=/; HttpOnly`, `csrf=${c2}`],
      'x-api-key': k,
      'X-Hub-Signature-256': `sha256=${s}`,
      'content-type': 'application/json',
      'x-ratelimit-remaining-tokens': '100',
      'content-length': 42,
      absent: undefined,
    };
    const out = redactHeaders(input);
    expect(out).toEqual({
      Authorization: `Bearer ${REDACTED}`,
      cookie: REDACTED,
      'set-cookie': [REDACTED, REDACTED],
      'x-api-key': REDACTED,
      'X-Hub-Signature-256': REDACTED,
      'content-type': 'application/json',
      'x-ratelimit-remaining-tokens': '100',
      'content-length': '42',
    });
    expect(input.Authorization).toBe(`Bearer ${t}`); // input unchanged
    expectNoCanary(bytes(out), t, c1, c2, k, s);
  });

  it('reads a Headers object (set-cookie stays separate) and entry pairs', () => {
    const [a, b, c] = [canary(), canary(), canary()];
    const h = new Headers();
    h.append('set-cookie', `a=${a}`);
    h.append('set-cookie', `b=${b}`);
    h.append('proxy-authorization', `Basic ${c}`);
    h.append('accept', 'text/plain');
    expect(redactHeaders(h)).toEqual({ 'set-cookie': [REDACTED, REDACTED], 'proxy-authorization': `Basic ${REDACTED}`, accept: 'text/plain' });
    const pairs: Array<[string, string]> = [
      ['x-token', a],
      ['x-token', b],
      ['accept', '*/*'],
    ];
    expect(redactHeaders(pairs)).toEqual({ 'x-token': [REDACTED, REDACTED], accept: '*/*' });
  });

  it('takes extra names, exceptions and a replacement', () => {
    expect(redactHeaders({ 'x-tenant': 't1', 'x-session-hint': 'h' }, { names: ['x-tenant'], allow: ['x-session-hint'], replacement: '***' })).toEqual({
      'x-tenant': '***',
      'x-session-hint': 'h',
    });
    expect(redactHeaders({ authorization: 'opaque' })).toEqual({ authorization: REDACTED });
  });
});

describe('redactJson', () => {
  it('redacts keys named like secrets at any depth, in arrays too, and leaves the input alone', () => {
    const [p, t, s, k] = [canary(), canary(), canary(), canary()];
    const input = {
      user: { name: 'ada', password: p, profile: { apiKey: k } },
      logins: [{ id: 1, access_token: t }, { id: 2, refresh_token: t }],
      credentials: { nested: { deep: s } },
      note: null,
      password_hint: null,
    };
    const out = redactJson(input);
    expect(out).toEqual({
      user: { name: 'ada', password: REDACTED, profile: { apiKey: REDACTED } },
      logins: [
        { id: 1, access_token: REDACTED },
        { id: 2, refresh_token: REDACTED },
      ],
      credentials: REDACTED,
      note: null,
      password_hint: null,
    });
    expect(input.user.password).toBe(p);
    expectNoCanary(bytes(out), p, t, s, k);
  });

  it('redacts configured paths: dotted, [*], [n] and *', () => {
    const [n, t1, t2, pin, ssn] = [canary(), canary(), canary(), canary(), canary()];
    const out = redactJson(
      {
        card: { number: n, brand: 'visa' },
        items: [{ sku: 'a', token: t1, price: 1 }, { sku: 'b', token: t2 }],
        data: [{ pin }, { pin: 'kept' }],
        a: { ssn },
        b: { ssn: null },
        ssn: 'top-level kept',
      },
      { paths: ['card.number', 'items[*].price', 'data[0].pin', '*.ssn'] },
    );
    expect(out).toEqual({
      card: { number: REDACTED, brand: 'visa' },
      items: [
        { sku: 'a', token: REDACTED, price: REDACTED },
        { sku: 'b', token: REDACTED },
      ],
      data: [{ pin: REDACTED }, { pin: 'kept' }],
      a: { ssn: REDACTED },
      b: { ssn: null },
      ssn: 'top-level kept',
    });
    expectNoCanary(bytes(out), n, t1, t2, pin, ssn);
  });

  it('handles cycles, toJSON (Date, Secret) and primitives', () => {
    const value = canary();
    const s = secret('DB_PASSWORD', { env: { DB_PASSWORD: value } });
    const cyclic: Record<string, unknown> = { at: new Date(0), conn: { dsn: s } };
    cyclic.self = cyclic;
    const out = redactJson(cyclic);
    expect(out).toEqual({ at: '1970-01-01T00:00:00.000Z', conn: { dsn: '[secret DB_PASSWORD]' }, self: '[Circular]' });
    expect(redactJson('plain')).toBe('plain');
    expect(redactJson([1, null, true])).toEqual([1, null, true]);
    expectNoCanary(bytes(out), value);
  });

  it.each(['', '.a', 'a..b', 'a[x]', 'a[', 'a]'])('rejects the path %j', (path) => {
    expect(() => redactJson({}, { paths: [path] })).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
  });
});

describe('redactUrl', () => {
  it('redacts sensitive query values and keeps the rest as written', () => {
    const [a, b, c, d] = [canary(), canary(), canary(), canary()];
    const url = `https://api.example.com/v1/items?page=2&access_token=${a}&q=a+b%20c&api-key=${b}&code=${c}&X-Amz-Signature=${d}&zipcode=12345&flag`;
    const out = redactUrl(url);
    expect(out).toBe(
      `https://api.example.com/v1/items?page=2&access_token=${REDACTED}&q=a+b%20c&api-key=${REDACTED}&code=${REDACTED}&X-Amz-Signature=${REDACTED}&zipcode=12345&flag`,
    );
    expectNoCanary(out, a, b, c, d);
  });

  it('redacts user info, fragment parameters (OAuth implicit flow) and encoded keys', () => {
    const [u, p, t, k] = [canary(), canary(), canary(), canary()];
    const out = redactUrl(new URL(`https://${u}:${p}@example.com/cb?access%5Ftoken=${k}#access_token=${t}&state=xyz`));
    expect(out).toBe(`https://${REDACTED}@example.com/cb?access%5Ftoken=${REDACTED}#access_token=${REDACTED}&state=xyz`);
    expectNoCanary(out, u, p, t, k);
    expect(redactUrl('https://example.com/page#section-2')).toBe('https://example.com/page#section-2');
  });

  it('works on relative URLs and takes extra query keys', () => {
    expect(redactUrl('/hook?tenant=acme&token=abc', { queryKeys: ['tenant'] })).toBe(`/hook?tenant=${REDACTED}&token=${REDACTED}`);
    expect(redactUrl('/hook?x-sig=abc', { queryKeys: [/sig$/] })).toBe(`/hook?x-sig=${REDACTED}`);
  });
});

describe('createRedactor', () => {
  it('replaces the literal value of known secrets anywhere: text, JSON, headers, URLs, errors', () => {
    const [v1, v2] = [canary(), canary()];
    const key = secret('CRM_API_KEY', { env: { CRM_API_KEY: v1 } });
    const redactor = createRedactor({ secrets: [key] });
    redactor.addSecret(v2);
    const outputs = [
      redactor.text(`calling with ${v1} then ${encodeURIComponent(v2)}`),
      redactor.json({ note: `key=${v1}`, list: [`x${v2}x`], [v1]: 'as a key', escaped: JSON.stringify({ k: v2 }) }),
      redactor.headers({ 'x-debug': `k ${v1}`, via: [v2, 'ok'] }),
      redactor.url(`https://example.com/hooks/${v1}/in?next=${v2}`),
      redactor.error(new Error(`upstream rejected ${v1}`)),
    ];
    expect(redactor.text(`a ${v1} b`)).toBe('a [secret CRM_API_KEY] b');
    expect(redactor.text(`a ${v2} b`)).toBe(`a ${REDACTED} b`);
    expectNoCanary(bytes(...outputs), v1, v2);
  });

  it('redacts bearer credentials and sensitive query values inside free text', () => {
    const [t, q] = [canary(), canary()];
    const redactor = createRedactor();
    const out = redactor.text(`GET https://x.test/a?client_secret=${q}&page=1 with Authorization: Bearer ${t}`);
    expect(out).toBe(`GET https://x.test/a?client_secret=${REDACTED}&page=1 with Authorization: Bearer ${REDACTED}`);
    expect(redactor.text('Basic usage of the API')).toBe('Basic usage of the API');
  });

  it('applies its header, JSON path and query rules', () => {
    const redactor = createRedactor({ names: ['x-tenant'], paths: ['card.number'], queryKeys: ['tenant'] });
    expect(redactor.headers({ 'x-tenant': 'acme', authorization: 'Bearer abcdefghijkl' })).toEqual({ 'x-tenant': REDACTED, authorization: `Bearer ${REDACTED}` });
    expect(redactor.json({ card: { number: '4242' }, x_tenant: 'kept' })).toEqual({ card: { number: REDACTED }, x_tenant: 'kept' });
    expect(redactor.url('/a?tenant=acme')).toBe(`/a?tenant=${REDACTED}`);
  });

  it("redacts an error from secret() and anything else thrown, keeping the code", () => {
    const value = canary();
    const redactor = createRedactor({ secrets: [value] });
    let caught: unknown;
    try {
      secret('HOOK_SECRET', { env: { HOOK_SECRET: value }, validate: () => 'rejected' });
    } catch (err) {
      caught = err;
    }
    expect(isWeirError(caught, 'WEIR_SECRET_MISSING')).toBe(true);
    const view = redactor.error(caught);
    expect(view.code).toBe('WEIR_SECRET_MISSING');
    expect(redactor.error(`thrown string ${value}`).message).toBe(`thrown string ${REDACTED}`);
    expectNoCanary(bytes(view, redactor.error({ message: value, code: 42 })), value);
  });

  it('rejects an empty secret', () => {
    expect(() => createRedactor().addSecret('')).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
  });
});
