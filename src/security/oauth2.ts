import { inspect } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import type { AuthFailure, AuthRequest, HttpAuth } from '../http/auth.js';
import type { Event } from '../internal/events.js';
import { type CachedToken, TokenCache, type TokenCacheOptions, type TokenErrorEvent, type TokenEvent, type TokenReason } from './oauth2-token-cache.js';
import { endpointFrom, type OAuth2EndpointOptions, requestToken, type TokenEndpoint } from './oauth2-token-request.js';
import { redactUrl } from './redact.js';
import type { Secret } from './secret.js';

/**
 * OAuth 2.0 clients for outbound calls, as `HttpAuth` values for `connection({ auth })`. Import
 * from `weir/security`.
 */

/**
 * The part both grants share: a token cache with refresh ahead of expiry and single-flight refresh,
 * `apply()` setting `authorization: Bearer …`, and `onUnauthorized()` renewing once on a 401.
 * Its fields are private: `util.inspect`, `JSON.stringify` and `String()` show only the kind, the
 * token endpoint and the client id.
 */
export abstract class OAuth2Client implements HttpAuth {
  abstract readonly kind: string;
  readonly #cache: TokenCache;
  readonly #endpoint: TokenEndpoint;
  /** Fires each time a new access token is in use (never carries it). */
  readonly onToken: Event<TokenEvent>;
  /** Fires when a background refresh ahead of expiry failed (the current token stays in use until it expires). */
  readonly onError: Event<TokenErrorEvent>;

  /** @internal */
  constructor(endpoint: TokenEndpoint, cache: TokenCacheOptions, prefix: string, fetch: (reason: TokenReason) => Promise<CachedToken>) {
    this.#endpoint = endpoint;
    this.#cache = new TokenCache(fetch, endpoint.clock, cache, prefix);
    this.onToken = this.#cache.onToken;
    this.onError = this.#cache.onError;
  }

  /**
   * Sets `authorization: Bearer <access token>` on the request, fetching or refreshing the token
   * first when needed (all concurrent callers share one token request).
   * @throws WeirError `WEIR_AUTH_*` when no token can be obtained; `WEIR_CANCELLED` when `request.signal` aborts the wait.
   */
  async apply(request: AuthRequest): Promise<void> {
    const token = await this.#cache.get(request.signal);
    request.headers.authorization = TokenCache.header(token);
  }

  /**
   * On a 401 whose error is `invalid_token`, `token_expired` (see `unauthorizedErrors`) or absent:
   * renews the token once (shared by concurrent 401s) and returns true so the request is sent again.
   * With `failure.request`, a 401 for a token already replaced just returns true (no second refresh),
   * and a 401 for a token obtained within `refreshCooldownMs` returns false.
   * @throws the refresh's WeirError when renewing failed (e.g. `WEIR_AUTH_INVALID_GRANT`).
   */
  onUnauthorized(failure: AuthFailure): Promise<boolean> {
    return this.#cache.unauthorized(failure);
  }

  /**
   * The current access token (fetched or refreshed as `apply` would), for non-HTTP uses such as a
   * WebSocket handshake. Call `.reveal()` at the point of use.
   */
  async accessToken(options: { signal?: AbortSignal } = {}): Promise<Secret> {
    return (await this.#cache.get(options.signal)).accessToken;
  }

  /** Forgets the cached access token (not a stored refresh token): the next call gets a new one. */
  clearCache(): void {
    this.#cache.clear();
  }

  /** A printable summary without any credential. */
  toJSON(): Record<string, string> {
    return { kind: this.kind, tokenUrl: redactUrl(this.#endpoint.tokenUrl), clientId: this.#endpoint.clientId };
  }
  toString(): string {
    return `${this.constructor.name}(${this.#endpoint.clientId} @ ${redactUrl(this.#endpoint.tokenUrl)})`;
  }
  [inspect.custom](): string {
    return `${this.constructor.name} ${inspect(this.toJSON())}`;
  }
}

/** Options of {@link oauth2ClientCredentials}. */
export interface OAuth2ClientCredentialsOptions extends OAuth2EndpointOptions, TokenCacheOptions {
  /** Scopes to ask for: space-separated or a list. Default: none (the server's default). */
  scope?: string | readonly string[];
  /** The `audience` parameter some servers (Auth0, Okta) use to pick the API. Default: none. */
  audience?: string;
  /** RFC 8707 resource indicator(s), absolute URIs. Default: none. */
  resource?: string | readonly string[];
}

/**
 * The client-credentials grant (RFC 6749 §4.4): a service's own token, cached, refreshed ahead of
 * expiry and renewed once on a 401. Concurrent callers share one token request. Import from
 * `weir/security`.
 *
 * @throws {InvalidOptionError} at once for a bad option (e.g. `oauth2ClientCredentials.tokenUrl` not https).
 * @example
 * ```ts
 * const auth = oauth2ClientCredentials({
 *   tokenUrl: 'https://auth.example.com/oauth/token',
 *   clientId: 'weir-sync',
 *   clientSecret: secret('CRM_CLIENT_SECRET'),
 *   scope: ['customers:read', 'customers:write'],
 * });
 * const crm = connection({ name: 'crm', baseUrl: 'https://crm.example.com', auth });
 * ```
 */
export function oauth2ClientCredentials(options: OAuth2ClientCredentialsOptions): OAuth2ClientCredentials {
  return new OAuth2ClientCredentials(options);
}

/** The client-credentials grant; create with {@link oauth2ClientCredentials}. */
export class OAuth2ClientCredentials extends OAuth2Client {
  readonly kind = 'oauth2-client-credentials';

  constructor(options: OAuth2ClientCredentialsOptions) {
    const prefix = 'oauth2ClientCredentials';
    const endpoint = endpointFrom(options, prefix, 'oauth2-client-credentials', ['client_secret_basic', 'client_secret_post']);
    const params: Record<string, string> = { grant_type: 'client_credentials' };
    const scope = joinList(options.scope, `${prefix}.scope`, ' ');
    if (scope !== undefined) params.scope = scope;
    if (options.audience !== undefined) {
      if (typeof options.audience !== 'string' || options.audience === '') throw new InvalidOptionError(`${prefix}.audience`, 'a non-empty string', options.audience);
      params.audience = options.audience;
    }
    const resources = options.resource === undefined ? [] : typeof options.resource === 'string' ? [options.resource] : options.resource;
    for (const r of resources) if (!URL.canParse(r)) throw new InvalidOptionError(`${prefix}.resource`, 'absolute URIs', r);
    super(endpoint, options, prefix, async () => {
      const form = new URLSearchParams(params);
      for (const r of resources) form.append('resource', r);
      // RFC 6749 §4.4.3: no refresh token here; one sent anyway is dropped.
      const set = await requestToken(endpoint, form, []);
      return { ...set, refreshToken: undefined, source: 'server' };
    });
  }
}

/** @internal A scope list as one space-separated string (RFC 6749 §3.3), validated. */
export function joinList(value: string | readonly string[] | undefined, option: string, separator: string): string | undefined {
  if (value === undefined) return undefined;
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items) && typeof value !== 'string') throw new InvalidOptionError(option, 'a string or an array of strings', value);
  for (const item of items) {
    if (typeof item !== 'string' || item.trim() === '' || /["\\]/.test(item)) throw new InvalidOptionError(option, 'non-empty scope tokens', item);
  }
  return items.join(separator);
}
