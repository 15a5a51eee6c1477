import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isWeirError } from '../../src/errors.js';
import { kAfterPersist, OAUTH2_KV_NAMESPACE, oauth2RefreshToken, type OAuth2RefreshTokenOptions } from '../../src/security/oauth2-refresh.js';
import { Secret, secret } from '../../src/security/secret.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/types.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { authRequest, call, expectNoLeak, rejection, tempDir } from './helpers.js';
import { TokenServer } from './token-server.js';

interface Chain {
  refreshToken: string;
  accessToken: string | null;
  seeds: string[];
}

let server: TokenServer;
let store: Store;
let temp: ReturnType<typeof tempDir>;
let dbFile: string;

beforeEach(async () => {
  temp = tempDir('oauth2');
  dbFile = join(temp.dir, 'weir.db');
  store = await openStore(`sqlite:${dbFile}`);
  server = await new TokenServer().start();
});

afterEach(async () => {
  await server.stop();
  await store.close();
  temp.cleanup();
});

function crm(o: Partial<OAuth2RefreshTokenOptions> & { initialRefreshToken?: Secret | string } = {}) {
  return oauth2RefreshToken({
    tokenUrl: server.tokenUrl,
    clientId: server.clientId,
    clientSecret: Secret.of('CRM_CLIENT_SECRET', server.clientSecret),
    authMethod: 'client_secret_post',
    store,
    storeKey: 'crm',
    ...o,
  });
}

async function stored(): Promise<{ value: Chain; version: number } | null> {
  return store.kv.get<Chain>(OAUTH2_KV_NAMESPACE, 'crm', Date.now());
}

const me = (): string => `${server.url}/v1/me`;

describe('oauth2RefreshToken against a rotating refresh-token server', () => {
  it('sends the CRM form and persists the rotated refresh token before the access token is used', async () => {
    const r0 = server.mintRefreshToken();
    let atPersist: { chain: Chain | undefined; headerSet: boolean } | undefined;
    const req = authRequest(me());
    const auth = crm({
      initialRefreshToken: secret('CRM_REFRESH_TOKEN', { env: { CRM_REFRESH_TOKEN: r0 } }),
      [kAfterPersist]: async () => {
        atPersist = { chain: (await stored())?.value, headerSet: req.headers.authorization !== undefined };
      },
    });
    await auth.apply(req);

    const [first] = server.tokenRequests();
    expect(first).toMatchObject({ grantType: 'refresh_token', refreshToken: r0, clientAuth: 'post', status: 200 });
    expect(first?.form.client_id).toBe(server.clientId);
    const r1 = [...server.validRefresh][0] as string;
    expect(server.spentRefresh.has(r0)).toBe(true);
    // At the moment of the durable write, the new refresh token was in the store and nothing had used the access token.
    expect(atPersist?.chain?.refreshToken).toBe(r1);
    expect(atPersist?.headerSet).toBe(false);
    expect(req.headers.authorization).toBe(`Bearer ${atPersist?.chain?.accessToken}`);
    expect((await call(auth, me())).status).toBe(200);
  });

  it('makes one token request for 50 concurrent callers', async () => {
    const auth = crm({ initialRefreshToken: server.mintRefreshToken() });
    server.delayMs = 30;
    const requests = Array.from({ length: 50 }, () => authRequest(me()));
    await Promise.all(requests.map((r) => auth.apply(r)));
    expect(server.tokenRequests()).toHaveLength(1);
    expect(new Set(requests.map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('renews once on 401 token_expired and retries; 50 concurrent 401s for the old token cause one refresh', async () => {
    const auth = crm({ initialRefreshToken: server.mintRefreshToken(), refreshCooldownMs: 0 });
    expect((await call(auth, me())).status).toBe(200);
    server.revokeAccessTokens();
    const one = await call(auth, me());
    expect(one).toMatchObject({ status: 200, attempts: 2 });
    expect(server.tokenRequests()).toHaveLength(2);

    server.revokeAccessTokens();
    server.delayMs = 20;
    const results = await Promise.all(Array.from({ length: 50 }, () => call(auth, me())));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(server.tokenRequests()).toHaveLength(3);
    expect(server.tokenRequests().every((r) => r.status === 200)).toBe(true); // no spent token was ever sent again
  });

  it('survives a crash right after the durable write: the restarted client uses the stored token, never the spent env value', async () => {
    const r0 = server.mintRefreshToken();
    const env = { CRM_REFRESH_TOKEN: r0 };
    const a = crm({
      initialRefreshToken: secret('CRM_REFRESH_TOKEN', { env }),
      [kAfterPersist]: () => {
        throw new Error('crash');
      },
    });
    await expect(a.apply(authRequest(me()))).rejects.toThrow('crash');
    const r1 = (await stored())?.value.refreshToken;
    expect(r1).not.toBe(r0);
    expect(server.validRefresh.has(r1 as string)).toBe(true);

    // Restart: a new client, the same store, the same (now spent) environment value.
    const b = crm({ initialRefreshToken: secret('CRM_REFRESH_TOKEN', { env }) });
    expect((await call(b, me())).status).toBe(200); // the stored access token is adopted: no token request
    expect(server.tokenRequests()).toHaveLength(1);
    server.revokeAccessTokens();
    expect((await call(b, me())).status).toBe(200);
    expect(server.tokenRequests().map((r) => r.refreshToken)).toEqual([r0, r1]);
    expect(server.tokenRequests().every((r) => r.status === 200)).toBe(true);
  });

  it('re-seeds from a new configured token, and then prefers the stored chain again', async () => {
    const auth = crm({ initialRefreshToken: server.mintRefreshToken() });
    await auth.apply(authRequest(me()));
    // The chain breaks (revoked at the server); an operator obtains a new token and sets it.
    server.validRefresh.clear();
    server.revokeAccessTokens();
    const fresh = server.mintRefreshToken();
    const reseeded = crm({ initialRefreshToken: fresh });
    expect((await call(reseeded, me())).status).toBe(200);
    expect(server.tokenRequests().at(-1)).toMatchObject({ refreshToken: fresh, status: 200 });
    expect((await stored())?.value.seeds).toHaveLength(2);

    server.revokeAccessTokens();
    const restarted = crm({ initialRefreshToken: fresh }); // same env value, already used
    expect((await call(restarted, me())).status).toBe(200);
    expect(server.tokenRequests().at(-1)?.refreshToken).not.toBe(fresh);
    expect(server.tokenRequests().every((r) => r.status === 200)).toBe(true);
  });

  it('raises WEIR_AUTH_INVALID_GRANT for a spent refresh token, once, without leaking it', async () => {
    const r0 = server.mintRefreshToken();
    await crm({ initialRefreshToken: r0 }).apply(authRequest(me()));
    const otherStore = await openStore(`sqlite:${join(temp.dir, 'other.db')}`);
    try {
      const auth = crm({ store: otherStore, initialRefreshToken: secret('CRM_REFRESH_TOKEN', { env: { CRM_REFRESH_TOKEN: r0 } }) });
      const err = await rejection(auth.apply(authRequest(me())));
      expect(isWeirError(err, 'WEIR_AUTH_INVALID_GRANT')).toBe(true);
      expect(err.code).toBe('WEIR_AUTH_INVALID_GRANT');
      expect(err.classification).toBe('permanent');
      expect(err.details).toMatchObject({ status: 400, error: 'invalid_grant', source: 'configured', storeKey: 'crm', description: '[redacted]' });
      expect(err.message).toContain('CRM_REFRESH_TOKEN');
      expectNoLeak([r0, server.clientSecret], err, auth);
      // The same spent token is not sent again.
      const again = await rejection(auth.apply(authRequest(me())));
      expect(again.code).toBe('WEIR_AUTH_INVALID_GRANT');
      expect(server.tokenRequests()).toHaveLength(2);
    } finally {
      await otherStore.close();
    }
  });

  it('raises WEIR_AUTH_NO_CREDENTIAL when neither the store nor the config has a refresh token', async () => {
    const err = await rejection(crm().apply(authRequest(me())));
    expect(err.code).toBe('WEIR_AUTH_NO_CREDENTIAL');
    expect(server.tokenRequests()).toHaveLength(0);
  });

  it('shares one refresh between two processes on one store (cross-process lock)', async () => {
    const r0 = server.mintRefreshToken();
    const p1 = crm({ initialRefreshToken: r0, lockPollMs: 5 });
    const p2 = crm({ initialRefreshToken: r0, lockPollMs: 5 });
    server.delayMs = 50;
    const reqs = Array.from({ length: 40 }, () => authRequest(me()));
    await Promise.all(reqs.map((r, i) => (i % 2 === 0 ? p1 : p2).apply(r)));
    expect(server.tokenRequests()).toHaveLength(1);
    expect(new Set(reqs.map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('keeps rotated tokens the store failed to take and writes them before anything else', async () => {
    let failNext = true;
    const flaky: Pick<Store, 'kv'> = {
      kv: Object.assign(Object.create(store.kv) as Store['kv'], {
        set: (...args: Parameters<Store['kv']['set']>) => {
          if (failNext && args[0] === OAUTH2_KV_NAMESPACE) {
            failNext = false;
            return Promise.reject(new Error('disk full'));
          }
          return store.kv.set(...args);
        },
        get: store.kv.get.bind(store.kv),
      }),
    };
    const auth = crm({ store: flaky, initialRefreshToken: server.mintRefreshToken() });
    await expect(auth.apply(authRequest(me()))).rejects.toThrow('disk full');
    expect(await stored()).toBeNull();
    const r1 = [...server.validRefresh][0];
    const req = authRequest(me());
    await auth.apply(req);
    expect(server.tokenRequests()).toHaveLength(1); // no second refresh: the pending tokens were written
    expect((await stored())?.value.refreshToken).toBe(r1);
  });

  it('refreshes ahead of expiry in the background with a FakeClock', async () => {
    const clock = new FakeClock(Date.now());
    await server.stop();
    server = await new TokenServer({ now: () => clock.now(), expiresIn: 600 }).start();
    const auth = crm({ initialRefreshToken: server.mintRefreshToken(), clock, refreshAheadMs: 60_000 });
    const first = authRequest(me());
    await auth.apply(first);
    await clock.advance(539_000);
    const still = authRequest(me());
    await auth.apply(still);
    expect(server.tokenRequests()).toHaveLength(1);
    await clock.advance(2_000); // 59 s left: inside the window
    const during = authRequest(me());
    await auth.apply(during);
    expect(during.headers.authorization).toBe(first.headers.authorization); // not blocked
    await expect.poll(() => server.tokenRequests().length).toBe(2);
    const after = authRequest(me());
    await expect.poll(async () => (await auth.apply(after), after.headers.authorization)).not.toBe(first.headers.authorization);
  });

  it('never shows a token or secret in util.inspect, JSON or String of the client', async () => {
    const r0 = server.mintRefreshToken();
    const auth = crm({ initialRefreshToken: r0 });
    const req = authRequest(me());
    await auth.apply(req);
    const access = (req.headers.authorization ?? '').slice('Bearer '.length);
    const r1 = (await stored())?.value.refreshToken as string;
    expectNoLeak([r0, r1, access, server.clientSecret], auth, await auth.accessToken());
    expect(inspect(auth)).toContain('oauth2-refresh-token');
  });
});
