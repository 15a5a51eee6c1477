import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small OAuth 2.0 token server in the shape of the flagship CRM (contracts/crm-esp.md §2):
 * `POST /oauth/token` with `grant_type=refresh_token` (single-use refresh tokens that rotate; a
 * spent one gives 400 invalid_grant) or `client_credentials`, client auth by form or Basic, and a
 * protected `GET /v1/me` that answers 401 `{error:"token_expired"}` for an expired or revoked token.
 */
export interface TokenServerOptions {
  clientId?: string;
  clientSecret?: string;
  /** Lifetime of access tokens in seconds. Default 3600. */
  expiresIn?: number;
  /** The server's clock (epoch ms). Default Date.now. */
  now?: () => number;
  /** Rotate refresh tokens (the CRM does). Default true. */
  rotate?: boolean;
}

export interface TokenRequestLog {
  readonly grantType: string | null;
  readonly refreshToken: string | null;
  readonly clientAuth: 'basic' | 'post' | 'none';
  readonly status: number;
  readonly form: Record<string, string>;
}

export class TokenServer {
  readonly requests: TokenRequestLog[] = [];
  /** Refresh tokens that are valid now. */
  readonly validRefresh = new Set<string>();
  readonly spentRefresh = new Set<string>();
  readonly accessTokens = new Map<string, number>(); // token -> expiresAt
  /** Requests to /v1/me, with the token they carried. */
  readonly calls: string[] = [];
  /** The next N token requests answer with this (status, body), e.g. a 503 or a malformed 200. */
  readonly scripted: Array<{ status: number; body: string; headers?: Record<string, string> }> = [];
  /** Milliseconds to wait before answering a token request. */
  delayMs = 0;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly #o: Required<Omit<TokenServerOptions, 'clientId' | 'clientSecret'>>;
  #server: Server | undefined;
  url = '';

  constructor(o: TokenServerOptions = {}) {
    this.clientId = o.clientId ?? 'weir-client';
    this.clientSecret = o.clientSecret ?? `cs_${randomBytes(18).toString('base64url')}`;
    this.#o = { expiresIn: o.expiresIn ?? 3600, now: o.now ?? Date.now, rotate: o.rotate ?? true };
  }

  get tokenUrl(): string {
    return `${this.url}/oauth/token`;
  }

  /** Issues a new refresh token out of band (a user's consent), valid until used. */
  mintRefreshToken(): string {
    const t = `rt_${randomBytes(24).toString('base64url')}`;
    this.validRefresh.add(t);
    return t;
  }

  revokeAccessTokens(): void {
    this.accessTokens.clear();
  }

  tokenRequests(grantType?: string): TokenRequestLog[] {
    return this.requests.filter((r) => grantType === undefined || r.grantType === grantType);
  }

  async start(): Promise<this> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET' && url.pathname === '/v1/me') return this.#me(req, res);
    if (req.method !== 'POST' || url.pathname !== '/oauth/token') return send(res, 404, { error: 'not_found' });
    const form = Object.fromEntries(new URLSearchParams(body));
    const log = (status: number, clientAuth: TokenRequestLog['clientAuth']): void => {
      this.requests.push({ grantType: form.grant_type ?? null, refreshToken: form.refresh_token ?? null, clientAuth, status, form });
    };
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const scripted = this.scripted.shift();
    if (scripted !== undefined) {
      log(scripted.status, 'none');
      res.writeHead(scripted.status, { 'content-type': 'application/json', ...scripted.headers });
      res.end(scripted.body);
      return;
    }
    // Client authentication: Basic (RFC 6749 §2.3.1, form-encoded parts) or client_secret in the body.
    let id = form.client_id;
    let secret = form.client_secret;
    let clientAuth: TokenRequestLog['clientAuth'] = secret === undefined ? 'none' : 'post';
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (basic) {
      const [u, p] = Buffer.from(basic[1] as string, 'base64').toString().split(':');
      id = decode(u);
      secret = decode(p);
      clientAuth = 'basic';
    }
    if (id !== this.clientId || secret !== this.clientSecret) {
      log(401, clientAuth);
      return send(res, 401, { error: 'invalid_client' });
    }
    if (form.grant_type === 'refresh_token') {
      const rt = form.refresh_token ?? '';
      if (!this.validRefresh.has(rt)) {
        log(400, clientAuth);
        // Echoes the token, as careless servers do: Weir must not let it into an error.
        return send(res, 400, { error: 'invalid_grant', error_description: `refresh token ${rt} is spent or unknown` });
      }
      const out: Record<string, unknown> = { access_token: this.#issue(), expires_in: this.#o.expiresIn };
      if (this.#o.rotate) {
        this.validRefresh.delete(rt);
        this.spentRefresh.add(rt);
        out.refresh_token = this.mintRefreshToken();
      }
      log(200, clientAuth);
      return send(res, 200, out);
    }
    if (form.grant_type === 'client_credentials') {
      log(200, clientAuth);
      return send(res, 200, { access_token: this.#issue(), token_type: 'Bearer', expires_in: this.#o.expiresIn, scope: form.scope });
    }
    log(400, clientAuth);
    return send(res, 400, { error: 'unsupported_grant_type' });
  }

  #issue(): string {
    const at = `at_${randomBytes(24).toString('base64url')}`;
    this.accessTokens.set(at, this.#o.now() + this.#o.expiresIn * 1000);
    return at;
  }

  #me(req: IncomingMessage, res: ServerResponse): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
    this.calls.push(token);
    const expiresAt = this.accessTokens.get(token);
    if (expiresAt === undefined || this.#o.now() >= expiresAt) return send(res, 401, { error: 'token_expired' });
    send(res, 200, { ok: true });
  }
}

/** Form-decoding of the Basic parts (RFC 6749 §2.3.1). */
function decode(s: string | undefined): string {
  return decodeURIComponent((s ?? '').replace(/\+/g, ' '));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
