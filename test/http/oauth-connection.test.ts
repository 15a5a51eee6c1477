// The connection and the OAuth client were built apart; this proves them together, the way the
// flagship CRM uses them: rotating single-use refresh tokens, 401 token_expired → one refresh and
// one retry, concurrent callers sharing one refresh, and no token in any audit entry.
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { connection } from '../../src/http/index.js';
import { auditTrail } from '../../src/observability/index.js';
import { oauth2RefreshToken, Secret } from '../../src/security/index.js';
import { openStore } from '../../src/store/index.js';
import type { Store } from '../../src/store/types.js';
import { tempDir } from '../security/helpers.js';
import { TokenServer } from '../security/token-server.js';

let server: TokenServer;
let store: Store;
let temp: ReturnType<typeof tempDir>;

beforeEach(async () => {
  temp = tempDir('oauth-conn');
  store = await openStore(`sqlite:${join(temp.dir, 'weir.db')}`);
  server = await new TokenServer().start();
});

afterEach(async () => {
  await server.stop();
  await store.close();
  temp.cleanup();
});

function crm(initialRefreshToken: string) {
  const audit = auditTrail({ store });
  const conn = connection({
    name: 'crm',
    baseUrl: server.url,
    auth: oauth2RefreshToken({
      tokenUrl: server.tokenUrl,
      clientId: server.clientId,
      clientSecret: Secret.of('CRM_CLIENT_SECRET', server.clientSecret),
      authMethod: 'client_secret_post',
      initialRefreshToken,
      store,
      storeKey: 'crm',
    }),
    audit,
  });
  return { conn, audit };
}

it('refreshes once for many concurrent callers, then renews on 401 token_expired and retries once', async () => {
  const r0 = server.mintRefreshToken();
  const { conn, audit } = crm(r0);
  try {
    const first = await Promise.all(Array.from({ length: 20 }, () => conn.get('/v1/me').json<{ ok: boolean }>()));
    expect(first.every((b) => b.ok)).toBe(true);
    expect(server.tokenRequests('refresh_token')).toHaveLength(1);
    expect(server.spentRefresh.has(r0)).toBe(true);

    server.revokeAccessTokens(); // the next call gets 401 {error:"token_expired"}
    const again = await conn.get('/v1/me', { correlationId: 'op-1' }).json<{ ok: boolean }>();
    expect(again.ok).toBe(true);
    expect(server.tokenRequests('refresh_token')).toHaveLength(2);

    // One audit entry per attempt: the refused one (401) and the retry (200), same correlation id.
    const entries = await audit.byCorrelation('op-1');
    expect(entries.map((e) => e.status)).toEqual([401, 200]);
    expect(new Set(entries.map((e) => e.requestId)).size).toBe(2);

    // No token or secret in any audit entry.
    const everything = JSON.stringify(await audit.query({ limit: 1000 }));
    for (const token of [...server.accessTokens.keys(), ...server.spentRefresh, ...server.validRefresh, server.clientSecret]) {
      expect(everything).not.toContain(token);
    }
  } finally {
    await conn.close();
    await audit.close();
  }
});

it('a restart continues from the stored refresh token, never the spent configured one', async () => {
  const r0 = server.mintRefreshToken();
  const a = crm(r0);
  await a.conn.get('/v1/me').json();
  await a.conn.close();
  await a.audit.close();

  server.revokeAccessTokens();
  const b = crm(r0); // same configured (now spent) token, as after a process restart
  try {
    await expect(b.conn.get('/v1/me').json()).resolves.toEqual({ ok: true });
    const used = server.tokenRequests('refresh_token').map((r) => r.refreshToken);
    expect(used.filter((t) => t === r0)).toHaveLength(1);
    expect(server.requests.every((r) => r.status === 200)).toBe(true);
  } finally {
    await b.conn.close();
    await b.audit.close();
  }
});
