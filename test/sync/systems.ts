import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connection, type Connection } from '../../src/http/index.js';
import type { SyncAdapter } from '../../src/sync/index.js';

/**
 * A record of a test system, with the contract's consent fields (docs: shared/contracts/crm-esp.md §2):
 * a CRM Customer has `status` and `marketing_opt_in`; an ESP Contact has `subscription`,
 * `unsubscribed_at`, `unsubscribe_origin` and `external_id`.
 */
export interface Rec {
  id: string;
  email: string;
  name: string;
  version: number;
  updated_at: number;
  updated_by: 'user' | 'api';
  /** CRM only. */
  status?: 'active' | 'lost';
  /** CRM only. */
  marketing_opt_in?: boolean;
  /** ESP only. */
  subscription?: 'subscribed' | 'unsubscribed';
  /** ESP only (epoch ms). */
  unsubscribed_at?: number | null;
  /** ESP only: who unsubscribed the contact. */
  unsubscribe_origin?: 'user' | 'api' | null;
  /** ESP only: the CRM id. */
  external_id?: string | null;
}

/** The sync's normalised consent value: the ESP's is richer (it knows who unsubscribed). */
export type Consent = 'subscribed' | 'unsubscribed' | 'unsubscribed:user';

/** The consent value of a record of either system. */
export function consentOf(r: Rec): Consent {
  if (r.subscription !== undefined) return r.subscription === 'subscribed' ? 'subscribed' : r.unsubscribe_origin === 'user' ? 'unsubscribed:user' : 'unsubscribed';
  return r.status !== 'lost' && r.marketing_opt_in === true ? 'subscribed' : 'unsubscribed';
}

/** Fields a CRM `PATCH` accepts (contract §2); anything else is refused with 422. */
const CRM_WRITABLE = new Set(['marketing_opt_in', 'name']);

/**
 * A small system (`'crm'`: contract CRM consent fields; `'esp'`: contract ESP ones) with versions, `updated_at`, a skewable `Date` header, 409 on a duplicate email, If-Match → 412, Idempotency-Key.
 * ESP consent: a `subscription` moving to `unsubscribed` records `unsubscribe_origin` (who did it) and
 * `unsubscribed_at`; a user unsubscribing an API-unsubscribed contact changes the origin (a new
 * version); moving to `subscribed` clears both. An API write never overrides an existing origin.
 */
export class TestSystem {
  readonly records = new Map<string, Rec>();
  skewMs = 0;
  /** Commit creates, then drop the connection without an answer (replays too), this many times. */
  loseCreateResponses = 0;
  creates = 0;
  /** Every committed write over HTTP (creates and updates, adoptions included), in order. */
  readonly writes: Array<{ method: 'POST' | 'PATCH'; id: string; fields: string[] }> = [];
  /** Page requests (`GET /records` without a lookup query). */
  lists = 0;
  private seq = 0;
  private readonly idem = new Map<string, { status: number; body: unknown }>();
  private server!: Server;
  url = '';

  constructor(readonly prefix: 'crm' | 'esp') {}

  now(): number {
    return Date.now() + this.skewMs;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** A direct edit (by the person, or by the system's other clients). */
  /** A direct create or edit (by the person, or by the system's other clients). */
  put(fields: Partial<Rec> & { email: string }, by: 'user' | 'api' = 'user', at = this.now()): Rec {
    return this.write(fields.id ?? `${this.prefix}_${String(++this.seq).padStart(4, '0')}`, fields, by, at);
  }

  /** A direct edit of some fields of an existing record. */
  edit(id: string, fields: Partial<Rec>, by: 'user' | 'api' = 'user', at = this.now()): Rec {
    if (!this.records.has(id)) throw new Error(`no ${id}`);
    return this.write(id, fields, by, at);
  }

  /** The ESP person (or an ESP API client) unsubscribes the contact: origin and time recorded even if already unsubscribed. */
  unsubscribe(id: string, by: 'user' | 'api' = 'user'): Rec {
    return this.edit(id, { subscription: 'unsubscribed' }, by);
  }

  private write(id: string, fields: Partial<Rec>, by: 'user' | 'api', at: number): Rec {
    const prev = this.records.get(id);
    const defaults: Partial<Rec> = this.prefix === 'crm'
      ? { status: 'active', marketing_opt_in: true }
      : { subscription: 'subscribed', unsubscribed_at: null, unsubscribe_origin: null, external_id: null };
    const rec = { email: '', name: '', ...defaults, ...prev, ...fields, id, version: (prev?.version ?? 0) + 1, updated_at: at, updated_by: by } as Rec;
    if (this.prefix === 'esp' && fields.subscription !== undefined && fields.unsubscribe_origin === undefined) {
      if (fields.subscription === 'subscribed') Object.assign(rec, { unsubscribed_at: null, unsubscribe_origin: null });
      else if (prev?.subscription !== 'unsubscribed' || by === 'user') Object.assign(rec, { unsubscribed_at: at, unsubscribe_origin: by });
    }
    this.records.set(id, rec);
    return rec;
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json', date: new Date(this.now()).toUTCString() });
    res.end(body === undefined ? '' : JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let raw = '';
    for await (const chunk of req) raw += String(chunk);
    const body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    if (req.method === 'GET' && parts.length === 1) {
      const ext = url.searchParams.get('external_id');
      const email = url.searchParams.get('email');
      if (ext !== null || email !== null) {
        return this.send(res, 200, { items: [...this.records.values()].filter((r) => (ext !== null ? r.external_id === ext : r.email.toLowerCase() === email?.toLowerCase())) });
      }
      this.lists++;
      const since = url.searchParams.get('updated_since');
      const after = url.searchParams.get('after');
      const limit = Number(url.searchParams.get('limit') ?? 50);
      const order = [...this.records.values()]
        .filter((r) => since === null || r.updated_at >= Number(since))
        .toSorted((a, b) => a.updated_at - b.updated_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      const [ct, cid] = after === null ? [null, null] : (JSON.parse(Buffer.from(after, 'base64url').toString()) as [number, string]);
      const rest = ct === null ? order : order.filter((r) => r.updated_at > ct || (r.updated_at === ct && r.id > (cid as string)));
      const items = rest.slice(0, limit);
      const last = items[items.length - 1];
      const next = rest.length > limit && last !== undefined ? Buffer.from(JSON.stringify([last.updated_at, last.id])).toString('base64url') : null;
      return this.send(res, 200, { items, next });
    }
    const rec = parts[1] === undefined ? undefined : this.records.get(parts[1]);
    if (req.method === 'GET') return rec === undefined ? this.send(res, 404, { error: 'not_found' }) : this.send(res, 200, rec);
    if (req.method === 'POST') {
      const key = req.headers['idempotency-key'] as string | undefined;
      const stored = key === undefined ? undefined : this.idem.get(key);
      if (stored !== undefined && this.loseCreateResponses > 0 && stored.status === 201) {
        this.loseCreateResponses--;
        req.socket.destroy();
        return;
      }
      if (stored !== undefined) return this.send(res, stored.status, stored.body);
      const email = String(body.email);
      const dup = [...this.records.values()].find((r) => r.email.toLowerCase() === email.toLowerCase());
      let out: { status: number; body: unknown };
      if (dup !== undefined) out = { status: 409, body: { error: 'email_exists', existing_id: dup.id } };
      else {
        this.creates++;
        const subscription = body.subscription === 'unsubscribed' ? 'unsubscribed' : 'subscribed';
        out = { status: 201, body: this.put({ email, name: String(body.name ?? ''), subscription, external_id: (body.external_id as string | undefined) ?? null }, 'api') };
        this.writes.push({ method: 'POST', id: (out.body as Rec).id, fields: Object.keys(body) });
      }
      if (key !== undefined) this.idem.set(key, out);
      if (this.loseCreateResponses > 0 && out.status === 201) {
        this.loseCreateResponses--;
        req.socket.destroy();
        return;
      }
      return this.send(res, out.status, out.body);
    }
    if (req.method === 'PATCH') {
      if (rec === undefined) return this.send(res, 404, { error: 'not_found' });
      const ifMatch = req.headers['if-match'];
      if (ifMatch !== undefined && Number(ifMatch) !== rec.version) return this.send(res, 412, { error: 'version_mismatch' });
      if (typeof body.email === 'string') {
        const dup = [...this.records.values()].find((r) => r.id !== rec.id && r.email.toLowerCase() === String(body.email).toLowerCase());
        if (dup !== undefined) return this.send(res, 409, { error: 'email_exists', existing_id: dup.id });
      }
      const refused = Object.keys(body).filter((k) => this.prefix === 'crm' && !CRM_WRITABLE.has(k));
      if (refused.length > 0) return this.send(res, 422, { error: 'not_writable', fields: refused });
      const fields: Partial<Rec> = { ...(body as Partial<Rec>) };
      this.writes.push({ method: 'PATCH', id: rec.id, fields: Object.keys(body) });
      return this.send(res, 200, this.edit(rec.id, fields, 'api'));
    }
    this.send(res, 405, {});
  }
}

/** The system fields a consent value is written as. */
function consentFields(kind: 'crm' | 'esp', consent: unknown): Partial<Rec> {
  return kind === 'crm' ? { marketing_opt_in: consent === 'subscribed' } : { subscription: consent === 'subscribed' ? 'subscribed' : 'unsubscribed' };
}

/** Mapped fields (`email`, `name`, `consent`) as the system's own fields. */
function toWire(kind: 'crm' | 'esp', fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { consent, ...rest } = fields;
  return 'consent' in fields ? { ...rest, ...consentFields(kind, consent) } : rest;
}

/**
 * A sync adapter over a test system's HTTP API. Projection: `{ email (lower-cased), name, consent }`,
 * where `consent` ({@link consentOf}) is `'subscribed'`, `'unsubscribed'`, or, on the ESP only,
 * `'unsubscribed:user'` (the person unsubscribed themselves). The CRM adapter creates, finds and
 * adopts nothing (the contract's CRM has no create and no external id).
 */
export function adapter(kind: 'crm' | 'esp', system: { readonly url: string }): SyncAdapter<Rec> & { connection: Connection } {
  const conn = connection({ name: kind, baseUrl: `${system.url}`, timeoutMs: 2000, policy: { retry: { attempts: 2 }, breaker: false } });
  const first = async (res: { body: { json(): Promise<unknown> } }): Promise<Rec | null> => ((await res.body.json()) as { items: Rec[] }).items[0] ?? null;
  const base: SyncAdapter<Rec> & { connection: Connection } = {
    name: kind,
    connection: conn,
    uniqueFields: kind === 'esp' ? ['email'] : [],
    async get(id, { http }) {
      const res = await http.get(`/records/${id}`, { accept: [404] });
      if (res.status === 404) {
        await res.body.dump();
        return null;
      }
      return (await res.body.json()) as Rec;
    },
    async list({ since, cursor, limit }, { http }) {
      const res = await http.get('/records', { query: { updated_since: since ?? undefined, after: cursor ?? undefined, limit } });
      return (await res.body.json()) as { items: Rec[]; next: string | null };
    },
    async update(id, patch, { http, ifMatch, idempotencyKey }) {
      const res = await http.patch(`/records/${id}`, toWire(kind, patch), { headers: { 'if-match': String(ifMatch) }, idempotencyKey });
      return (await res.body.json()) as Rec;
    },
    id: (r) => r.id,
    version: (r) => r.version,
    updatedAt: (r) => r.updated_at,
    editor: (r) => r.updated_by,
    naturalKey: (r) => r.email.toLowerCase(),
    project: (r) => ({ email: r.email.toLowerCase(), name: r.name, consent: consentOf(r) }),
  };
  if (kind === 'crm') return base;
  return {
    ...base,
    async create(fields, { http, idempotencyKey, otherId }) {
      const res = await http.post('/records', { ...toWire(kind, fields), external_id: otherId }, { idempotencyKey, accept: [409] });
      const body = (await res.body.json()) as Rec & { existing_id?: string };
      return res.status === 409 ? { exists: body.existing_id as string } : { created: body };
    },
    async find(q, { http }) {
      return first(await http.get('/records', { query: 'externalId' in q ? { external_id: q.externalId } : { email: q.naturalKey } }));
    },
    async adopt(id, otherId, rec, { http }) {
      const res = await http.patch(`/records/${id}`, { external_id: otherId }, { headers: { 'if-match': String(rec.version) } });
      return (await res.body.json()) as Rec;
    },
    externalId: (r) => r.external_id ?? null,
  };
}
