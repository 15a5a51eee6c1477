import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { inspect } from 'node:util';
import { InvalidOptionError, WeirError } from '../errors.js';
import type { TlsMaterial } from '../http/auth.js';
import { isSecret, type Secret } from './secret.js';

/** PEM text or bytes. */
export type PemInput = string | Buffer;

/** Why TLS material was refused (in `err.details.reason`). */
export type TlsMaterialProblem = 'unreadable' | 'invalid_cert' | 'invalid_key' | 'key_mismatch' | 'expired' | 'not_yet_valid' | 'invalid_ca';

/** The public facts of a certificate; safe to log. Times are epoch ms. */
export interface CertificateInfo {
  readonly subject: string;
  readonly issuer: string;
  readonly serialNumber: string;
  readonly validFrom: number;
  readonly validTo: number;
  readonly fingerprint256: string;
}

interface CheckInput {
  readonly cert?: PemInput;
  readonly key?: PemInput | Secret;
  readonly ca?: PemInput | readonly PemInput[];
  readonly passphrase?: Secret | string;
  readonly servername?: string;
  readonly rejectUnauthorized?: boolean;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** @internal A `WEIR_TLS_MATERIAL` error; messages name files and certificate subjects, never key material. */
export function tlsError(reason: TlsMaterialProblem, what: string, details: Record<string, unknown> = {}): WeirError {
  return new WeirError('WEIR_TLS_MATERIAL', `TLS material refused: ${what}.`, { details: { reason, ...details } });
}

/**
 * @internal Validates TLS material and returns it frozen, with `toJSON`/`inspect` that hide the key
 * and passphrase (not enumerable, so a spread copy for `tls.connect` keeps every real option).
 */
export function checkMaterial(o: CheckInput, now: number, prefix: string, files: Record<string, string>): { material: TlsMaterial; info: CertificateInfo | undefined } {
  if (typeof o !== 'object' || o === null) throw new InvalidOptionError(prefix, 'an options object', o);
  const where = (name: string, option: string): Record<string, string> => (files[name] === undefined ? { option: `${prefix}.${option}` } : { file: files[name] as string });
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new InvalidOptionError(`${prefix}.${o.cert === undefined ? 'cert' : 'key'}`, 'cert and key together (or neither)', undefined);
  }
  if (o.servername !== undefined && (typeof o.servername !== 'string' || o.servername === '')) throw new InvalidOptionError(`${prefix}.servername`, 'a host name', o.servername);
  if (o.rejectUnauthorized !== undefined && typeof o.rejectUnauthorized !== 'boolean') throw new InvalidOptionError(`${prefix}.rejectUnauthorized`, 'a boolean', o.rejectUnauthorized);
  const passphrase = o.passphrase === undefined ? undefined : isSecret(o.passphrase) ? o.passphrase.reveal() : o.passphrase;
  if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase === '')) throw new InvalidOptionError(`${prefix}.passphrase`, 'a Secret or a non-empty string', '<redacted>');

  let info: CertificateInfo | undefined;
  let cert: PemInput | undefined;
  let key: PemInput | undefined;
  if (o.cert !== undefined && o.key !== undefined) {
    cert = pem(o.cert, `${prefix}.cert`);
    key = isSecret(o.key) ? o.key.reveal() : pem(o.key, `${prefix}.key`);
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(cert);
    } catch {
      throw tlsError('invalid_cert', 'the client certificate is not a PEM certificate', where('certFile', 'cert'));
    }
    let keyObject: KeyObject;
    try {
      keyObject = createPrivateKey(passphrase === undefined ? { key } : { key, passphrase });
    } catch (err) {
      // Node's messages name the problem (bad decrypt, unsupported) without quoting the key.
      const code = (err as { code?: unknown }).code;
      throw tlsError('invalid_key', `the private key cannot be opened${passphrase === undefined ? '' : ' with the passphrase'}${typeof code === 'string' ? ` (${code})` : ''}`, where('keyFile', 'key'));
    }
    info = infoOf(x509);
    const facts = { ...where('certFile', 'cert'), subject: info.subject, serialNumber: info.serialNumber };
    if (!x509.checkPrivateKey(keyObject)) throw tlsError('key_mismatch', `the private key does not belong to the certificate ${info.subject}`, facts);
    if (now >= info.validTo) throw tlsError('expired', `the certificate ${info.subject} expired at ${new Date(info.validTo).toISOString()}`, { ...facts, validTo: info.validTo });
    if (now < info.validFrom) throw tlsError('not_yet_valid', `the certificate ${info.subject} is valid from ${new Date(info.validFrom).toISOString()}`, { ...facts, validFrom: info.validFrom });
  }

  let ca: Array<PemInput> | undefined;
  if (o.ca !== undefined) {
    const list = (Array.isArray(o.ca) ? o.ca : [o.ca]) as PemInput[];
    ca = list.map((c, i) => pem(c, `${prefix}.ca[${i}]`));
    const blocks = ca.flatMap((c) => String(c).match(PEM_CERT) ?? []);
    if (blocks.length === 0) throw tlsError('invalid_ca', 'the CA holds no PEM certificate', where('caFile', 'ca'));
    for (const block of blocks) {
      try {
        void new X509Certificate(block);
      } catch {
        throw tlsError('invalid_ca', 'a CA certificate does not parse', where('caFile', 'ca'));
      }
    }
  }

  const material: Record<string, unknown> = {
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(ca === undefined ? {} : { ca: ca.length === 1 ? ca[0] : ca }),
    ...(passphrase === undefined ? {} : { passphrase }),
    ...(o.servername === undefined ? {} : { servername: o.servername }),
    rejectUnauthorized: o.rejectUnauthorized ?? true,
  };
  const shown = (): Record<string, unknown> => ({
    ...(info === undefined ? {} : { certificate: info.subject, serialNumber: info.serialNumber }),
    ...(key === undefined ? {} : { key: '[REDACTED]' }),
    ...(ca === undefined ? {} : { ca: `${ca.length} PEM` }),
    ...(passphrase === undefined ? {} : { passphrase: '[REDACTED]' }),
    ...(o.servername === undefined ? {} : { servername: o.servername }),
    rejectUnauthorized: material.rejectUnauthorized,
  });
  Object.defineProperty(material, 'toJSON', { value: shown, enumerable: false });
  Object.defineProperty(material, inspect.custom, { value: () => `TlsMaterial ${inspect(shown())}`, enumerable: false });
  return { material: Object.freeze(material) as TlsMaterial, info };
}

function pem(value: unknown, option: string): PemInput {
  if ((typeof value === 'string' && value.trim() !== '') || (Buffer.isBuffer(value) && value.length > 0)) return value;
  throw new InvalidOptionError(option, 'PEM text or a Buffer', value === undefined ? undefined : typeof value === 'string' ? '' : value);
}

function infoOf(x: X509Certificate): CertificateInfo {
  return {
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    serialNumber: x.serialNumber,
    validFrom: Date.parse(x.validFrom),
    validTo: Date.parse(x.validTo),
    fingerprint256: x.fingerprint256,
  };
}
