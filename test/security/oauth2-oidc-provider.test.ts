import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import Provider from 'oidc-provider';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oauth2ClientCredentials } from '../../src/security/oauth2.js';
import { secret } from '../../src/security/secret.js';
import { authRequest, expectNoLeak, rejection } from './helpers.js';

/**
 * The client-credentials grant against panva's oidc-provider, a certified OpenID provider: real
 * client authentication (Basic with RFC 6749 form-encoding, and POST), scopes, RFC 8707 resource
 * indicators, and JWT access tokens verified with jose against the provider's JWKS.
 */

const RESOURCE = 'https://api.weir.test';
// Characters that Basic auth must form-encode (RFC 6749 §2.3.1): a naive encoder fails against the provider.
const BASIC_SECRET = `s3:cr+t/=%${randomBytes(16).toString('base64url')}`;
const POST_SECRET = randomBytes(24).toString('base64url');

let server: Server;
let issuer: string;
/** Set once the provider exists (its issuer needs the port first). */
let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

beforeAll(async () => {
  server = createServer((req, res) => (handler === undefined ? res.end() : handler(req, res)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'weir-basic',
        client_secret: BASIC_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_basic',
        scope: 'api:read api:write',
      },
      {
        client_id: 'weir-post',
        client_secret: POST_SECRET,
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: 'client_secret_post',
        scope: 'api:read',
      },
    ],
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    scopes: ['api:read', 'api:write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx: unknown, _client: unknown, oneOf?: string) => oneOf,
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => {
          if (indicator !== RESOURCE) throw new Error('unknown resource');
          return { scope: 'api:read api:write', audience: RESOURCE, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    ttl: { ClientCredentials: 300 },
  });
  handler = provider.callback();
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const tokenUrl = (): string => `${issuer}/token`;

describe('oauth2ClientCredentials against oidc-provider', () => {
  it('gets a JWT access token with client_secret_basic, a scope and a resource indicator; the resource server verifies it', async () => {
    const auth = oauth2ClientCredentials({
      tokenUrl: tokenUrl(),
      clientId: 'weir-basic',
      clientSecret: secret('CRM_CLIENT_SECRET', { env: { CRM_CLIENT_SECRET: BASIC_SECRET } }),
      scope: ['api:read', 'api:write'],
      resource: RESOURCE,
    });
    const req = authRequest(`${RESOURCE}/v1/things`);
    await auth.apply(req);
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
    const { payload } = await jwtVerify(token, jwks, { issuer, audience: RESOURCE });
    expect(payload).toMatchObject({ client_id: 'weir-basic', scope: 'api:read api:write' });

    // Cached: a second apply makes no second token request (same token).
    const again = authRequest(`${RESOURCE}/v1/things`);
    await auth.apply(again);
    expect(again.headers.authorization).toBe(req.headers.authorization);
    expectNoLeak([BASIC_SECRET, token], auth, await auth.accessToken());
    expect(inspect(auth)).toContain('weir-basic');
  });

  it('authenticates with client_secret_post; the provider says the opaque token is active', async () => {
    const auth = oauth2ClientCredentials({ tokenUrl: tokenUrl(), clientId: 'weir-post', clientSecret: POST_SECRET, authMethod: 'client_secret_post', scope: 'api:read' });
    const token = (await auth.accessToken()).reveal();
    const res = await request(`${issuer}/token/introspection`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, client_id: 'weir-post', client_secret: POST_SECRET }).toString(),
    });
    expect(await res.body.json()).toMatchObject({ active: true, client_id: 'weir-post', scope: 'api:read' });
  });

  it('shares one token request among 50 concurrent callers', async () => {
    let tokenRequests = 0;
    const counting = oauth2ClientCredentials({ tokenUrl: tokenUrl(), clientId: 'weir-post', clientSecret: POST_SECRET, authMethod: 'client_secret_post' });
    counting.onToken(() => tokenRequests++);
    const reqs = Array.from({ length: 50 }, () => authRequest(`${RESOURCE}/x`));
    await Promise.all(reqs.map((r) => counting.apply(r)));
    expect(tokenRequests).toBe(1);
    expect(new Set(reqs.map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('turns a wrong client secret into WEIR_AUTH_FAILED (invalid_client) without the secret', async () => {
    const wrong = `wrong-${randomBytes(16).toString('hex')}`;
    const auth = oauth2ClientCredentials({ tokenUrl: tokenUrl(), clientId: 'weir-basic', clientSecret: wrong });
    const err = await rejection(auth.apply(authRequest(`${RESOURCE}/x`)));
    expect(err.code).toBe('WEIR_AUTH_FAILED');
    expect(err.classification).toBe('permanent');
    expect(err.details).toMatchObject({ status: 401, error: 'invalid_client', kind: 'oauth2-client-credentials' });
    expectNoLeak([wrong, BASIC_SECRET], err, auth);
  });

  it('turns a scope the client may not have into WEIR_AUTH_FAILED (invalid_scope)', async () => {
    const auth = oauth2ClientCredentials({ tokenUrl: tokenUrl(), clientId: 'weir-post', clientSecret: POST_SECRET, authMethod: 'client_secret_post', scope: 'api:write' });
    const err = await rejection(auth.apply(authRequest(`${RESOURCE}/x`)));
    expect(err.code).toBe('WEIR_AUTH_FAILED');
    expect(err.details?.error).toBe('invalid_scope');
  });
});
