/**
 * `weir/security`: signing and verification primitives (HMAC, Standard Webhooks v1/v1a), and in
 * time OAuth 2.0, API keys, JWT, mTLS and redaction. Named exports only.
 * @packageDocumentation
 */
export { constantTimeEqual, decodeSignature, encodeSignature, HMAC_DIGEST_BYTES, hmac, secretBytes } from './hmac.js';
export type { HmacAlgorithm, SecretEncoding, SignatureEncoding, SignedPart } from './hmac.js';
export {
  generateStandardWebhooksKeyPair,
  generateStandardWebhooksSecret,
  MAX_SIGNATURES_PER_HEADER,
  signStandardWebhook,
  StandardWebhooksKey,
  standardWebhooksKey,
  verifyStandardWebhookSignature,
} from './standard-webhooks.js';
// helper-owned exports below (one line per module)
export { isSecret, Secret, secret, secrets, type SecretOptions, type SecretProblem, type SecretProblemReason, type SecretSpec } from './secret.js';
export { createRedactor, type HeadersInput, isSensitiveName, type NameRule, REDACTED, type RedactJsonOptions, type RedactOptions, type Redactor, type RedactorOptions, type RedactUrlOptions, redactHeaders, redactJson, redactUrl, SENSITIVE_HEADERS, SENSITIVE_NAME, SENSITIVE_QUERY_KEYS } from './redact.js';
export { OAuth2Client, OAuth2ClientCredentials, type OAuth2ClientCredentialsOptions, oauth2ClientCredentials } from './oauth2.js';
export { OAUTH2_KV_NAMESPACE, OAUTH2_LOCK_NAMESPACE, OAuth2RefreshToken, type OAuth2RefreshTokenOptions, oauth2RefreshToken } from './oauth2-refresh.js';
export { type CachedToken, DEFAULT_REFRESH_AHEAD_MS, type TokenCacheOptions, type TokenErrorEvent, type TokenEvent, type TokenReason } from './oauth2-token-cache.js';
export type { ClientAuthMethod, OAuth2EndpointOptions, TokenSet } from './oauth2-token-request.js';
export { type ApiKey, type ApiKeyExpiryWarning, type ApiKeyInfo, ApiKeyRing, apiKeyRing, type ApiKeyRingOptions, type ApiKeyState } from './api-key.js';
export { generateApiKey, type HashApiKeyOptions, hashApiKey, verifyApiKey } from './api-key-hash.js';
export { type CertificateExpiryWarning, type CertificateInfo, CheckedTlsSource, type TlsCommonOptions, TlsFileSource, tlsFiles, type TlsFilesOptions, tlsMaterial, type TlsMaterialOptions } from './mtls.js';
export type { PemInput, TlsMaterialProblem } from './mtls-check.js';
