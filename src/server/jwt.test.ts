import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { exportJWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { type AuthFailureReason, ForbiddenError, UnauthenticatedError } from './auth-errors.js';
import { handle } from './compose.js';
import { requestSource, ServerContext } from './context.js';
import { requireJwt, type RequireJwtOptions } from './jwt.js';
import { isHttpError } from './problem.js';

const ISS = 'https://auth.example.com/';
const AUD = 'orders-api';
const clock = new FakeClock();
const nowS = () => Math.floor(clock.now() / 1000);
let rsa: { publicKey: KeyObject; privateKey: KeyObject };
let other: { publicKey: KeyObject; privateKey: KeyObject };

beforeAll(() => {
  rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  other = generateKeyPairSync('rsa', { modulusLength: 2048 });
});

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function sign(claims: Record<string, unknown> = {}, o: { key?: KeyObject | Uint8Array; alg?: string; kid?: string; typ?: string } = {}): Promise<string> {
  const jwt = new SignJWT({ scope: 'orders:read orders:write', client_id: 'crm', ...claims })
    .setProtectedHeader({ alg: o.alg ?? 'RS256', ...(o.kid === undefined ? {} : { kid: o.kid }), ...(o.typ === undefined ? {} : { typ: o.typ }) })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setIssuedAt(nowS());
  if (claims.exp === undefined) jwt.setExpirationTime(nowS() + 300);
  return jwt.sign(o.key ?? rsa.privateKey);
}

function ctxWith(token: string | undefined): ServerContext {
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  return new ServerContext(requestSource(new Request('http://api/orders', { headers })));
}

/** Runs the middleware alone and returns what it threw (or undefined when it passed). */
async function attempt(token: string | undefined, options: Record<string, unknown> = {}): Promise<{ error: unknown; ctx: ServerContext }> {
  const mw = requireJwt({ key: rsa.publicKey, issuer: ISS, audience: AUD, clock, ...options } as unknown as RequireJwtOptions);
  const ctx = ctxWith(token);
  try {
    await mw(ctx, async () => undefined);
    return { error: undefined, ctx };
  } catch (error) {
    return { error, ctx };
  }
}

async function refused(token: string | undefined, reason: AuthFailureReason, options: Record<string, unknown> = {}): Promise<void> {
  const { error } = await attempt(token, options);
  expect(error).toBeInstanceOf(UnauthenticatedError);
  expect(error).toMatchObject({ code: 'WEIR_UNAUTHENTICATED', status: 401, reason });
  const res = (error as UnauthenticatedError).toResponse();
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
}

describe('requireJwt accepts', () => {
  it('a valid token, and sets ctx.client from client_id and scope', async () => {
    const { error, ctx } = await attempt(await sign());
    expect(error).toBeUndefined();
    expect(ctx.client).toMatchObject({ id: 'crm', via: 'jwt' });
    expect([...ctx.client!.scopes]).toEqual(['orders:read', 'orders:write']);
  });

  it('scopes from scp as an array, and a token just past exp within the clock tolerance', async () => {
    const token = await new SignJWT({ scp: ['a', 'b'], sub: 'svc' })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setExpirationTime(nowS() - 3)
      .sign(rsa.privateKey);
    const { error, ctx } = await attempt(token, { scopes: ['a'] });
    expect(error).toBeUndefined();
    expect(ctx.client?.id).toBe('svc');
  });

  it('through handle(): the handler runs', async () => {
    const res = await handle(new Request('http://api/', { headers: { authorization: `Bearer ${await sign()}` } }), [requireJwt({ key: rsa.publicKey, issuer: ISS, audience: AUD, clock })], (c) => new Response(c.client?.id));
    expect(await res.text()).toBe('crm');
  });
});

describe('requireJwt refuses with a typed 401, never a crash', () => {
  it('no Authorization header (missing)', () => refused(undefined, 'missing'));

  it('alg none', async () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ iss: ISS, aud: AUD, exp: nowS() + 60, sub: 'x' })}.`;
    await refused(none, 'algorithm');
  });

  it('an HS256 token signed with the RSA public key as the HMAC secret (algorithm confusion)', async () => {
    const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
    const header = b64({ alg: 'HS256', typ: 'JWT' });
    const payload = b64({ iss: ISS, aud: AUD, exp: nowS() + 60, sub: 'attacker' });
    const mac = createHmac('sha256', pem).update(`${header}.${payload}`).digest('base64url');
    await refused(`${header}.${payload}.${mac}`, 'algorithm');
  });

  it('wrong issuer, wrong audience', async () => {
    await refused(await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).setIssuer('https://evil/').setAudience(AUD).setExpirationTime(nowS() + 60).sign(rsa.privateKey), 'issuer');
    await refused(await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).setIssuer(ISS).setAudience('other-api').setExpirationTime(nowS() + 60).sign(rsa.privateKey), 'audience');
  });

  it('expired beyond the tolerance, not yet valid beyond it', async () => {
    await refused(await sign({ exp: nowS() - 10 }), 'expired');
    await refused(await sign({ nbf: nowS() + 10 }), 'not_yet_valid');
  });

  it('no exp at all', async () => {
    const token = await new SignJWT({ sub: 'x' }).setProtectedHeader({ alg: 'RS256' }).setIssuer(ISS).setAudience(AUD).sign(rsa.privateKey);
    await refused(token, 'claims');
  });

  it('a tampered payload, and a token signed by another key', async () => {
    const [h, , s] = (await sign()).split('.');
    await refused(`${h}.${b64({ iss: ISS, aud: AUD, exp: nowS() + 60, client_id: 'admin', scope: 'everything' })}.${s}`, 'signature');
    await refused(await sign({}, { key: other.privateKey }), 'signature');
  });

  it('an unknown kid against a JWKS', async () => {
    const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    await refused(await sign({}, { kid: 'k2' }), 'unknown_key', { key: undefined, jwks: { keys: [jwk] } });
    const { error } = await attempt(await sign({}, { kid: 'k1' }), { key: undefined, jwks: { keys: [jwk] } });
    expect(error).toBeUndefined();
  });

  it('malformed segments', async () => {
    for (const token of ['abc', 'a.b', 'a.b.c.d', 'e30.e30.sig', `${b64('{not json')}.${b64({})}.abc`]) await refused(token, 'malformed');
    const ctx = new ServerContext(requestSource(new Request('http://api/', { headers: { authorization: 'Bearer !!!' } })));
    await expect(requireJwt({ key: rsa.publicKey, issuer: ISS, audience: AUD })(ctx, async () => undefined)).rejects.toMatchObject({ reason: 'malformed' });
  });

  it('the wrong typ when one is required', async () => {
    await refused(await sign({}, { typ: 'JWT' }), 'type', { typ: 'at+jwt' });
  });
});

describe('requireJwt refuses with a typed 403', () => {
  it('a valid token without the required scope', async () => {
    const { error } = await attempt(await sign({ scope: 'orders:read' }), { scopes: ['orders:read', 'orders:delete'] });
    expect(error).toBeInstanceOf(ForbiddenError);
    expect(error).toMatchObject({ code: 'WEIR_FORBIDDEN', status: 403, reason: 'insufficient_scope', missing: ['orders:delete'] });
    const res = (error as ForbiddenError).toResponse();
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(await res.json()).toMatchObject({ code: 'WEIR_FORBIDDEN', missingScopes: ['orders:delete'] });
  });
});

describe('requireJwt options', () => {
  it('refuses none, HMAC with a public key or a JWKS, and a missing issuer or audience', () => {
    const base = { key: rsa.publicKey, issuer: ISS, audience: AUD };
    expect(() => requireJwt({ ...base, algorithms: ['none'] })).toThrow(expect.objectContaining({ option: 'requireJwt.algorithms' }));
    expect(() => requireJwt({ ...base, algorithms: ['RS256', 'HS256'] })).toThrow(expect.objectContaining({ option: 'requireJwt.algorithms' }));
    expect(() => requireJwt({ jwks: { keys: [] }, issuer: ISS, audience: AUD, algorithms: ['HS256'] })).toThrow(expect.objectContaining({ option: 'requireJwt.algorithms' }));
    expect(() => requireJwt({ ...base, issuer: '' })).toThrow(expect.objectContaining({ option: 'requireJwt.issuer' }));
    expect(() => requireJwt({ key: rsa.publicKey, issuer: ISS } as RequireJwtOptions)).toThrow(expect.objectContaining({ option: 'requireJwt.audience' }));
    expect(() => requireJwt({ ...base, clockToleranceMs: 3_600_000 })).toThrow(expect.objectContaining({ option: 'requireJwt.clockToleranceMs' }));
  });

  it('accepts HS256 only with a secret key', async () => {
    const secret = new TextEncoder().encode('a-very-long-shared-secret-of-32-bytes!');
    const token = await sign({}, { key: secret, alg: 'HS256' });
    const { error } = await attempt(token, { key: secret });
    expect(error).toBeUndefined();
    expect(isHttpError((await attempt(token)).error)).toBe(true);
  });
});
