/**
 * TLS material reaches the connection's sockets, and a TlsSource rotates it without a restart.
 * Certificates are made with the openssl command (skipped where it is missing).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connection, type TlsMaterial, type TlsSource } from '../../src/http/index.js';

function openssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.crt`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

describe.skipIf(!openssl())('tls', () => {
  let dir: string;
  let server: ReturnType<typeof createServer>;
  let url: string;
  let serverCert: { cert: string; key: string };
  let other: { cert: string; key: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weir-tls-'));
    serverCert = selfSigned(dir, 'server');
    other = selfSigned(dir, 'other');
    server = createServer({ cert: serverCert.cert, key: serverCert.key }, (_req, res) => res.end('{"tls":true}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('trusts the CA it is given; an unknown certificate is a permanent WEIR_NETWORK', async () => {
    const trusted = connection({ name: 'tls', baseUrl: url, tls: { ca: serverCert.cert } });
    expect(await trusted.get('/').json()).toEqual({ tls: true });
    await trusted.close();
    const untrusted = connection({ name: 'tls', baseUrl: url, tls: { ca: other.cert } });
    await expect(untrusted.get('/')).rejects.toMatchObject({ code: 'WEIR_NETWORK', classification: 'permanent', sent: false });
    await untrusted.close();
  });

  it('a TlsSource rotates the material without a restart', async () => {
    let material: TlsMaterial = { ca: other.cert };
    const listeners = new Set<() => void>();
    const source: TlsSource = {
      current: () => material,
      onChange(listener) {
        listeners.add(listener);
        return { dispose: () => listeners.delete(listener) };
      },
    };
    const conn = connection({ name: 'tls', baseUrl: url, tls: source, policy: { retry: false } });
    await expect(conn.get('/')).rejects.toMatchObject({ code: 'WEIR_NETWORK' });
    material = { ca: serverCert.cert };
    for (const l of listeners) l();
    expect(await conn.get('/').json()).toEqual({ tls: true });
    await conn.close();
    expect(listeners.size).toBe(0);
  });
});
