import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OAUTH2_KV_NAMESPACE, oauth2RefreshToken } from '../../src/security/oauth2-refresh.js';
import { secret } from '../../src/security/secret.js';
import { openStore } from '../../src/store/open.js';
import { call, tempDir } from './helpers.js';
import { TokenServer } from './token-server.js';

let server: TokenServer;
let temp: ReturnType<typeof tempDir>;

beforeEach(async () => {
  temp = tempDir('oauth2-crash');
  server = await new TokenServer().start();
});

afterEach(async () => {
  await server.stop();
  temp.cleanup();
});

function runChild(env: Record<string, string>): Promise<{ signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures/refresh-child.ts')], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve({ signal, output }));
  });
}

describe('oauth2RefreshToken crash safety (kill -9)', () => {
  it('a process killed right after the durable write loses no refresh token; the restart never reuses the spent one', async () => {
    const r0 = server.mintRefreshToken();
    const db = join(temp.dir, 'weir.db');
    const env = { CRM_REFRESH_TOKEN: r0 };
    const { signal, output } = await runChild({
      ...env,
      WEIR_TEST_DB: db,
      WEIR_TEST_TOKEN_URL: server.tokenUrl,
      WEIR_TEST_CLIENT_ID: server.clientId,
      WEIR_TEST_CLIENT_SECRET: server.clientSecret,
    });
    expect(signal, output).toBe('SIGKILL');
    expect(server.tokenRequests()).toHaveLength(1);
    const r1 = [...server.validRefresh][0];

    const store = await openStore(`sqlite:${db}`);
    try {
      expect((await store.kv.get<{ refreshToken: string }>(OAUTH2_KV_NAMESPACE, 'crm', Date.now()))?.value.refreshToken).toBe(r1);
      const auth = oauth2RefreshToken({
        tokenUrl: server.tokenUrl,
        clientId: server.clientId,
        clientSecret: server.clientSecret,
        authMethod: 'client_secret_post',
        initialRefreshToken: secret('CRM_REFRESH_TOKEN', { env }), // the spent value is still configured
        store,
        storeKey: 'crm',
        timeoutMs: 1_000,
        lockTtlMs: 1_500,
        lockPollMs: 20,
      });
      // The access token the dead process stored is still good: used without a token request.
      expect((await call(auth, `${server.url}/v1/me`)).status).toBe(200);
      expect(server.tokenRequests()).toHaveLength(1);
      // Expire it: the renewal waits out the dead process's lock, then rotates the stored token.
      server.revokeAccessTokens();
      expect((await call(auth, `${server.url}/v1/me`)).status).toBe(200);
      expect(server.tokenRequests().map((r) => [r.refreshToken, r.status])).toEqual([
        [r0, 200],
        [r1, 200],
      ]);
    } finally {
      await store.close();
    }
  });
});
