import { describe, expectTypeOf, it } from 'vitest';
import type { WeirError, WeirErrorCode } from '../../src/errors.js';
import type { AuthFailure, HttpAuth, TlsMaterial, TlsSource } from '../../src/http/auth.js';
import {
  type ApiKeyRing,
  type ClientAuthMethod,
  apiKeyRing,
  type OAuth2ClientCredentials,
  oauth2ClientCredentials,
  type OAuth2RefreshToken,
  oauth2RefreshToken,
  type OAuth2RefreshTokenOptions,
  type Secret,
  type TlsFileSource,
  tlsFiles,
  tlsMaterial,
} from '../../src/security/index.js';

describe('public types of outbound auth', () => {
  it('every outbound auth value is an HttpAuth, every TLS source a TlsSource', () => {
    expectTypeOf(oauth2ClientCredentials).returns.toEqualTypeOf<OAuth2ClientCredentials>();
    expectTypeOf<OAuth2ClientCredentials>().toExtend<HttpAuth>();
    expectTypeOf<OAuth2RefreshToken>().toExtend<HttpAuth>();
    expectTypeOf(oauth2RefreshToken).returns.toEqualTypeOf<OAuth2RefreshToken>();
    expectTypeOf(apiKeyRing).returns.toEqualTypeOf<ApiKeyRing>();
    expectTypeOf<ApiKeyRing>().toExtend<HttpAuth>();
    expectTypeOf(tlsFiles).returns.toEqualTypeOf<TlsFileSource>();
    expectTypeOf(tlsMaterial).returns.toExtend<TlsSource>();
    expectTypeOf<ReturnType<TlsSource['current']>>().toEqualTypeOf<TlsMaterial>();
  });

  it('the error codes are in the union, and narrow', () => {
    expectTypeOf<'WEIR_AUTH_FAILED' | 'WEIR_AUTH_INVALID_GRANT' | 'WEIR_AUTH_UNAVAILABLE' | 'WEIR_AUTH_NO_CREDENTIAL' | 'WEIR_TLS_MATERIAL'>().toExtend<WeirErrorCode>();
    expectTypeOf<WeirError<'WEIR_AUTH_INVALID_GRANT'>['code']>().toEqualTypeOf<'WEIR_AUTH_INVALID_GRANT'>();
  });

  it('secrets are Secret or string; the store option needs only kv; the 401 may carry the request', () => {
    expectTypeOf<OAuth2RefreshTokenOptions['clientSecret']>().toEqualTypeOf<Secret | string | undefined>();
    expectTypeOf<OAuth2RefreshTokenOptions['initialRefreshToken']>().toEqualTypeOf<Secret | string | undefined>();
    expectTypeOf<keyof OAuth2RefreshTokenOptions['store']>().toEqualTypeOf<'kv'>();
    expectTypeOf<OAuth2ClientCredentials['apply']>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<AuthFailure['request']>().toExtend<{ headers: Record<string, string> } | undefined>();
    expectTypeOf<'private_key_jwt'>().not.toExtend<ClientAuthMethod>();
    expectTypeOf<ClientAuthMethod>().toEqualTypeOf<'client_secret_basic' | 'client_secret_post' | 'none'>();
  });
});
