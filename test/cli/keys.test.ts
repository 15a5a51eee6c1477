import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveFetch, type FetchServer } from '../../src/app/serve.js';
import { requireApiKey } from '../../src/server/api-key.js';
import { storedApiKeys } from '../../src/server/api-key-store.js';
import { createHandler } from '../../src/server/compose.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/types.js';
import { requireBuild, weir } from './run-cli.js';

/**
 * `weir keys` end to end: the CLI rotates keys in a ring kept in a SQLite store while a real HTTP
 * server in this process accepts requests with `requireApiKey({ ring: storedApiKeys(store, ring) })`
 * on the same store.
 */
let dir: string;
let url: string;
let store: Store;
let server: FetchServer;
const s = (): string[] => ['--store', url];

/** Status of a request to the protected server with `key`. */
async function call(key: string): Promise<number> {
  const res = await fetch(`${server.url}/orders`, { headers: { 'x-api-key': key } });
  await res.arrayBuffer();
  return res.status;
}

interface Listed {
  ring: string;
  keys: Array<{ id: string; clientId: string; scopes?: string[]; createdAt: number; expiresAt?: number; state: string }>;
}

beforeAll(async () => {
  requireBuild();
  dir = mkdtempSync(join(tmpdir(), 'weir-cli-keys-'));
  url = `sqlite:${join(dir, 'weir.db')}`;
  expect((await weir(['migrate', ...s()])).code).toBe(0);
  store = await openStore(url, { migrate: false });
  // cacheMs 0: every request reads the ring, so each rotation is seen at once.
  const ring = storedApiKeys(store, 'partners', { cacheMs: 0 });
  server = await serveFetch(createHandler([requireApiKey({ ring, scopes: ['orders:read'] })], (ctx) => new Response(`hello ${ctx.client?.id}`)), 0);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('weir keys', () => {
  const keys: string[] = [];
  const ids: string[] = [];

  it('rotate creates a key, printed once on stdout alone; the server accepts it', { timeout: 60_000 }, async () => {
    expect(await call('wk_nothing_yet')).toBe(401);
    const res = await weir(['keys', 'rotate', 'partners', '--client', 'acme', '--scope', 'orders:read', '--scope', 'orders:write', ...s()]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^wk_[A-Za-z0-9_-]{43}\n$/);
    const key = res.stdout.trim();
    keys.push(key);
    expect(res.stderr).toMatch(/new key partners-\d{8}-\d{6} in ring partners/);
    expect(res.stderr).toContain('shown once');
    expect(res.stderr).not.toContain(key);
    expect(await call(key)).toBe(200);
    expect(await call(`${key}x`)).toBe(401);
  });

  it('list shows ids, owners, scopes, times and states, never a key or its hash', { timeout: 60_000 }, async () => {
    const res = await weir(['keys', 'list', 'partners', ...s(), '--json']);
    expect(res.code).toBe(0);
    const listed = JSON.parse(res.stdout) as Listed;
    expect(listed.keys).toHaveLength(1);
    expect(listed.keys[0]).toMatchObject({ clientId: 'acme', scopes: ['orders:read', 'orders:write'], state: 'active' });
    expect(listed.keys[0]).not.toHaveProperty('expiresAt');
    ids.push(listed.keys[0]?.id as string);
    const table = await weir(['keys', 'list', 'partners', ...s()]);
    expect(table.stdout).toMatch(/^ID\s+CLIENT\s+SCOPES\s+CREATED\s+EXPIRES\s+STATE$/m);
    for (const out of [res.stdout, table.stdout]) {
      expect(out).not.toContain(keys[0]);
      expect(out).not.toContain('sha256');
    }
  });

  it('rotate with a grace period: both keys work, the old one until its new expiry', { timeout: 60_000 }, async () => {
    const before = Date.now();
    const res = await weir(['keys', 'rotate', 'partners', '--grace', '1h', ...s(), '--json']);
    expect(res.code).toBe(0);
    const r = JSON.parse(res.stdout) as { id: string; key: string; previous: Array<{ id: string; expiresAt: number }> };
    keys.push(r.key);
    ids.push(r.id);
    expect(r.previous.map((p) => p.id)).toEqual([ids[0]]);
    expect(r.previous[0]?.expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(r.previous[0]?.expiresAt).toBeLessThan(Date.now() + 3_600_000 + 1);
    expect(await call(keys[0] as string)).toBe(200);
    expect(await call(keys[1] as string)).toBe(200);
    // The new key keeps the owner and scopes of the one it replaces.
    const listed = JSON.parse((await weir(['keys', 'list', 'partners', ...s(), '--json'])).stdout) as Listed;
    expect(listed.keys.map((k) => [k.id, k.clientId, k.state])).toEqual([
      [ids[1], 'acme', 'active'],
      [ids[0], 'acme', 'active'],
    ]);
    expect(listed.keys[0]?.scopes).toEqual(['orders:read', 'orders:write']);
  });

  it('rotate with --grace 0 stops the previous keys at once; revoke stops one', { timeout: 60_000 }, async () => {
    const res = await weir(['keys', 'rotate', 'partners', '--grace', '0', ...s(), '--json']);
    expect(res.code).toBe(0);
    const r = JSON.parse(res.stdout) as { id: string; key: string; previous: Array<{ id: string }> };
    expect(r.previous.map((p) => p.id).toSorted()).toEqual([...ids].toSorted());
    expect(await call(keys[0] as string)).toBe(401);
    expect(await call(keys[1] as string)).toBe(401);
    expect(await call(r.key)).toBe(200);

    const revoked = await weir(['keys', 'revoke', 'partners', r.id, ...s()]);
    expect(revoked.code).toBe(0);
    expect(await call(r.key)).toBe(401);
    const states = (JSON.parse((await weir(['keys', 'list', 'partners', ...s(), '--json'])).stdout) as Listed).keys.map((k) => k.state);
    expect(states).toEqual(['revoked', 'expired', 'expired']);

    const unknown = await weir(['keys', 'revoke', 'partners', 'nope', ...s()]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('WEIR_NOT_FOUND');
  });

  it('rejects a bad ring name or grace as usage errors, and an empty ring lists nothing', { timeout: 60_000 }, async () => {
    const ring = await weir(['keys', 'rotate', 'Bad Ring!', ...s()]);
    expect(ring.code).toBe(2);
    expect(ring.stderr).toContain('<ring>');
    const grace = await weir(['keys', 'rotate', 'partners', '--grace', 'tomorrow', ...s()]);
    expect(grace.code).toBe(2);
    expect(grace.stderr).toContain('--grace');
    const empty = await weir(['keys', 'list', 'admin', ...s()]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('No keys in ring admin');
  });
});
