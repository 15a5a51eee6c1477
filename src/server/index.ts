/**
 * `weir/server`: inbound API protection written once against Web `Request`/`Response`, as
 * onion-style `(ctx, next)` middleware: idempotency keys, rate limits, load shedding, deadlines,
 * JWT / API-key / mTLS auth with route scopes, ETags and If-Match, cursor pagination and API
 * versioning. Run them with `handle()` (fetch-style runtimes, tests) or a thin adapter:
 * `weir/server/fastify`, `weir/server/express`, `weir/server/hono`.
 * @packageDocumentation
 */
export { beforeOnly, compose, createHandler, handle, isBeforeOnly } from './compose.js';
export type { Handler, HandleOptions, Middleware, Next } from './compose.js';
export { ServerContext, requestSource } from './context.js';
export { ResponseHeaders } from './response-headers.js';
export type { ClientIdentity, PeerCertificateLike, RequestSource, ResponseSnapshot, TlsInfo } from './context.js';
export { errorResponse, HttpError, isHttpError, problem, PROBLEM_JSON, PROBLEM_TYPE_PREFIX } from './problem.js';
export type { HttpErrorFields, ProblemDetails } from './problem.js';

export { defaultIdempotencyScope, idempotency, NOT_EXECUTED_STATUSES } from './idempotency.js';
export type { IdempotencyOptions, IdempotentRequest } from './idempotency.js';
export { parseIdempotencyKey, requestFingerprint } from './idempotency-key.js';
export type { IdempotencyKeyProblem, StorableResponse, StoredResponse } from './idempotency-key.js';
export { MemoryIdempotencyStore, memoryIdempotencyStore } from './idempotency-memory.js';

export { defaultRateLimitKey, rateLimit, rateLimitField } from './rate-limit.js';
export type { RateLimitOptions, RateLimitPolicy } from './rate-limit.js';
export { slidingWindow, tokenBucket } from './rate-limit-algorithms.js';
export type { RateLimitAlgorithm, RateLimitConsume, RateLimitDecision, RateLimitRule, RateLimitStore } from './rate-limit-algorithms.js';
export { MemoryRateLimitStore, memoryRateLimitStore } from './rate-limit-memory.js';
export { postgresRateLimitStore } from './rate-limit-postgres.js';
export type { PostgresStoreLike } from './rate-limit-postgres.js';

export { loadShedding } from './load-shedding.js';
export type { LoadSheddingOptions } from './load-shedding.js';
export { deadlines } from './deadlines.js';
export type { DeadlinesOptions } from './deadlines.js';

export { bearerToken, ForbiddenError, scopesOf, UnauthenticatedError } from './auth-errors.js';
export type { AuthFailureReason, ForbiddenReason } from './auth-errors.js';
export { requireJwt } from './jwt.js';
export type { JwtKey, RequireJwtOptions } from './jwt.js';
export { AcceptedApiKeyRing, apiKeyVerifier, requireApiKey } from './api-key.js';
export type { AcceptedApiKey, ApiKeyCheck, ApiKeyVerifier, RequireApiKeyOptions } from './api-key.js';
export { StoredApiKeys, storedApiKeys } from './api-key-store.js';
export type { RotateApiKeyOptions, RotatedApiKey, StoredApiKey, StoredApiKeyInfo, StoredApiKeysOptions } from './api-key-store.js';
export { requireClientCertificate, subjectAltNames } from './mtls.js';
export type { RequireClientCertificateOptions } from './mtls.js';
export { requireScopes } from './scopes.js';
export type { RequireScopesOptions, RouteScopes } from './scopes.js';

export { contentTag, etag, expectedVersion, ifMatch, parseEntityTags, preconditionFailed, versionTag } from './etag.js';
export type { IfMatchOptions } from './etag.js';
export { paginate } from './paginate.js';
export type { CursorPosition, Page, PaginateOptions, Paginator } from './paginate.js';
export { versioning } from './versioning.js';
export type { ApiVersionInfo, VersioningOptions } from './versioning.js';
