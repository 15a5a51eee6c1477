import type { KeyObject, webcrypto } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, importJWK, type JWK, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { integer } from '../internal/validate.js';
import { type AuthFailureReason, bearerChallenge, bearerToken, ForbiddenError, missingScopes, scopesOf, UnauthenticatedError } from './auth-errors.js';
import { beforeOnly, type Middleware } from './compose.js';
import { HttpError } from './problem.js';

/** A verification key: a Node `KeyObject`, a Web `CryptoKey`, an HMAC secret's bytes, or a JWK. */
export type JwtKey = KeyObject | webcrypto.CryptoKey | Uint8Array | JWK;

export interface RequireJwtOptions {
  /**
   * The issuer's keys: a JWKS URL (fetched, cached and refreshed on an unknown `kid` by jose), a
   * JWKS document `{ keys: [...] }`, or a jose key resolver. Give this or `key`.
   */
  jwks?: URL | string | { keys: JWK[] } | JWTVerifyGetKey;
  /** One verification key. Give this or `jwks`. */
  key?: JwtKey;
  /** The accepted `iss` value(s). Required (RFC 8725 §3.8). */
  issuer: string | readonly string[];
  /** The accepted `aud` value(s): this API. Required (RFC 8725 §3.9). */
  audience: string | readonly string[];
  /**
   * The accepted `alg` values. Default: the algorithms of `key`'s type (RSA → RS256…PS512, EC → its
   * curve's ES256/384/512, Ed25519 → EdDSA, a secret → HS256/384/512); with `jwks`: RS256, PS256, ES256, ES384, EdDSA.
   * `none` is never accepted, nor HMAC (HS256…) with an asymmetric key or a JWKS (algorithm confusion).
   */
  algorithms?: readonly string[];
  /** Scopes every request must carry (`scope` or `scp` claim). Default none. */
  scopes?: readonly string[];
  /** Allowed clock skew for `exp`, `nbf`, `iat`, in ms: 0 to 300_000. Default 5000. */
  clockToleranceMs?: number;
  /** Refuse tokens issued longer ago than this, in ms (needs `iat`). Default: no limit. */
  maxTokenAgeMs?: number;
  /** The required `typ` header, e.g. `'at+jwt'` (RFC 9068). Default: not checked. */
  typ?: string;
  /** Claim naming the tenant, copied to `ctx.client.tenant`. Default none. */
  tenantClaim?: string;
  /** `realm` of the `WWW-Authenticate` challenge. */
  realm?: string;
  clock?: Clock;
}

const JWKS_DEFAULT = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];
const HMAC = /^HS(256|384|512)$/;

function algorithmsOf(key: JwtKey): string[] {
  if (key instanceof Uint8Array) return ['HS256', 'HS384', 'HS512'];
  const k = key as { type?: string; asymmetricKeyType?: string; asymmetricKeyDetails?: { namedCurve?: string }; kty?: string; crv?: string; algorithm?: { name?: string; namedCurve?: string } };
  if (k.kty !== undefined) {
    if (k.kty === 'oct') return ['HS256', 'HS384', 'HS512'];
    if (k.kty === 'RSA') return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    if (k.kty === 'EC') return [curveAlg(k.crv)];
    if (k.kty === 'OKP') return ['EdDSA', 'Ed25519'];
  }
  if (k.type === 'secret') return ['HS256', 'HS384', 'HS512'];
  const type = k.asymmetricKeyType ?? k.algorithm?.name?.toLowerCase();
  if (type === 'rsa' || type === 'rsassa-pkcs1-v1_5') return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  if (type === 'rsa-pss') return ['PS256', 'PS384', 'PS512'];
  if (type === 'ec' || type === 'ecdsa') return [curveAlg(k.asymmetricKeyDetails?.namedCurve ?? k.algorithm?.namedCurve)];
  if (type === 'ed25519') return ['EdDSA', 'Ed25519'];
  throw new InvalidOptionError('requireJwt.key', 'an RSA, EC, Ed25519 or HMAC key', key);
}

function curveAlg(curve: string | undefined): string {
  if (curve === 'P-256' || curve === 'prime256v1') return 'ES256';
  if (curve === 'P-384' || curve === 'secp384r1') return 'ES384';
  if (curve === 'P-521' || curve === 'secp521r1') return 'ES512';
  throw new InvalidOptionError('requireJwt.key', 'an EC key on P-256, P-384 or P-521', curve);
}

function isAsymmetric(key: JwtKey): boolean {
  return !algorithmsOf(key).some((a) => HMAC.test(a));
}

/** jose's error codes to Weir's reasons. */
function reasonOf(err: unknown): AuthFailureReason | 'unavailable' {
  const e = err as { code?: string; claim?: string };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'nbf') return 'not_yet_valid';
      if (e.claim === 'iat') return 'issued_at';
      if (e.claim === 'iss') return 'issuer';
      if (e.claim === 'aud') return 'audience';
      if (e.claim === 'typ') return 'type';
      return 'claims';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'signature';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'algorithm';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'unknown_key';
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return 'unavailable';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JWK_INVALID':
      return 'malformed';
    default:
      // A key type that cannot verify this alg (HS256 against an RSA key) is a TypeError in jose.
      return err instanceof TypeError ? 'algorithm' : 'unavailable';
  }
}

/**
 * Requires a valid bearer JWT (jose), under the RFC 8725 rules: an explicit algorithm allow-list
 * (never `none`, no HMAC with public keys), `iss` and `aud` required and checked, `exp` required,
 * `exp`/`nbf`/`iat` with a bounded clock tolerance. On success `ctx.client` holds the client id
 * (`client_id`, `azp` or `sub`), its scopes (`scope`/`scp`) and the claims. Failures are typed:
 * `UnauthenticatedError` (401, `reason`) or `ForbiddenError` (403, missing scopes), never a crash.
 * Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option (`requireJwt.issuer`, `requireJwt.algorithms`, …).
 * @example
 * ```ts
 * requireJwt({ jwks: 'https://auth.example.com/.well-known/jwks.json', issuer: 'https://auth.example.com/', audience: 'orders-api', scopes: ['orders:read'] })
 * ```
 */
export function requireJwt(options: RequireJwtOptions): Middleware {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('requireJwt', 'an options object', options);
  const { jwks, key } = options;
  if ((jwks === undefined) === (key === undefined)) throw new InvalidOptionError('requireJwt.jwks', 'exactly one of jwks or key', jwks);
  const issuer = list(options.issuer, 'requireJwt.issuer');
  const audience = list(options.audience, 'requireJwt.audience');
  const algorithms = options.algorithms === undefined ? (key === undefined ? JWKS_DEFAULT : algorithmsOf(key)) : [...options.algorithms];
  if (algorithms.length === 0 || algorithms.some((a) => typeof a !== 'string' || a.toLowerCase() === 'none')) {
    throw new InvalidOptionError('requireJwt.algorithms', "a non-empty list of JWS algorithms, never 'none'", options.algorithms);
  }
  if (algorithms.some((a) => HMAC.test(a)) && (key === undefined || isAsymmetric(key))) {
    throw new InvalidOptionError('requireJwt.algorithms', 'no HS* algorithm with a public key or a JWKS (algorithm confusion)', options.algorithms);
  }
  const toleranceMs = integer(options.clockToleranceMs ?? 5000, 'requireJwt.clockToleranceMs', 0, 300_000);
  const maxAgeMs = options.maxTokenAgeMs === undefined ? undefined : integer(options.maxTokenAgeMs, 'requireJwt.maxTokenAgeMs', 1);
  const required = [...(options.scopes ?? [])];
  const clock = options.clock ?? systemClock;
  const realm = options.realm;
  const resolve = resolver(jwks, key);

  return beforeOnly(async function requireJwtMiddleware(ctx, next) {
    const token = bearerToken(ctx);
    if (token === undefined) throw new UnauthenticatedError('missing', 'A bearer token is required.', { challenge: bearerChallenge(realm) });
    const fail = (reason: AuthFailureReason, cause?: unknown): UnauthenticatedError =>
      new UnauthenticatedError(reason, `The bearer token was refused (${reason}).`, {
        challenge: bearerChallenge(realm, 'invalid_token', `token refused: ${reason}`),
        ...(cause === undefined ? {} : { cause }),
      });
    if (token === '' || token.split('.').length !== 3) throw fail('malformed');
    let payload: JWTPayload;
    try {
      const verifyKey = await resolve;
      const result = await jwtVerify(token, verifyKey as never, {
        issuer: issuer.length === 1 ? (issuer[0] as string) : issuer,
        audience: audience.length === 1 ? (audience[0] as string) : audience,
        algorithms,
        clockTolerance: toleranceMs / 1000,
        currentDate: new Date(clock.now()),
        requiredClaims: ['exp', 'iss', 'aud'],
        ...(maxAgeMs === undefined ? {} : { maxTokenAge: `${Math.floor(maxAgeMs / 1000)}s` }),
        ...(options.typ === undefined ? {} : { typ: options.typ }),
      });
      payload = result.payload;
    } catch (err) {
      const reason = reasonOf(err);
      if (reason === 'unavailable') {
        throw new HttpError('WEIR_AUTH_UNAVAILABLE', 503, 'The token issuer’s keys are unavailable.', { cause: err, headers: { 'retry-after': '5' } });
      }
      throw fail(reason, err);
    }
    const scopes = scopesOf(payload);
    const id = [payload.client_id, payload.azp, payload.sub].find((v) => typeof v === 'string' && v !== '') as string | undefined;
    if (id === undefined) throw fail('claims');
    const tenant = options.tenantClaim === undefined ? undefined : payload[options.tenantClaim];
    ctx.client = { id, via: 'jwt', scopes, claims: payload, tenant: typeof tenant === 'string' ? tenant : undefined };
    const missing = missingScopes(scopes, required);
    if (missing.length > 0) {
      throw new ForbiddenError('insufficient_scope', `Missing scope(s): ${missing.join(' ')}.`, missing, bearerChallenge(realm, 'insufficient_scope', undefined, required.join(' ')));
    }
    return next();
  });
}

function list(value: unknown, option: string): string[] {
  const arr = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (arr === undefined || arr.length === 0 || arr.some((v) => typeof v !== 'string' || v === '')) {
    throw new InvalidOptionError(option, 'a non-empty string or list of strings', value);
  }
  return arr as string[];
}

/** Builds the key (or key resolver) once; a JWK is imported lazily, its failure surfacing per request. */
function resolver(jwks: RequireJwtOptions['jwks'], key: JwtKey | undefined): Promise<unknown> {
  let out: Promise<unknown>;
  if (key !== undefined) {
    out = (key as JWK).kty !== undefined && !(key instanceof Uint8Array) ? importJWK(key as JWK) : Promise.resolve(key);
  } else if (typeof jwks === 'function') {
    out = Promise.resolve(jwks);
  } else if (typeof jwks === 'string' || jwks instanceof URL) {
    out = Promise.resolve(createRemoteJWKSet(new URL(jwks)));
  } else if (typeof jwks === 'object' && jwks !== null && Array.isArray((jwks as { keys?: unknown }).keys)) {
    out = Promise.resolve(createLocalJWKSet(jwks as { keys: JWK[] }));
  } else {
    throw new InvalidOptionError('requireJwt.jwks', 'a JWKS URL, a JWKS document or a key resolver', jwks);
  }
  out.catch(() => undefined);
  return out;
}

