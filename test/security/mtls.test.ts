import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { inspect } from 'node:util';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsMaterial, TlsSource } from '../../src/http/auth.js';
import { type CertificateExpiryWarning, tlsFiles, tlsMaterial } from '../../src/security/mtls.js';
import { Secret } from '../../src/security/secret.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { makePki, type TestPki } from './certs.js';
import { expectNoLeak, rejection, tempDir } from './helpers.js';

let pki: TestPki;
let temp: ReturnType<typeof tempDir>;
let server: Server;
let url = '';
/** Requests that reached the strict server's handler. */
let served = 0;
/** A second server that asks for a certificate but lets the handshake finish, to report why it would refuse one. */
let inspector: Server;
let inspectorUrl = '';

beforeAll(async () => {
  temp = tempDir('mtls');
  pki = makePki(join(temp.dir, 'pki'));
  server = createServer({ key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    served++;
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ subject: peer.subject?.CN, serial: peer.serialNumber }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/whoami`;
  inspector = createServer({ key: pki.server.key, cert: pki.server.cert, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const socket = req.socket as TLSSocket;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ authorized: socket.authorized, error: String(socket.authorizationError) }));
  });
  await new Promise<void>((resolve) => inspector.listen(0, '127.0.0.1', resolve));
  inspectorUrl = `https://127.0.0.1:${(inspector.address() as AddressInfo).port}/`;
}, 60_000);

afterAll(async () => {
  for (const s of [server, inspector]) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  temp.cleanup();
});

/** One call through undici with a dispatcher built from the source, as the connection does. */
async function viaUndici(material: TlsMaterial): Promise<{ subject: string; serial: string }> {
  const agent = new Agent({ connect: { ...material } });
  try {
    const res = await request(url, { dispatcher: agent });
    return (await res.body.json()) as { subject: string; serial: string };
  } finally {
    await agent.close();
  }
}

/** Why the server would refuse this material's certificate (`authorizationError`), from the inspecting server. */
async function verdict(material: TlsMaterial): Promise<{ authorized: boolean; error: string }> {
  const agent = new Agent({ connect: { ...material } });
  try {
    return (await (await request(inspectorUrl, { dispatcher: agent })).body.json()) as { authorized: boolean; error: string };
  } finally {
    await agent.close();
  }
}

function viaHttps(material: TlsMaterial): Promise<{ subject: string; serial: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ...material, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(JSON.parse(body) as { subject: string; serial: string }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

function install(dir: string, pem: { certFile: string; keyFile: string }): void {
  // Atomic replacement, as rotation tools do: write beside, then rename over.
  copyFileSync(pem.keyFile, join(dir, 'tls.key.tmp'));
  copyFileSync(pem.certFile, join(dir, 'tls.crt.tmp'));
  renameSync(join(dir, 'tls.key.tmp'), join(dir, 'tls.key'));
  renameSync(join(dir, 'tls.crt.tmp'), join(dir, 'tls.crt'));
}

/** The `details.reason` of what `f` throws. */
async function reason(f: () => unknown): Promise<unknown> {
  return (await rejection(Promise.resolve().then(f))).details?.reason;
}

describe('mTLS against a real node:https server (requestCert, rejectUnauthorized)', () => {
  it('a good client certificate is accepted, through undici and node:https', async () => {
    const tls = tlsMaterial({ cert: pki.client1.cert, key: pki.client1.key, ca: pki.ca.cert });
    expect(await viaUndici(tls.current())).toEqual({ subject: 'weir-client-1', serial: 'C1' });
    expect(await viaHttps(tls.current())).toEqual({ subject: 'weir-client-1', serial: 'C1' });
    expect(tls.info()).toMatchObject({ subject: 'CN=weir-client-1', issuer: 'CN=Weir Test CA', serialNumber: 'C1' });
  });

  it('a passphrase-protected key opens with its passphrase (a Secret)', async () => {
    const tls = tlsMaterial({ cert: pki.client1.cert, key: pki.encryptedKey, passphrase: Secret.of('CLIENT_KEY_PASSPHRASE', pki.passphrase), ca: pki.ca.cert });
    expect((await viaUndici(tls.current())).subject).toBe('weir-client-1');
    const wrong = await rejection(Promise.resolve().then(() => tlsMaterial({ cert: pki.client1.cert, key: pki.encryptedKey, passphrase: 'wrong' })));
    expect(wrong).toMatchObject({ code: 'WEIR_TLS_MATERIAL', details: { reason: 'invalid_key' } });
    expectNoLeak([pki.passphrase, pki.client1.key, pki.encryptedKey], tls, tls.current(), wrong);
  });

  it('a client certificate from the wrong CA is rejected by the server', async () => {
    const before = served;
    const tls = tlsMaterial({ cert: pki.otherClient.cert, key: pki.otherClient.key, ca: pki.ca.cert });
    await expect(viaUndici(tls.current())).rejects.toThrow();
    expect(served).toBe(before);
    expect(await verdict(tls.current())).toEqual({ authorized: false, error: expect.stringMatching(/UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT)/) });
    expect(await verdict(tlsMaterial({ cert: pki.client1.cert, key: pki.client1.key, ca: pki.ca.cert }).current())).toMatchObject({ authorized: true });
  });

  it('no client certificate is rejected by the server', async () => {
    const before = served;
    await expect(viaUndici(tlsMaterial({ ca: pki.ca.cert }).current())).rejects.toThrow();
    expect(served).toBe(before);
  });

  it('a server certificate from a CA the client does not trust is rejected by the client', async () => {
    const tls = tlsMaterial({ cert: pki.client1.cert, key: pki.client1.key, ca: pki.otherCa.cert });
    const err = await rejection(viaUndici(tls.current()));
    expect((err as { code?: string }).code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });

  it('an expired client certificate is refused at load, and by the server if sent anyway', async () => {
    const err = await rejection(Promise.resolve().then(() => tlsMaterial({ cert: pki.expiredClient.cert, key: pki.expiredClient.key })));
    expect(err).toMatchObject({ code: 'WEIR_TLS_MATERIAL', classification: 'permanent', details: { reason: 'expired', serialNumber: 'E1' } });
    const before = served;
    const raw = { cert: pki.expiredClient.cert, key: pki.expiredClient.key, ca: pki.ca.cert };
    await expect(viaHttps(raw)).rejects.toThrow();
    expect(served).toBe(before);
    expect(await verdict(raw)).toEqual({ authorized: false, error: 'CERT_HAS_EXPIRED' });
  });

  it('refuses broken material with a typed reason', async () => {
    expect(await reason(() => tlsMaterial({ cert: pki.client1.cert, key: pki.client2.key }))).toBe('key_mismatch');
    expect(await reason(() => tlsMaterial({ cert: 'not a certificate', key: pki.client1.key }))).toBe('invalid_cert');
    expect(await reason(() => tlsMaterial({ cert: pki.client1.cert, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }))).toBe('invalid_key');
    expect(await reason(() => tlsMaterial({ ca: 'nothing here' }))).toBe('invalid_ca');
    const early = new FakeClock(Date.UTC(2020, 0, 1));
    expect(await reason(() => tlsMaterial({ cert: pki.client1.cert, key: pki.client1.key, clock: early }))).toBe('not_yet_valid');
    expect(() => tlsMaterial({ cert: pki.client1.cert })).toThrow(/cert and key together/);
    expect(await reason(() => tlsFiles({ certFile: join(temp.dir, 'missing.crt'), keyFile: pki.client1.keyFile }))).toBe('unreadable');
  });

  it('never prints the private key (inspect, JSON, String of the source and of current())', () => {
    const tls = tlsMaterial({ cert: pki.client1.cert, key: pki.client1.key, ca: pki.ca.cert });
    const keyBody = pki.client1.key.replace(/-----[A-Z ]+-----|\s/g, '');
    expectNoLeak([keyBody], tls, tls.current());
    expect(inspect(tls.current())).toContain('[REDACTED]');
    expect({ ...tls.current() }.key).toBe(pki.client1.key); // a spread copy (for tls.connect) keeps the key
  });

  it('warns when the certificate is about to expire', () => {
    const clock = new FakeClock(Date.now());
    const warnings: CertificateExpiryWarning[] = [];
    const tls = tlsMaterial({ cert: pki.client1.cert, key: pki.client1.key, clock, warnBeforeMs: 86_400_000 });
    tls.onExpiryWarning((w) => warnings.push(w));
    expect(tls.check()).toBeUndefined();
    clock.set((tls.info()?.validTo ?? 0) - 3_600_000);
    expect(tls.check()).toMatchObject({ certificate: { serialNumber: 'C1' }, remainingMs: 3_600_000 });
    expect(tls.check()).toBeUndefined();
    expect(warnings).toHaveLength(1);
  });
});

describe('tlsFiles: certificate reload without restart', () => {
  it('swaps in a rotated certificate on file change: the server sees the new subject and serial', async () => {
    const dir = join(temp.dir, 'watched');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    install(dir, pki.client1);
    copyFileSync(pki.ca.certFile, join(dir, 'ca.crt'));
    const tls = tlsFiles({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt'), debounceMs: 50 });
    try {
      // What the connection does: build the dispatcher from current(), rebuild it on change.
      let agent = new Agent({ connect: { ...tls.current() } });
      let changes = 0;
      (tls as TlsSource).onChange?.(() => {
        changes++;
        void agent.close();
        agent = new Agent({ connect: { ...tls.current() } });
      });
      const whoami = async (): Promise<unknown> => (await (await request(url, { dispatcher: agent })).body.json()) as unknown;
      expect(await whoami()).toEqual({ subject: 'weir-client-1', serial: 'C1' });

      install(dir, pki.client2);
      await expect.poll(() => changes, { timeout: 5_000 }).toBe(1);
      expect(await whoami()).toEqual({ subject: 'weir-client-2', serial: 'C2' });
      expect(await tls.reload()).toBe(false); // unchanged files: nothing to do

      // A broken rotation (a key that does not match) keeps the working material and reports it.
      const errors: Array<{ code?: string; details?: { reason?: string } }> = [];
      tls.onError((e) => errors.push(e as never));
      copyFileSync(pki.client1.keyFile, join(dir, 'tls.key'));
      await expect.poll(() => errors.length, { timeout: 5_000 }).toBeGreaterThan(0);
      expect(errors[0]).toMatchObject({ code: 'WEIR_TLS_MATERIAL', details: { reason: 'key_mismatch' } });
      expect(changes).toBe(1);
      expect(tls.info()?.serialNumber).toBe('C2');
      expect(await whoami()).toEqual({ subject: 'weir-client-2', serial: 'C2' });
      await agent.close();
    } finally {
      tls.close();
    }
  });

  it('reload() picks up a change without watching', async () => {
    const dir = join(temp.dir, 'manual');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    install(dir, pki.client1);
    const tls = tlsFiles({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: pki.ca.certFile, watch: false });
    install(dir, pki.client2);
    expect(await tls.reload()).toBe(true);
    expect(await viaUndici(tls.current())).toEqual({ subject: 'weir-client-2', serial: 'C2' });
    writeFileSync(join(dir, 'tls.crt'), 'garbage');
    expect((await rejection(tls.reload())).details?.reason).toBe('invalid_cert');
    expect(tls.info()?.serialNumber).toBe('C2');
    tls.close();
  });
});
