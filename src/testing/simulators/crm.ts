import type { IncomingHttpHeaders } from 'node:http';
import { InvalidOptionError } from '../../errors.js';
import { uuidv7 } from '../../internal/ids.js';
import { integer } from '../../internal/validate.js';
import { hmacScheme } from '../../webhooks/schemes/generic.js';
import { sign } from '../../webhooks/verify.js';
import { BaseSimulator, type SimulatorOptions } from './base.js';
import { ifMatch, jsonObject, page, type RateLimit, rateLimitOption, reply, Stamp, TokenBucket } from './common.js';
import type { SimReply, SimRequest } from './server.js';

/** A CRM customer (contract §2). */
export interface Customer {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly status: 'active' | 'lost';
  readonly marketing_opt_in: boolean;
  readonly version: number;
  /** ISO-8601 with ms, on the CRM's (skewed) clock. */
  readonly updated_at: string;
  readonly updated_by: 'user' | 'api';
}

export interface CrmSimulatorOptions extends SimulatorOptions {
  /** Token bucket over every request. Default `{ perSecond: 100, burst: 200 }`. */
  rateLimit?: RateLimit;
  /** Lifetime of an access token, seconds. Default 3600. */
  accessTokenTtlSeconds?: number;
  /** OAuth client. Defaults `'weir-crm-client'` / `'weir-crm-secret'`. */
  clientId?: string;
  clientSecret?: string;
  /** The first refresh token. Default `'rt_initial'`. */
  refreshToken?: string;
}

/** The CRM's state, for assertions (copies). */
export interface CrmState {
  readonly customers: readonly Customer[];
  /** The one refresh token that works now. */
  readonly refreshToken: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Successful refreshes. */
  readonly refreshes: number;
  /** Attempts to use a refresh token already spent (each got 400 `invalid_grant`). */
  readonly spentRefreshTokenUses: number;
}

/** What the CRM's users do (each bumps `version`/`updated_at`, sets `updated_by: 'user'` and emits a webhook). */
export interface CrmActions {
  /** A user creates a customer (defaults: `name ''`, `status 'active'`, `marketing_opt_in true`). */
  create(fields: { email: string; name?: string; status?: 'active' | 'lost'; marketing_opt_in?: boolean }): Customer;
  /** A user edits a customer. @throws Error when it does not exist. */
  edit(id: string, fields: Partial<Pick<Customer, 'email' | 'name' | 'status' | 'marketing_opt_in'>>): Customer;
  /** Every access token issued so far expires now (next use: 401 `token_expired`). */
  expireAccessTokens(): void;
}

/** The CRM's webhook signature: `X-CRM-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`. */
export const crmSignatureScheme = hmacScheme({ name: 'crm', signatureHeader: 'X-CRM-Signature', format: 'params', signedContent: '{timestamp}.{body}' });

const WRITABLE = new Set(['marketing_opt_in', 'name']);

/**
 * A simulated CRM (contract `crm-esp.md` §2) on a real HTTP server: OAuth with single-use rotating
 * refresh tokens, expiring access tokens, customers with versions, paging by `(updated_at, id)`,
 * `If-Match` → 412, a token-bucket 429, a skewable `Date` header, and signed webhooks for every
 * change (API writes echoed too), retried byte-identical with the same `event_id`. Import from `weir/testing`.
 *
 * @throws InvalidOptionError naming the option (`crmSimulator.rateLimit.perSecond`, …).
 * @example
 * ```ts
 * const crm = await crmSimulator({ webhook: { url: `${hooks}/webhooks/crm`, secret: 'whsec' } }).start();
 * const c = crm.actions.create({ email: 'Ada@example.com', name: 'Ada' });
 * crm.faults.outage({ forMs: '5s' });
 * expect(crm.state.customers).toHaveLength(1);
 * await crm.close();
 * ```
 */
export function crmSimulator(options: CrmSimulatorOptions = {}): CrmSimulator {
  return new CrmSimulator(options);
}

/** A simulated CRM; make one with {@link crmSimulator}, then `await sim.start()`. */
export class CrmSimulator extends BaseSimulator {
  private readonly customers = new Map<string, Customer>();
  private readonly bucket: TokenBucket;
  private readonly ttlMs: number;
  private readonly clientId: string;
  private readonly clientSecret: string;
  private refreshToken: string;
  private readonly spent = new Set<string>();
  private readonly access = new Map<string, number>();
  private readonly stamp = new Stamp(() => this.now());
  private seq = 0;
  private tokenSeq = 0;
  private refreshes = 0;
  private spentUses = 0;

  /** User actions. */
  readonly actions: CrmActions = {
    create: (fields) => {
      if (typeof fields?.email !== 'string') throw new InvalidOptionError('create.email', 'a string', fields?.email);
      const id = `crm_${String(++this.seq).padStart(6, '0')}`;
      const customer: Customer = {
        id,
        email: fields.email,
        name: fields.name ?? '',
        status: fields.status ?? 'active',
        marketing_opt_in: fields.marketing_opt_in ?? true,
        version: 1,
        updated_at: this.stamp.next(),
        updated_by: 'user',
      };
      this.customers.set(id, customer);
      this.emit('customer.created', customer);
      return structuredClone(customer);
    },
    edit: (id, fields) => {
      const updated = this.write(id, fields, 'user');
      if (updated === undefined) throw new Error(`crmSimulator: no customer ${id}`);
      return updated;
    },
    expireAccessTokens: () => {
      const now = this.clock.now();
      for (const token of this.access.keys()) this.access.set(token, now);
    },
  };

  constructor(options: CrmSimulatorOptions) {
    super('crmSimulator', options, (body, target, now) => sign(crmSignatureScheme, { secret: target.secret, rawBody: body, now }));
    this.bucket = new TokenBucket(rateLimitOption(options.rateLimit, 'crmSimulator.rateLimit', { perSecond: 100, burst: 200 }), this.clock.now());
    this.ttlMs = integer(options.accessTokenTtlSeconds ?? 3600, 'crmSimulator.accessTokenTtlSeconds', 1) * 1000;
    this.clientId = options.clientId ?? 'weir-crm-client';
    this.clientSecret = options.clientSecret ?? 'weir-crm-secret';
    this.refreshToken = options.refreshToken ?? 'rt_initial';
  }

  /** A snapshot of the CRM's state. */
  get state(): CrmState {
    return {
      customers: [...this.customers.values()].map((c) => structuredClone(c)),
      refreshToken: this.refreshToken,
      clientId: this.clientId,
      clientSecret: this.clientSecret,
      refreshes: this.refreshes,
      spentRefreshTokenUses: this.spentUses,
    };
  }

  protected client(): string {
    return '*';
  }

  protected limit(_client: string, now: number): number | undefined {
    return this.bucket.take(now);
  }

  protected async route(req: SimRequest): Promise<SimReply> {
    const parts = req.url.pathname.split('/').filter(Boolean);
    if (req.method === 'POST' && req.url.pathname === '/oauth/token') return this.token(req);
    if (parts[0] !== 'v1' || parts[1] !== 'customers' || parts.length > 3) return reply(404, { error: 'not_found' });
    const denied = this.authorize(req.headers);
    if (denied !== undefined) return denied;
    if (parts.length === 2) return req.method === 'GET' ? page(this.customers.values(), req.url.searchParams, 50) : reply(405, { error: 'method_not_allowed' });
    const id = decodeURIComponent(parts[2] as string);
    const current = this.customers.get(id);
    if (req.method === 'GET') return current === undefined ? reply(404, { error: 'not_found' }) : reply(200, structuredClone(current));
    if (req.method !== 'PATCH') return reply(405, { error: 'method_not_allowed' });
    const body = jsonObject(req.raw);
    if (body === undefined) return reply(400, { error: 'invalid_json' });
    const refused = Object.keys(body).filter((k) => !WRITABLE.has(k));
    if (refused.length > 0) return reply(422, { error: 'not_writable', fields: refused });
    if ('name' in body && typeof body.name !== 'string') return reply(422, { error: 'invalid_field', field: 'name' });
    if ('marketing_opt_in' in body && typeof body.marketing_opt_in !== 'boolean') return reply(422, { error: 'invalid_field', field: 'marketing_opt_in' });
    await req.work();
    const latest = this.customers.get(id);
    if (latest === undefined) return reply(404, { error: 'not_found' });
    const expected = ifMatch(req.headers['if-match']);
    if (expected !== undefined && expected !== latest.version) return reply(412, { error: 'version_mismatch', current_version: latest.version });
    return reply(200, this.write(id, body as Partial<Customer>, 'api'), true);
  }

  private token(req: SimRequest): SimReply {
    const contentType = String(req.headers['content-type'] ?? '');
    const form = contentType.includes('json') ? new URLSearchParams(Object.entries(jsonObject(req.raw) ?? {}).map(([k, v]): [string, string] => [k, String(v)])) : new URLSearchParams(req.raw);
    if (form.get('client_id') !== this.clientId || form.get('client_secret') !== this.clientSecret) return reply(401, { error: 'invalid_client' });
    if (form.get('grant_type') !== 'refresh_token') return reply(400, { error: 'unsupported_grant_type' });
    const presented = form.get('refresh_token') ?? '';
    if (presented !== this.refreshToken) {
      if (this.spent.has(presented)) this.spentUses++;
      return reply(400, { error: 'invalid_grant' });
    }
    this.spent.add(presented);
    this.refreshes++;
    this.refreshToken = `rt_${++this.tokenSeq}_${uuidv7(this.clock.now()).slice(-12)}`;
    const accessToken = `at_${this.tokenSeq}_${uuidv7(this.clock.now()).slice(-12)}`;
    this.access.set(accessToken, this.clock.now() + this.ttlMs);
    return reply(200, { access_token: accessToken, token_type: 'Bearer', expires_in: this.ttlMs / 1000, refresh_token: this.refreshToken }, true);
  }

  private authorize(headers: IncomingHttpHeaders): SimReply | undefined {
    const match = /^Bearer (\S+)$/i.exec(headers.authorization ?? '');
    const expiresAt = match === null ? undefined : this.access.get(match[1] as string);
    if (expiresAt === undefined) return reply(401, { error: 'invalid_token' });
    if (this.clock.now() >= expiresAt) return reply(401, { error: 'token_expired' });
    return undefined;
  }

  /** Applies a change; no change, no new version and no webhook. */
  private write(id: string, fields: Partial<Customer>, by: 'user' | 'api'): Customer | undefined {
    const prev = this.customers.get(id);
    if (prev === undefined) return undefined;
    const changed = (['email', 'name', 'status', 'marketing_opt_in'] as const).filter((k) => fields[k] !== undefined && fields[k] !== prev[k]);
    if (changed.length === 0) return structuredClone(prev);
    const next: Customer = { ...prev, ...pick(fields, changed), version: prev.version + 1, updated_at: this.stamp.next(), updated_by: by };
    this.customers.set(id, next);
    this.emit('customer.updated', next);
    return structuredClone(next);
  }

  private emit(type: 'customer.created' | 'customer.updated', customer: Customer): void {
    const eventId = `evt_${uuidv7(this.clock.now()).replaceAll('-', '')}`;
    this.outbox.emit(eventId, JSON.stringify({ event_id: eventId, type, occurred_at: customer.updated_at, data: customer }));
  }
}

function pick(fields: Partial<Customer>, keys: readonly (keyof Customer)[]): Partial<Customer> {
  return Object.fromEntries(keys.map((k) => [k, fields[k]]));
}
