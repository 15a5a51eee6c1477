import { describe, expect, it, vi } from 'vitest';
import { generateApiKey, hashApiKey } from '../security/api-key-hash.js';
import * as hmac from '../security/hmac.js';
import { apiKeyVerifier, requireApiKey } from './api-key.js';
import { ForbiddenError, UnauthenticatedError } from './auth-errors.js';
import { handle } from './compose.js';
import { requestSource, ServerContext, type TlsInfo } from './context.js';
import { requireClientCertificate } from './mtls.js';
import { requireScopes } from './scopes.js';

vi.mock('../security/hmac.js', async (original) => {
  const real = await original<typeof import('../security/hmac.js')>();
  return { ...real, constantTimeEqual: vi.fn(real.constantTimeEqual) };
});

const T0 = Date.UTC(2026, 0, 1);
const k1 = generateApiKey({ prefix: 'crm' }).reveal();
const k2 = generateApiKey({ prefix: 'crm' }).reveal();
const k3 = generateApiKey({ prefix: 'esp' }).reveal();
const old = generateApiKey({ prefix: 'crm' }).reveal();
const future = generateApiKey({ prefix: 'crm' }).reveal();

function ring() {
  return apiKeyVerifier([
    { id: 'crm-1', hash: hashApiKey(k1), clientId: 'crm', scopes: ['contacts:write'] },
    { id: 'crm-2', hash: hashApiKey(k2), clientId: 'crm', scopes: ['contacts:write'], expiresAt: T0 + 60_000 },
    { id: 'esp-1', hash: hashApiKey(k3), clientId: 'esp', revokedAt: T0 - 1 },
    { id: 'crm-0', hash: hashApiKey(old), clientId: 'crm', expiresAt: new Date(T0 - 1) },
    { id: 'crm-3', hash: hashApiKey(future), clientId: 'crm', notBefore: T0 + 1000 },
  ]);
}

async function attempt(key: string | undefined, options: { scopes?: string[]; header?: string; value?: string } = {}) {
  const headers: Record<string, string> = {};
  if (key !== undefined) headers[options.header ?? 'x-api-key'] = options.value ?? key;
  const ctx = new ServerContext(requestSource(new Request('http://api/', { headers })));
  const mw = requireApiKey({ ring: ring(), clock: { now: () => T0, sleep: async () => undefined, setTimer: () => ({ close() {}, ref() {}, unref() {} }) }, ...options });
  try {
    await mw(ctx, async () => undefined);
    return { error: undefined as unknown, ctx };
  } catch (error) {
    return { error, ctx };
  }
}

describe('requireApiKey', () => {
  it('accepts every active key of the ring and sets ctx.client', async () => {
    for (const key of [k1, k2]) {
      const { error, ctx } = await attempt(key);
      expect(error).toBeUndefined();
      expect(ctx.client).toMatchObject({ id: 'crm', via: 'api-key' });
    }
  });

  it.each([
    ['missing', undefined],
    ['invalid', 'crm_wrong-key'],
    ['revoked', k3],
    ['expired', old],
    ['not_yet_valid', future],
  ])('refuses with a typed 401: %s', async (reason, key) => {
    const { error } = await attempt(key);
    expect(error).toBeInstanceOf(UnauthenticatedError);
    expect(error).toMatchObject({ code: 'WEIR_UNAUTHENTICATED', status: 401, reason });
  });

  it('reads Authorization: Bearer / ApiKey when told to', async () => {
    expect((await attempt(k1, { header: 'authorization', value: `ApiKey ${k1}` })).error).toBeUndefined();
    expect((await attempt(k1, { header: 'authorization', value: `Bearer ${k1}` })).error).toBeUndefined();
    expect((await attempt(k1, { header: 'authorization', value: `Basic ${k1}` })).error).toMatchObject({ reason: 'invalid' });
  });

  it('refuses a key without the required scopes with 403', async () => {
    const { error } = await attempt(k1, { scopes: ['contacts:write', 'admin'] });
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ status: 403, missing: ['admin'] });
  });

  it('revokes and rotates at run time', () => {
    const r = ring();
    expect(r.verify(k1, T0).ok).toBe(true);
    expect(r.revoke('crm-1', T0)).toBe(true);
    expect(r.verify(k1, T0)).toEqual({ ok: false, reason: 'revoked', id: 'crm-1' });
    const next = generateApiKey().reveal();
    r.add({ id: 'crm-4', hash: hashApiKey(next), clientId: 'crm' });
    expect(r.verify(next, T0).ok).toBe(true);
    expect(r.list().map((k) => k.id)).toContain('crm-4');
    expect(JSON.stringify(r.list())).not.toContain('sha256:');
  });

  it('compares in constant time with every stored hash, wherever the match is (no early exit)', () => {
    const r = ring();
    const spy = vi.mocked(hmac.constantTimeEqual);
    for (const key of [k1, k3, future, 'crm_not-a-key']) {
      spy.mockClear();
      r.verify(key, T0);
      expect(spy).toHaveBeenCalledTimes(5);
      for (const [a, b] of spy.mock.calls) expect([a.byteLength, b.byteLength]).toEqual([32, 32]);
    }
  });

  it('works with a peppered ring and refuses unpeppered hashes there', () => {
    const pepper = 'server-side-pepper';
    const r = apiKeyVerifier([{ id: 'p', hash: hashApiKey(k1, { pepper }), clientId: 'crm' }], { pepper });
    expect(r.verify(k1, T0).ok).toBe(true);
    const plain = apiKeyVerifier([{ id: 'p', hash: hashApiKey(k1), clientId: 'crm' }], { pepper });
    expect(plain.verify(k1, T0).ok).toBe(false);
  });

  it('validates the ring eagerly', () => {
    expect(() => apiKeyVerifier([{ id: 'a', hash: 'plaintext', clientId: 'c' }])).toThrow(expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }));
    expect(() => requireApiKey({ ring: {} as never })).toThrow(expect.objectContaining({ option: 'requireApiKey.ring' }));
  });
});

const cert = { subject: { CN: 'billing' }, subjectaltname: 'DNS:billing.internal, URI:spiffe://acme/billing', fingerprint256: 'AB:CD' };
const run = (tls: TlsInfo | undefined, mw = requireClientCertificate({ sans: ['URI:spiffe://acme/billing'], scopesFor: () => ['invoices:write'] })) =>
  handle(new Request('http://api/'), [mw], (c) => Response.json({ id: c.client?.id, scopes: [...(c.client?.scopes ?? [])] }), tls === undefined ? {} : { tls });

describe('requireClientCertificate', () => {

  it('accepts an allowed, trusted certificate and names the client by its URI SAN', async () => {
    const res = await run({ authorized: true, certificate: cert });
    expect(await res.json()).toEqual({ id: 'spiffe://acme/billing', scopes: ['invoices:write'] });
  });

  it('refuses no certificate or an untrusted one with 401, and one off the allow-list with 403', async () => {
    expect((await run(undefined)).status).toBe(401);
    const untrusted = await run({ authorized: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', certificate: cert });
    expect(untrusted.status).toBe(401);
    expect(await untrusted.json()).toMatchObject({ reason: 'certificate' });
    const other = await run({ authorized: true, certificate: { ...cert, subjectaltname: 'URI:spiffe://acme/other' } }, requireClientCertificate({ sans: ['URI:spiffe://acme/billing'], subjects: ['ops'] }));
    expect(other.status).toBe(403);
    expect((await run({ authorized: true, certificate: cert }, requireClientCertificate({ fingerprints: ['ab:cd'] }))).status).toBe(200);
  });
});

describe('requireScopes', () => {
  const map = requireScopes({ 'GET /orders/**': 'orders:read', 'POST /orders': ['orders:write'], 'DELETE /orders/:id': ['orders:admin'], 'GET /health': [] });
  const call = (method: string, path: string, scopes: string[] | undefined) =>
    handle(
      new Request(`http://api${path}`, { method }),
      [
        async (c, next) => {
          if (scopes !== undefined) c.client = { id: 'c', via: 'test', scopes: new Set(scopes) };
          return next();
        },
        map,
      ],
      () => new Response('ok'),
    );

  it('requires the scopes of the most specific matching route', async () => {
    expect((await call('GET', '/orders/1', ['orders:read'])).status).toBe(200);
    expect((await call('POST', '/orders', ['orders:read'])).status).toBe(403);
    expect((await call('POST', '/orders', ['orders:write'])).status).toBe(200);
    expect((await call('DELETE', '/orders/9', ['orders:write'])).status).toBe(403);
    expect((await call('GET', '/health', undefined)).status).toBe(200);
    expect((await call('GET', '/orders/1', undefined)).status).toBe(401);
  });

  it('denies a route the map does not cover (least privilege), unless told otherwise', async () => {
    const res = await call('PUT', '/orders/1', ['orders:read', 'orders:write', 'orders:admin']);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ reason: 'no_route_policy' });
    const open = await handle(new Request('http://api/x'), [requireScopes({}, { unmatched: 'allow' })], () => new Response('ok'));
    expect(open.status).toBe(200);
  });
});
