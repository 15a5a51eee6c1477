/**
 * How a connection authenticates, as an interface so that OAuth 2.0, API keys and custom schemes
 * (from `weir/security` or your own code) plug into `connection({ auth })` the same way.
 */
export interface HttpAuth {
  /** Shown in audit entries and errors (never a credential). */
  readonly kind: string;
  /**
   * Adds credentials to one outbound attempt (e.g. sets `authorization`). May fetch or refresh a
   * token first (single-flight); must honour `signal`.
   * @throws WeirError when no valid credential can be obtained.
   */
  apply(request: AuthRequest): Promise<void> | void;
  /**
   * Called once when an attempt got 401. Return true when the credential was renewed and the
   * request should be sent once more (the connection retries at most once per logical call).
   */
  onUnauthorized?(response: AuthFailure): Promise<boolean> | boolean;
}

export interface AuthRequest {
  readonly method: string;
  readonly url: URL;
  /** Lower-case header names; set what the scheme needs. */
  readonly headers: Record<string, string>;
  readonly signal?: AbortSignal | undefined;
}

export interface AuthFailure {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The OAuth error code from a JSON body or a `WWW-Authenticate` header, e.g. `invalid_token`, `token_expired`. */
  readonly error: string | undefined;
  /**
   * The attempt that got the 401, as passed to `apply()` (its headers carry the credential that was
   * refused). Optional: with it an auth scheme knows exactly which token or key was refused (so 50
   * concurrent 401s for one old token cause one refresh, and a key ring skips only the refused key);
   * without it, schemes fall back to a time-based guess (see `weir/security`).
   */
  readonly request?: AuthRequest | undefined;
}

/** TLS material for a connection (mTLS client certificate, private CA). PEM strings or buffers. */
export interface TlsMaterial {
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly ca?: string | Buffer | Array<string | Buffer>;
  readonly passphrase?: string;
  readonly servername?: string;
  /** Default true. */
  readonly rejectUnauthorized?: boolean;
}

/**
 * A source of TLS material that can change at run time (certificate rotation without restart):
 * the connection reads `current()` and rebuilds its dispatcher when `onChange` fires.
 */
export interface TlsSource {
  current(): TlsMaterial;
  onChange?(listener: () => void): { dispose(): void };
}
