import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { oauth2ClientCredentials, type OAuth2ClientCredentialsOptions } from '../../src/security/oauth2.js';
import { oauth2RefreshToken } from '../../src/security/oauth2-refresh.js';
import { openStore } from '../../src/store/open.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { authRequest, expectNoLeak, rejection } from './helpers.js';
import { TokenServer } from './token-server.js';

let clock: FakeClock;
let server: TokenServer;

beforeEach(async () => {
  clock = new FakeClock(Date.UTC(2026, 0, 1));
  server = await new TokenServer({ now: () => clock.now(), expiresIn: 600 }).start();
});

afterEach(async () => {
  await server.stop();
});

function client(o: Partial<OAuth2ClientCredentialsOptions> = {}) {
  return oauth2ClientCredentials({ tokenUrl: server.tokenUrl, clientId: server.clientId, clientSecret: server.clientSecret, clock, ...o });
}

async function header(auth: ReturnType<typeof client>): Promise<string | undefined> {
  const req = authRequest(`${server.url}/v1/me`);
  await auth.apply(req);
  return req.headers.authorization;
}

const count = (): number => server.tokenRequests().length;

/** The option an InvalidOptionError names, or undefined when `fn` does not throw. */
function option(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionError);
    return (err as InvalidOptionError).option;
  }
  return undefined;
}

describe('options are validated eagerly', () => {
  it('names the option that is wrong', () => {
    const base = { tokenUrl: 'https://auth.test/token', clientId: 'c', clientSecret: 's' };
    expect(option(() => oauth2ClientCredentials({ ...base, tokenUrl: 'http://auth.test/token' }))).toBe('oauth2ClientCredentials.tokenUrl');
    expect(option(() => oauth2ClientCredentials({ ...base, tokenUrl: 'http://auth.test/token', allowInsecureHttp: true }))).toBeUndefined();
    expect(option(() => oauth2ClientCredentials({ ...base, tokenUrl: 'https://u:p@auth.test/token' }))).toBe('oauth2ClientCredentials.tokenUrl');
    expect(option(() => oauth2ClientCredentials({ ...base, clientSecret: '' }))).toBe('oauth2ClientCredentials.clientSecret');
    expect(option(() => oauth2ClientCredentials({ ...base, authMethod: 'none' }))).toBe('oauth2ClientCredentials.authMethod');
    expect(option(() => oauth2ClientCredentials({ ...base, refreshAheadMs: -1 }))).toBe('oauth2ClientCredentials.refreshAheadMs');
    expect(option(() => oauth2ClientCredentials({ ...base, scope: ['ok', ''] }))).toBe('oauth2ClientCredentials.scope');
    expect(option(() => oauth2ClientCredentials({ ...base, resource: 'not a uri' }))).toBe('oauth2ClientCredentials.resource');
    expect(option(() => oauth2ClientCredentials({ ...base, unauthorizedErrors: 'invalid_token' as never }))).toBe('oauth2ClientCredentials.unauthorizedErrors');
  });

  it('checks the refresh-token options too', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      const base = { tokenUrl: 'https://auth.test/token', clientId: 'c', clientSecret: 's', store, storeKey: 'crm' };
      expect(() => oauth2RefreshToken({ ...base, storeKey: '' })).toThrow(InvalidOptionError);
      expect(() => oauth2RefreshToken({ ...base, store: {} as never })).toThrow(InvalidOptionError);
      expect(() => oauth2RefreshToken({ ...base, timeoutMs: 5_000, lockTtlMs: 5_000 })).toThrow(/lockTtlMs/);
      expect(() => oauth2RefreshToken({ ...base, authMethod: 'none', clientSecret: undefined as never })).not.toThrow();
      expect(() => oauth2RefreshToken({ ...base, initialRefreshToken: '' })).toThrow(/initialRefreshToken/);
    } finally {
      await store.close();
    }
  });
});

describe('token cache', () => {
  it('refreshes ahead of expiry in the background and blocks only once the token has expired', async () => {
    const auth = client({ refreshAheadMs: 60_000 });
    const t1 = await header(auth);
    await clock.advance(539_000); // 61 s left
    expect(await header(auth)).toBe(t1);
    expect(count()).toBe(1);
    await clock.advance(2_000); // 59 s left: background refresh, the current token is still handed out
    expect(await header(auth)).toBe(t1);
    await expect.poll(count).toBe(2);
    await expect.poll(() => header(auth)).not.toBe(t1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('caps the refresh-ahead window at half the token lifetime', async () => {
    await server.stop();
    server = await new TokenServer({ now: () => clock.now(), expiresIn: 60 }).start();
    const auth = client({ refreshAheadMs: 60_000 });
    await header(auth);
    await clock.advance(29_000);
    await header(auth);
    expect(count()).toBe(1);
    await clock.advance(2_000);
    await header(auth);
    await expect.poll(count).toBe(2);
  });

  it('fetches a new token once the old one has expired (callers wait)', async () => {
    const auth = client({ refreshAheadMs: 0 });
    const t1 = await header(auth);
    await clock.advance(600_000);
    const t2 = await header(auth);
    expect(t2).not.toBe(t1);
    expect(count()).toBe(2);
  });

  it('keeps the current token when a background refresh fails, reports it, and does not hammer the endpoint', async () => {
    const auth = client();
    const errors: unknown[] = [];
    auth.onError((e) => errors.push(e.error));
    const t1 = await header(auth);
    await clock.advance(545_000);
    server.scripted.push({ status: 503, body: '{"error":"temporarily_unavailable"}' }, { status: 503, body: '{}' });
    expect(await header(auth)).toBe(t1);
    await expect.poll(() => errors.length).toBe(1);
    expect((errors[0] as { code: string }).code).toBe('WEIR_AUTH_UNAVAILABLE');
    expect(await header(auth)).toBe(t1); // no new request within 5 s of the failure
    await new Promise((resolve) => setTimeout(resolve, 150)); // (a request, if one were sent, would have been logged by now)
    expect(count()).toBe(2);
    expect(errors).toHaveLength(1);
    await clock.advance(5_000);
    await header(auth);
    await expect.poll(count).toBe(3);
  });

  it('lets a caller stop waiting (WEIR_CANCELLED) while the shared refresh goes on and is cached', async () => {
    server.delayMs = 100;
    const auth = client();
    const controller = new AbortController();
    const waiting = auth.apply(authRequest(`${server.url}/v1/me`, controller.signal));
    controller.abort();
    expect((await rejection(waiting)).code).toBe('WEIR_CANCELLED');
    await expect.poll(count).toBe(1);
    await header(auth);
    expect(count()).toBe(1);
  });

  it('treats a token without expires_in as valid until a 401', async () => {
    server.scripted.push({ status: 200, body: JSON.stringify({ access_token: 'no-expiry-token-1', token_type: 'bearer' }) });
    const auth = client();
    expect(await header(auth)).toBe('Bearer no-expiry-token-1');
    await clock.advance(365 * 86_400_000);
    expect(await header(auth)).toBe('Bearer no-expiry-token-1');
    expect(count()).toBe(1);
  });
});

describe('onUnauthorized', () => {
  it('renews once for the refused token and not again for a request that carried an older one', async () => {
    const auth = client();
    const old = authRequest(`${server.url}/v1/me`);
    await auth.apply(old);
    await clock.advance(10_000);
    const fail = { status: 401, headers: {}, error: 'token_expired', request: old };
    expect(await auth.onUnauthorized(fail)).toBe(true);
    expect(count()).toBe(2);
    expect(await auth.onUnauthorized(fail)).toBe(true); // `old` carried the previous token: already renewed
    expect(count()).toBe(2);
  });

  it('does not loop: a token obtained because of a 401 and refused at once makes the 401 stand', async () => {
    const auth = client();
    await header(auth);
    await clock.advance(10_000);
    const first = authRequest(`${server.url}/v1/me`);
    await auth.apply(first);
    expect(await auth.onUnauthorized({ status: 401, headers: {}, error: 'invalid_token', request: first })).toBe(true);
    const second = authRequest(`${server.url}/v1/me`);
    await auth.apply(second);
    expect(await auth.onUnauthorized({ status: 401, headers: {}, error: 'invalid_token', request: second })).toBe(false);
    expect(count()).toBe(2);
    await clock.advance(5_000);
    expect(await auth.onUnauthorized({ status: 401, headers: {}, error: 'invalid_token', request: second })).toBe(true);
    expect(count()).toBe(3);
  });

  it('without failure.request, assumes a 401 right after a renewal carried the previous token', async () => {
    const auth = client();
    await header(auth);
    await clock.advance(10_000);
    expect(await auth.onUnauthorized({ status: 401, headers: {}, error: undefined })).toBe(true);
    expect(await auth.onUnauthorized({ status: 401, headers: {}, error: undefined })).toBe(true);
    expect(count()).toBe(2);
  });

  it('ignores 401s whose error is not about the token', async () => {
    const auth = client();
    const req = authRequest(`${server.url}/v1/me`);
    await auth.apply(req);
    expect(await auth.onUnauthorized({ status: 401, headers: {}, error: 'insufficient_scope', request: req })).toBe(false);
    expect(count()).toBe(1);
  });
});

describe('token endpoint failures are typed and never leak', () => {
  it('503 with Retry-After → WEIR_AUTH_UNAVAILABLE (transient, retryAfterMs)', async () => {
    server.scripted.push({ status: 503, body: 'busy', headers: { 'retry-after': '7' } });
    const err = await rejection(client().apply(authRequest(server.url)));
    expect(err).toMatchObject({ code: 'WEIR_AUTH_UNAVAILABLE', classification: 'transient', retryAfterMs: 7_000 });
    expect(err.details).toMatchObject({ reason: 'status', status: 503 });
  });

  it('429 → WEIR_AUTH_UNAVAILABLE classified rate_limited', async () => {
    server.scripted.push({ status: 429, body: '{}', headers: { 'retry-after': '2' } });
    const err = await rejection(client().apply(authRequest(server.url)));
    expect(err).toMatchObject({ code: 'WEIR_AUTH_UNAVAILABLE', classification: 'rate_limited', retryAfterMs: 2_000 });
  });

  it('a malformed 200 holding a token → reason malformed, and the JSON parser error (which quotes the text) is not kept', async () => {
    const canary = `at_${'Zq9'.repeat(12)}`;
    server.scripted.push({ status: 200, body: `{"access_token":"${canary}", oops` });
    const auth = client();
    const err = await rejection(auth.apply(authRequest(server.url)));
    expect(err.code).toBe('WEIR_AUTH_UNAVAILABLE');
    expect(err.details?.reason).toBe('malformed');
    expectNoLeak([canary, server.clientSecret], err, auth);
  });

  it('refuses a token type it does not understand', async () => {
    server.scripted.push({ status: 200, body: JSON.stringify({ access_token: 'x'.repeat(20), token_type: 'MAC' }) });
    const err = await rejection(client().apply(authRequest(server.url)));
    expect(err.details).toMatchObject({ reason: 'malformed', tokenType: 'MAC' });
  });

  it('an error_description quoting the client secret is redacted', async () => {
    server.scripted.push({ status: 400, body: JSON.stringify({ error: 'invalid_request', error_description: `secret ${server.clientSecret} is odd` }) });
    const auth = client();
    const err = await rejection(auth.apply(authRequest(server.url)));
    expect(err.details).toMatchObject({ error: 'invalid_request', description: '[redacted]' });
    expectNoLeak([server.clientSecret], err, auth);
  });

  it('timeout → reason timeout; a closed port → reason network', async () => {
    server.delayMs = 1_000;
    const slow = client({ timeoutMs: 50, clock: undefined as never });
    const err = await rejection(slow.apply(authRequest(server.url)));
    expect(err.details).toMatchObject({ reason: 'timeout' });

    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const closed = client({ tokenUrl: `http://127.0.0.1:${port}/token` });
    const net = await rejection(closed.apply(authRequest(server.url)));
    expect(net).toMatchObject({ code: 'WEIR_AUTH_UNAVAILABLE', classification: 'transient' });
    expect(net.details).toMatchObject({ reason: 'network' });
    expectNoLeak([server.clientSecret], net, err);
  });
});
