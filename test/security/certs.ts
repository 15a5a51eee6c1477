import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Test PKI generated with openssl at test time (EC P-256, fast): a CA, a server certificate for
 * 127.0.0.1, client certificates, a second unrelated CA with its own client, an expired client
 * certificate and a passphrase-protected key.
 */
export interface Pem {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly serial: string;
}

export interface TestPki {
  readonly dir: string;
  readonly ca: Pem;
  readonly server: Pem;
  readonly client1: Pem;
  readonly client2: Pem;
  readonly otherCa: Pem;
  readonly otherClient: Pem;
  readonly expiredClient: Pem;
  /** client1's key encrypted with `passphrase`. */
  readonly encryptedKey: string;
  readonly passphrase: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function load(dir: string, name: string, serial: string): Pem {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile, serial };
}

function ca(dir: string, name: string, cn: string): Pem {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${cn}`, '-days', '2', '-set_serial', '1']);
  return load(dir, name, '01');
}

function leaf(dir: string, name: string, cn: string, issuer: string, serial: string, ext: string): Pem {
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-set_serial', `0x${serial}`, '-days', '2', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return load(dir, name, serial);
}

const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';

export function makePki(dir: string): TestPki {
  mkdirSync(dir, { recursive: true });
  const rootCa = ca(dir, 'ca', 'Weir Test CA');
  const server = leaf(dir, 'server', 'localhost', 'ca', '5E01', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const client1 = leaf(dir, 'client1', 'weir-client-1', 'ca', 'C1', CLIENT_EXT);
  const client2 = leaf(dir, 'client2', 'weir-client-2', 'ca', 'C2', CLIENT_EXT);
  const otherCa = ca(dir, 'other-ca', 'Some Other CA');
  const otherClient = leaf(dir, 'other-client', 'weir-client-1', 'other-ca', 'D1', CLIENT_EXT);

  // An expired certificate needs explicit dates: `openssl ca` with a minimal config.
  mkdirSync(join(dir, 'newcerts'), { recursive: true });
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), 'E1\n');
  writeFileSync(
    join(dir, 'ca.cnf'),
    `[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=newcerts\nserial=serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=none\nx509_extensions=e\n[p]\ncommonName=supplied\n[e]\n${CLIENT_EXT}`,
  );
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'expired.key', '-out', 'expired.csr', '-subj', '/CN=weir-client-expired']);
  openssl(dir, ['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.crt', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext']);
  const expiredClient = load(dir, 'expired', 'E1');

  const passphrase = 'correct horse battery staple';
  openssl(dir, ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', 'client1.key', '-out', 'client1.enc.key', '-passout', `pass:${passphrase}`]);
  return { dir, ca: rootCa, server, client1, client2, otherCa, otherClient, expiredClient, encryptedKey: readFileSync(join(dir, 'client1.enc.key'), 'utf8'), passphrase };
}
