import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/errors.js';
import { apiKeyRing, type ApiKeyExpiryWarning } from '../../src/security/api-key.js';
import { generateApiKey, hashApiKey, verifyApiKey } from '../../src/security/api-key-hash.js';
import { Secret, secret } from '../../src/security/secret.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { authRequest, call, expectNoLeak } from './helpers.js';

const DAY = 86_400_000;
const key = (): string => `esp_${randomBytes(20).toString('base64url')}`;

/** The option `apiKeyRing(o)` complains about. */
function bad(o: unknown): string | undefined {
  try {
    apiKeyRing(o as never);
  } catch (err) {
    return (err as InvalidOptionError).option;
  }
  return undefined;
}

function sent(ring: ReturnType<typeof apiKeyRing>): Record<string, string> {
  const req = authRequest('https://esp.test/v3/contacts');
  ring.apply(req);
  return req.headers;
}

describe('apiKeyRing', () => {
  it('sends the newest usable key as Bearer on authorization, or bare on another header', () => {
    const [a, b] = [key(), key()];
    const clock = new FakeClock();
    const ring = apiKeyRing({ keys: [{ id: 'a', secret: a }, { id: 'b', secret: Secret.of('ESP_KEY_B', b) }], clock });
    expect(sent(ring)).toEqual({ authorization: `Bearer ${b}` });
    expect(sent(apiKeyRing({ keys: [{ id: 'a', secret: a }], header: 'X-API-Key', clock }))).toEqual({ 'x-api-key': a });
    expect(sent(apiKeyRing({ keys: [{ id: 'a', secret: a }], scheme: 'Token', clock }))).toEqual({ authorization: `Token ${a}` });
  });

  it('honours notBefore and expiresAt, and fails typed when no key is usable', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const [old, next] = [key(), key()];
    const ring = apiKeyRing({
      keys: [
        { id: 'old', secret: old, expiresAt: t0 + 10 * DAY },
        { id: 'next', secret: next, notBefore: new Date(t0 + 5 * DAY), expiresAt: t0 + 20 * DAY },
      ],
      clock,
    });
    expect(sent(ring).authorization).toBe(`Bearer ${old}`);
    expect(ring.keys().map((k) => [k.id, k.state, k.current])).toEqual([
      ['next', 'pending', false],
      ['old', 'active', true],
    ]);
    clock.set(t0 + 5 * DAY);
    expect(sent(ring).authorization).toBe(`Bearer ${next}`);
    clock.set(t0 + 20 * DAY);
    let caught: unknown;
    try {
      sent(ring);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'WEIR_AUTH_NO_CREDENTIAL', classification: 'permanent' });
    expect((caught as { details: { keys: unknown } }).details.keys).toEqual([
      { id: 'next', state: 'expired' },
      { id: 'old', state: 'expired' },
    ]);
    expectNoLeak([old, next], caught, ring);
  });

  it('rotates without a gap: the new key is sent at once, the old one stays until overlapMs, retire removes it', () => {
    const clock = new FakeClock();
    const [a, b] = [key(), key()];
    const ring = apiKeyRing({ keys: [{ id: 'a', secret: a }], clock });
    clock.set(clock.now() + DAY);
    ring.rotate({ id: 'b', secret: b }, { overlapMs: 3_600_000 });
    expect(sent(ring).authorization).toBe(`Bearer ${b}`);
    expect(ring.keys().find((k) => k.id === 'a')).toMatchObject({ state: 'active', expiresAt: clock.now() + 3_600_000 });
    expect(() => ring.rotate({ id: 'b', secret: key() })).toThrow(InvalidOptionError);
    expect(ring.retire('a')).toBe(true);
    expect(ring.retire('a')).toBe(false);
    expect(ring.keys().map((k) => k.id)).toEqual(['b']);
  });

  it('warns once per key before it expires, saying whether a replacement exists', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    const ring = apiKeyRing({ keys: [{ id: 'a', secret: key(), expiresAt: t0 + 10 * DAY }], clock, warnBeforeMs: 7 * DAY });
    const warnings: ApiKeyExpiryWarning[] = [];
    ring.onExpiryWarning((w) => warnings.push(w));
    sent(ring);
    expect(warnings).toEqual([]);
    clock.set(t0 + 4 * DAY);
    sent(ring);
    sent(ring);
    expect(warnings).toEqual([{ id: 'a', expiresAt: t0 + 10 * DAY, remainingMs: 6 * DAY, replacement: undefined }]);
    ring.rotate({ id: 'b', secret: key(), expiresAt: t0 + 12 * DAY });
    clock.set(t0 + 6 * DAY);
    expect(ring.check()).toEqual([{ id: 'b', expiresAt: t0 + 12 * DAY, remainingMs: 6 * DAY, replacement: undefined }]);
    expect(ring.check()).toEqual([]);
  });

  it('on a 401 skips the refused key when the request is known, for refusedForMs', async () => {
    const clock = new FakeClock();
    const [a, b] = [key(), key()];
    const ring = apiKeyRing({ keys: [{ id: 'a', secret: a }, { id: 'b', secret: b }], clock, refusedForMs: 60_000 });
    const refused: string[] = [];
    ring.onKeyRefused((e) => refused.push(e.id));
    const req = authRequest('https://esp.test/');
    ring.apply(req);
    expect(ring.onUnauthorized({ status: 401, headers: {}, error: undefined })).toBe(false); // unknown request: cannot tell
    expect(ring.onUnauthorized({ status: 401, headers: {}, error: undefined, request: req })).toBe(true);
    expect(refused).toEqual(['b']);
    expect(sent(ring).authorization).toBe(`Bearer ${a}`);
    const second = authRequest('https://esp.test/');
    ring.apply(second);
    expect(ring.onUnauthorized({ status: 401, headers: {}, error: undefined, request: second })).toBe(false); // every key refused
    expect(sent(ring).authorization).toBe(`Bearer ${b}`); // then the newest again
    await clock.advance(60_000);
    expect(ring.keys().map((k) => k.state)).toEqual(['active', 'active']);
  });

  it('validates eagerly and never prints a key', () => {
    const k = key();
    expect(bad({ keys: [] })).toBe('apiKeyRing.keys');
    expect(bad({ keys: [{ id: 'a', secret: '' }] })).toBe('apiKeyRing.keys[0].secret');
    expect(bad({ keys: [{ id: 'a', secret: `${k}\r\nx-evil: 1` }] })).toBe('apiKeyRing.keys[0].secret');
    expect(bad({ keys: [{ id: 'a', secret: k }, { id: 'a', secret: k }] })).toBe('apiKeyRing.keys[1].id');
    expect(bad({ keys: [{ id: 'a', secret: k, notBefore: 10, expiresAt: 5 }] })).toBe('apiKeyRing.keys[0].expiresAt');
    expect(bad({ keys: [{ id: 'a', secret: k }], header: 'bad header' })).toBe('apiKeyRing.header');
    const ring = apiKeyRing({ keys: [{ id: 'a', secret: secret('ESP_API_KEY', { env: { ESP_API_KEY: k } }) }] });
    expectNoLeak([k], ring, ring.keys());
    expect(inspect(ring)).toContain("id: 'a'");
  });
});

describe('apiKeyRing against a real server (ESP-style Bearer keys)', () => {
  const accepted = new Set<string>();
  let server: Server;
  let url = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const ok = token !== undefined && accepted.has(token);
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(JSON.stringify(ok ? { ok } : { error: 'unauthorized' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3/contacts`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('rotates with no failed call while traffic flows', async () => {
    const [a, b] = [key(), key()];
    accepted.add(a);
    const ring = apiKeyRing({ keys: [{ id: 'a', secret: a }] });
    const statuses: number[] = [];
    const traffic = (async () => {
      for (let i = 0; i < 60; i++) statuses.push(...(await Promise.all([call(ring, url), call(ring, url)])).map((r) => r.status));
    })();
    await new Promise((r) => setTimeout(r, 20));
    accepted.add(b); // 1. the provider issues the new key
    ring.rotate({ id: 'b', secret: b }); // 2. Weir sends it from now on
    await new Promise((r) => setTimeout(r, 20));
    ring.retire('a'); // 3. the old key is retired, then revoked
    accepted.delete(a);
    await traffic;
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(statuses.length).toBe(120);
  });

  it('falls back to an older key when the newest is refused (rotated in before the provider knew it)', async () => {
    const [old, early] = [key(), key()];
    accepted.clear();
    accepted.add(old);
    const ring = apiKeyRing({ keys: [{ id: 'old', secret: old }, { id: 'early', secret: early }] });
    const first = await call(ring, url);
    expect(first).toMatchObject({ status: 200, attempts: 2 });
    expect(await call(ring, url)).toMatchObject({ status: 200, attempts: 1 }); // 'early' is skipped for a while
  });
});

describe('API keys at rest', () => {
  it('generates prefixed 256-bit keys and verifies hashes in constant time', () => {
    const k = generateApiKey({ prefix: 'crm' });
    expect(k.reveal()).toMatch(/^crm_[A-Za-z0-9_-]{43}$/);
    expect(String(k)).not.toContain(k.reveal());
    const hash = hashApiKey(k);
    expect(hash).toMatch(/^sha256:[A-Za-z0-9_-]{43}$/);
    expect(verifyApiKey(k.reveal(), hash)).toBe(true);
    expect(verifyApiKey(`${k.reveal()}x`, hash)).toBe(false);
    expect(verifyApiKey('', hash)).toBe(false);
    expect(verifyApiKey(k.reveal(), 'sha256:short')).toBe(false);
  });

  it('with a pepper uses HMAC, and a peppered hash never verifies without it', () => {
    const k = generateApiKey();
    const pepper = Secret.of('API_KEY_PEPPER', randomBytes(32).toString('hex'));
    const hash = hashApiKey(k, { pepper });
    expect(hash).toMatch(/^hmac-sha256:/);
    expect(hash).not.toBe(hashApiKey(k));
    expect(verifyApiKey(k.reveal(), hash, { pepper })).toBe(true);
    expect(verifyApiKey(k.reveal(), hash)).toBe(false);
    expect(verifyApiKey(k.reveal(), hashApiKey(k), { pepper })).toBe(false);
    expect(verifyApiKey(k.reveal(), hash, { pepper: 'another pepper' })).toBe(false);
    expect(() => generateApiKey({ prefix: 'bad-prefix' })).toThrow(InvalidOptionError);
  });
});
