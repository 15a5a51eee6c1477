import { Agent } from 'undici';
import type { AppContext } from 'weir/app';
import { audit, connectionLimits, rateLimit, requestId, type Connection } from 'weir/http';
import { oauth2RefreshToken, type Secret } from 'weir/security';
import type { SyncAdapter, SyncFields } from 'weir/sync';
import { workerLimits, workerPolicy } from './http-policy.js';

/** A CRM customer (contract §2). */
export interface Customer {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly status: 'active' | 'lost';
  readonly marketing_opt_in: boolean;
  readonly version: number;
  /** ISO-8601 with ms, on the CRM's own clock. */
  readonly updated_at: string;
  readonly updated_by: 'user' | 'api';
}

/** What the CRM connection needs from the environment. */
export interface CrmSettings {
  readonly baseUrl: string;
  readonly clientId: string;
  readonly clientSecret: Secret;
  /** The initial refresh token; once the chain has used it, the token persisted in the store wins. */
  readonly refreshToken: Secret;
}

/**
 * The CRM connection: OAuth 2.0 refresh-token grant with single-use rotating refresh tokens.
 *
 * - Each new refresh token is written to the app's store (kv `weir.oauth2`, key `crm`) before the
 *   access token it came with is used, and one refresh runs at a time (concurrent callers wait for
 *   it). After a restart the stored, newer token wins over `CRM_REFRESH_TOKEN`, which is spent.
 * - A 401 `token_expired` refreshes once and sends the request again (the connection's auth step).
 * - Token requests go through their own small dispatcher with the same audit trail, `X-Request-Id`
 *   and rate-limit state as the API calls: they are attempts on the CRM too (one audit entry each,
 *   nothing sent before a `Retry-After` the CRM named).
 */
export function crmConnection(app: AppContext, s: CrmSettings): Connection {
  const limits = connectionLimits({ ...workerLimits, clock: app.clock });
  // undici applies the first interceptor innermost: audit sees the wire, requestId stamps each attempt.
  const tokenAgent = new Agent().compose(audit({ system: 'crm', sink: app.audit, clock: app.clock }), rateLimit(limits), requestId());
  app.onClose(() => tokenAgent.close());
  return app.connection({
    name: 'crm',
    baseUrl: s.baseUrl,
    auth: oauth2RefreshToken({
      tokenUrl: `${s.baseUrl}/oauth/token`,
      clientId: s.clientId,
      clientSecret: s.clientSecret,
      authMethod: 'client_secret_post',
      initialRefreshToken: s.refreshToken,
      store: app.store,
      storeKey: 'crm',
      dispatcher: tokenAgent,
      // Refresh when the token is due, on the request's own path (inside the one-at-a-time bulkhead),
      // never in the background beside an API call: no token request can overtake a 429's Retry-After.
      refreshAheadMs: 0,
      clock: app.clock,
    }),
    limits,
    policy: workerPolicy,
    timeoutMs: 5_000,
  });
}

/** The sync's view of consent on the CRM: subscribed only when active and opted in (R1, R3). */
export function crmConsent(c: Customer): 'subscribed' | 'unsubscribed' {
  return c.status === 'active' && c.marketing_opt_in ? 'subscribed' : 'unsubscribed';
}

/**
 * The CRM side of the sync, over `/v1/customers`. Mapped fields: `email` (lower-cased), `name`,
 * `consent`. The CRM API creates nothing and has no external id, so this adapter has no `create`,
 * `find` or `adopt`: customers are only ever created by CRM users (R12's mirror image).
 */
export function crmAdapter(connection: Connection): SyncAdapter<Customer> {
  return {
    name: 'crm',
    connection,
    async get(id, { http, correlationId }) {
      const res = await http.get(`/v1/customers/${encodeURIComponent(id)}`, { accept: [404], ...(correlationId === undefined ? {} : { correlationId }) });
      if (res.status === 404) {
        await res.body.dump();
        return null;
      }
      return (await res.body.json()) as Customer;
    },
    async list({ since, cursor, limit }, { http }) {
      const query = { updated_since: since === null ? undefined : new Date(since).toISOString(), after: cursor ?? undefined, limit: Math.min(limit, 50) };
      return (await (await http.get('/v1/customers', { query })).body.json()) as { items: Customer[]; next: string | null };
    },
    async update(id, patch, { http, ifMatch, correlationId }) {
      // Only `name` and `marketing_opt_in` are writable; the email belongs to the CRM (R6).
      const res = await http.patch(`/v1/customers/${encodeURIComponent(id)}`, toCrm(patch), {
        headers: { 'if-match': String(ifMatch) },
        idempotent: true, // If-Match makes a resend harmless: 412 once the first one landed
        ...(correlationId === undefined ? {} : { correlationId }),
      });
      return (await res.body.json()) as Customer;
    },
    id: (c) => c.id,
    version: (c) => c.version,
    updatedAt: (c) => Date.parse(c.updated_at),
    editor: (c) => c.updated_by,
    naturalKey: (c) => c.email.toLowerCase(),
    project: (c) => ({ email: c.email.toLowerCase(), name: c.name, consent: crmConsent(c) }),
  };
}

/** Mapped fields as a CRM PATCH body: any `unsubscribed…` consent is `marketing_opt_in: false`. */
function toCrm(patch: SyncFields): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if ('name' in patch) body.name = patch.name;
  if ('consent' in patch) body.marketing_opt_in = patch.consent === 'subscribed';
  return body;
}
