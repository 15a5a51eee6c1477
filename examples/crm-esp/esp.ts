import type { AppContext } from 'weir/app';
import type { Connection } from 'weir/http';
import { apiKeyRing, type Secret } from 'weir/security';
import type { SyncAdapter, SyncFields } from 'weir/sync';
import { workerLimits, workerPolicy } from './http-policy.js';

/** An ESP contact (contract §2). */
export interface Contact {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly subscription: 'subscribed' | 'unsubscribed';
  readonly external_id: string | null;
  readonly version: number;
  /** ISO-8601 with ms, on the ESP's own clock. */
  readonly updated_at: string;
  readonly unsubscribed_at: string | null;
  readonly unsubscribe_origin: 'user' | 'api' | null;
  readonly updated_by: 'user' | 'api';
}

/** The sync's consent values; only the ESP knows who unsubscribed (`unsubscribed:user`, R4/R7/R8). */
export type Consent = 'subscribed' | 'unsubscribed' | 'unsubscribed:user';

/**
 * The ESP connection: `Authorization: Bearer <ESP_API_KEY>`. Its rate limit is read from every
 * answer (`X-RateLimit-Limit/Remaining/Reset` pace the connection; a 429's `Retry-After`, seconds
 * or HTTP-date, holds every caller until then), see `http-policy.ts` for how workers react.
 */
export function espConnection(app: AppContext, s: { readonly baseUrl: string; readonly apiKey: Secret }): Connection {
  return app.connection({
    name: 'esp',
    baseUrl: s.baseUrl,
    auth: apiKeyRing({ keys: [{ id: 'ESP_API_KEY', secret: s.apiKey }], clock: app.clock }),
    limits: workerLimits,
    policy: workerPolicy,
    timeoutMs: 5_000,
  });
}

/** The sync's view of a contact's consent. */
export function espConsent(c: Contact): Consent {
  if (c.subscription === 'subscribed') return 'subscribed';
  return c.unsubscribe_origin === 'user' ? 'unsubscribed:user' : 'unsubscribed';
}

const path = (id: string): string => `/v3/contacts/${encodeURIComponent(id)}`;
const corr = (correlationId: string | undefined): { correlationId?: string } => (correlationId === undefined ? {} : { correlationId });

/**
 * The ESP side of the sync, over `/v3/contacts`. Mapped fields as on the CRM side. Creates carry
 * the CRM id as `external_id` and the sync's deterministic Idempotency-Key; a 409 `email_exists`
 * hands the existing contact to the sync, which adopts it (R9, R15). `email` is unique here, so a
 * 409 on an update escalates `email_collision` (R10).
 */
export function espAdapter(connection: Connection): SyncAdapter<Contact> {
  return {
    name: 'esp',
    connection,
    uniqueFields: ['email'],
    async get(id, { http, correlationId }) {
      const res = await http.get(path(id), { accept: [404], ...corr(correlationId) });
      if (res.status === 404) {
        await res.body.dump();
        return null;
      }
      return (await res.body.json()) as Contact;
    },
    async list({ since, cursor, limit }, { http }) {
      const query = { updated_since: since === null ? undefined : new Date(since).toISOString(), after: cursor ?? undefined, limit: Math.min(limit, 100) };
      return (await (await http.get('/v3/contacts', { query })).body.json()) as { items: Contact[]; next: string | null };
    },
    async create(fields, { http, idempotencyKey, otherId, correlationId }) {
      const body = { email: fields.email, name: fields.name, subscription: subscription(fields.consent), external_id: otherId };
      const res = await http.post('/v3/contacts', body, { idempotencyKey, accept: [409], ...corr(correlationId) });
      const answer = (await res.body.json()) as Contact & { error?: string; existing_id?: string };
      if (res.status === 201 || res.status === 200) return { created: answer };
      if (answer.error === 'email_exists' && typeof answer.existing_id === 'string') return { exists: answer.existing_id };
      // 409 idempotency_in_progress: the first attempt is still running; the queue tries again shortly.
      throw Object.assign(new Error(`ESP create still in progress (${answer.error ?? res.status})`), { code: 'ESP_CREATE_IN_PROGRESS', retryAfterMs: 1_000 });
    },
    async update(id, patch, { http, ifMatch, idempotencyKey, correlationId }) {
      const res = await http.patch(path(id), toEsp(patch), { headers: { 'if-match': String(ifMatch) }, idempotencyKey, ...corr(correlationId) });
      return (await res.body.json()) as Contact;
    },
    async find(query, { http, correlationId }) {
      const q = 'externalId' in query ? { external_id: query.externalId } : { email: query.naturalKey };
      const { items } = (await (await http.get('/v3/contacts', { query: q, ...corr(correlationId) })).body.json()) as { items: Contact[] };
      return items[0] ?? null;
    },
    async adopt(id, otherId, contact, { http, correlationId }) {
      const res = await http.patch(path(id), { external_id: otherId }, { headers: { 'if-match': String(contact.version) }, idempotent: true, ...corr(correlationId) });
      return (await res.body.json()) as Contact;
    },
    id: (c) => c.id,
    version: (c) => c.version,
    updatedAt: (c) => Date.parse(c.updated_at),
    editor: (c) => c.updated_by,
    naturalKey: (c) => c.email.toLowerCase(),
    externalId: (c) => c.external_id,
    project: (c) => ({ email: c.email.toLowerCase(), name: c.name, consent: espConsent(c) }),
  };
}

/** Weir only ever writes `subscribed` or `unsubscribed`; the origin is the ESP's to record. */
function subscription(consent: unknown): 'subscribed' | 'unsubscribed' {
  return consent === 'subscribed' ? 'subscribed' : 'unsubscribed';
}

/** Mapped fields as an ESP PATCH body. */
function toEsp(patch: SyncFields): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if ('email' in patch) body.email = patch.email;
  if ('name' in patch) body.name = patch.name;
  if ('consent' in patch) body.subscription = subscription(patch.consent);
  return body;
}
