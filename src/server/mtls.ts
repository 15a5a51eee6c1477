import { InvalidOptionError } from '../errors.js';
import { ForbiddenError, UnauthenticatedError } from './auth-errors.js';
import { beforeOnly, type Middleware } from './compose.js';
import type { PeerCertificateLike } from './context.js';

export interface RequireClientCertificateOptions {
  /** Accepted subject common names (`CN`). */
  subjects?: readonly string[];
  /** Accepted subject alternative names, as Node writes them: `'DNS:billing.internal'`, `'URI:spiffe://acme/billing'`. */
  sans?: readonly string[];
  /** Accepted SHA-256 fingerprints (colon-separated hex, any case): pinning. */
  fingerprints?: readonly string[];
  /** Scopes granted to a client, by its certificate. Default none. */
  scopesFor?: (certificate: PeerCertificateLike, id: string) => readonly string[];
}

/** The SAN entries of a certificate (`'DNS:a, URI:b'` → `['DNS:a', 'URI:b']`). */
export function subjectAltNames(cert: PeerCertificateLike): string[] {
  return (cert.subjectaltname ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

function check(value: unknown, option: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) throw new InvalidOptionError(option, 'a list of non-empty strings', value);
  return value as string[];
}

function commonName(cert: PeerCertificateLike): string | undefined {
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? (cn[0] as string | undefined) : (cn as string | undefined);
}

/**
 * Requires a client certificate that the TLS server verified against its CA (`requestCert: true`,
 * `rejectUnauthorized` either way) and that is on an allow-list: subject CN, a SAN entry or a pinned
 * fingerprint (any one suffices; with no list given, any trusted certificate is accepted). No or
 * untrusted certificate → 401 (`reason: 'certificate'`); trusted but not listed → 403. On success
 * `ctx.client` is the certificate's SPIFFE/URI SAN, else its CN. Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * https.createServer({ key, cert, ca, requestCert: true, rejectUnauthorized: false }, app);
 * requireClientCertificate({ sans: ['URI:spiffe://acme/billing'], scopesFor: () => ['invoices:write'] })
 * ```
 */
export function requireClientCertificate(options: RequireClientCertificateOptions = {}): Middleware {
  const subjects = check(options.subjects, 'requireClientCertificate.subjects');
  const sans = check(options.sans, 'requireClientCertificate.sans');
  const fingerprints = check(options.fingerprints, 'requireClientCertificate.fingerprints')?.map((f) => f.toUpperCase());
  const open = subjects === undefined && sans === undefined && fingerprints === undefined;

  return beforeOnly(async function requireClientCertificateMiddleware(ctx, next) {
    const tls = ctx.tls;
    const cert = tls?.certificate;
    if (tls === undefined || cert === undefined || !tls.authorized) {
      throw new UnauthenticatedError('certificate', tls?.authorizationError === undefined ? 'A trusted client certificate is required.' : `The client certificate is not trusted (${tls.authorizationError}).`);
    }
    const cn = commonName(cert);
    const names = subjectAltNames(cert);
    const allowed =
      open ||
      (cn !== undefined && subjects?.includes(cn) === true) ||
      names.some((n) => sans?.includes(n) === true) ||
      (cert.fingerprint256 !== undefined && fingerprints?.includes(cert.fingerprint256.toUpperCase()) === true);
    if (!allowed) throw new ForbiddenError('not_allowed', 'This client certificate is not allowed here.');
    const uri = names.find((n) => n.startsWith('URI:'));
    const id = uri?.slice(4) ?? cn ?? cert.fingerprint256 ?? 'certificate';
    ctx.client = { id, via: 'mtls', scopes: new Set(options.scopesFor?.(cert, id) ?? []) };
    return next();
  });
}
