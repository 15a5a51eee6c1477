import type { IncomingHttpHeaders } from 'node:http';
import { InvalidOptionError } from '../../errors.js';
import { uuidv7 } from '../../internal/ids.js';
import { hmacScheme } from '../../webhooks/schemes/generic.js';
import { sign } from '../../webhooks/verify.js';
import type { RetryAfterForm } from '../faults.js';
import { BaseSimulator, type SimulatorOptions } from './base.js';
import { ifMatch, jsonObject, page, type RateLimit, rateLimitOption, reply, Stamp, TokenBucket } from './common.js';
import { retryAfterForms } from './fault-control.js';
import { type AbuseRecord, header, type SimReply, type SimRequest } from './server.js';

/** An ESP contact (contract §2). */
export interface Contact {
  readonly id: string;
  readonly email: string;
  readonly name: string;
  readonly subscription: 'subscribed' | 'unsubscribed';
  readonly external_id: string | null;
  readonly version: number;
  /** ISO-8601 with ms, on the ESP's (skewed) clock. */
  readonly updated_at: string;
  readonly unsubscribed_at: string | null;
  readonly unsubscribe_origin: 'user' | 'api' | null;
  readonly updated_by: 'user' | 'api';
}

export interface EspSimulatorOptions extends SimulatorOptions {
  /** The API key (`Authorization: Bearer <key>`). Default `'esp_test_key'`. */
  apiKey?: string;
  /** Token bucket per API key. Default `{ perSecond: 100, burst: 200 }`. */
  rateLimit?: RateLimit;
  /** Form of `Retry-After` on a 429: `'seconds'` (default) or `'http-date'` (on the ESP's skewed clock). */
  retryAfter?: RetryAfterForm;
}

/** An API resubscribe of a contact its user had unsubscribed (what Weir must never do, R7). */
export interface ConsentViolation {
  readonly contactId: string;
  /** Epoch ms (unskewed). */
  readonly at: number;
}

/** The ESP's state, for assertions (copies). */
export interface EspState {
  readonly contacts: readonly Contact[];
  readonly apiKey: string;
  /** Requests sent before the time a `Retry-After` named (same as `log.abuse`). */
  readonly abuse: readonly AbuseRecord[];
  readonly consentViolations: readonly ConsentViolation[];
}

/** What the ESP's users (and its other clients) do; each bumps `version`/`updated_at` and emits a webhook. */
export interface EspActions {
  /** A contact made on the ESP side (unlinked unless `external_id`). @throws Error when the email exists. */
  create(fields: { email: string; name?: string; subscription?: 'subscribed' | 'unsubscribed'; external_id?: string | null }): Contact;
  /** The person unsubscribes (origin `'user'`). */
  unsubscribe(id: string): Contact;
  /** An ESP-side edit of email and/or name. @throws Error when the email belongs to another contact. */
  edit(id: string, fields: { email?: string; name?: string }): Contact;
  /** Deleted out of band: gone from the API (404), a `contact.updated` webhook is sent. */
  delete(id: string): void;
}

/** The ESP's webhook signature: `X-ESP-Signature: sha256=<hex HMAC-SHA256(secret, body)>`. */
export const espSignatureScheme = hmacScheme({ name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' });

interface Stored {
  readonly fingerprint: string;
  response: SimReply | undefined;
}

type Write = Partial<Pick<Contact, 'email' | 'name' | 'subscription' | 'external_id'>>;

/**
 * A simulated ESP (contract `crm-esp.md` §2) on a real HTTP server: Bearer API key, contacts with a
 * case-insensitive unique email, `Idempotency-Key` on create (replay, 422, 409 in progress), lookups
 * by email and external id, paging, `If-Match` → 412, a per-key rate limit with `X-RateLimit-*` on
 * every answer and `Retry-After` as seconds or HTTP-date, abuse recording, and thin signed webhooks
 * with a stable `X-ESP-Delivery`. Import from `weir/testing`.
 *
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * const esp = await espSimulator({ retryAfter: 'http-date', rateLimit: { perSecond: 5, burst: 10 } }).start();
 * esp.actions.unsubscribe(contactId);
 * expect(esp.state.abuse).toEqual([]);
 * ```
 */
export function espSimulator(options: EspSimulatorOptions = {}): EspSimulator {
  return new EspSimulator(options);
}

/** A simulated ESP; make one with {@link espSimulator}, then `await sim.start()`. */
export class EspSimulator extends BaseSimulator {
  private readonly contacts = new Map<string, Contact>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly idempotency = new Map<string, Stored>();
  private readonly violations: ConsentViolation[] = [];
  private readonly limitConfig: RateLimit;
  private readonly apiKey: string;
  private readonly stamp = new Stamp(() => this.now());
  private form: RetryAfterForm;
  private seq = 0;

  /** User actions. */
  readonly actions: EspActions = {
    create: (fields) => {
      if (typeof fields?.email !== 'string') throw new InvalidOptionError('create.email', 'a string', fields?.email);
      if (this.byEmail(fields.email) !== undefined) throw new Error(`espSimulator: email exists: ${fields.email}`);
      return structuredClone(this.insert({ name: '', subscription: 'subscribed', external_id: null, ...fields }, 'user'));
    },
    unsubscribe: (id) => this.mustWrite(id, { subscription: 'unsubscribed' }, 'user'),
    edit: (id, fields) => {
      const other = fields.email === undefined ? undefined : this.byEmail(fields.email);
      if (other !== undefined && other.id !== id) throw new Error(`espSimulator: email exists: ${fields.email}`);
      return this.mustWrite(id, fields, 'user');
    },
    delete: (id) => {
      if (!this.contacts.delete(id)) throw new Error(`espSimulator: no contact ${id}`);
      this.emit('contact.updated', id, this.stamp.next());
    },
  };

  constructor(options: EspSimulatorOptions) {
    super('espSimulator', options, (body, target, _now, id) => ({
      ...sign(espSignatureScheme, { secret: target.secret, rawBody: body }),
      'X-ESP-Delivery': id,
    }));
    this.apiKey = options.apiKey ?? 'esp_test_key';
    this.limitConfig = rateLimitOption(options.rateLimit, 'espSimulator.rateLimit', { perSecond: 100, burst: 200 });
    this.form = retryAfterForms(options.retryAfter ?? 'seconds', 'espSimulator.retryAfter');
  }

  /** A snapshot of the ESP's state. */
  get state(): EspState {
    return {
      contacts: [...this.contacts.values()].map((c) => structuredClone(c)),
      apiKey: this.apiKey,
      abuse: [...this.server.abuse],
      consentViolations: [...this.violations],
    };
  }

  /** Changes the form of `Retry-After` on later 429s. */
  setRetryAfterForm(form: RetryAfterForm): void {
    this.form = retryAfterForms(form, 'espSimulator.retryAfter');
  }

  protected override retryAfterForm(): RetryAfterForm {
    return this.form;
  }

  protected client(headers: IncomingHttpHeaders): string {
    const match = /^Bearer (\S+)$/i.exec(headers.authorization ?? '');
    return match === null ? 'anonymous' : `bearer:${(match[1] as string).slice(0, 4)}…${(match[1] as string).length}`;
  }

  protected limit(client: string, now: number): number | undefined {
    return this.bucket(client, now).take(now);
  }

  protected override decorate(client: string, now: number): Record<string, string> {
    const bucket = this.bucket(client, now);
    return {
      'x-ratelimit-limit': String(this.limitConfig.burst),
      'x-ratelimit-remaining': String(bucket.remaining(now)),
      'x-ratelimit-reset': String(bucket.resetSeconds(now)),
    };
  }

  protected async route(req: SimRequest): Promise<SimReply> {
    const parts = req.url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'v3' || parts[1] !== 'contacts' || parts.length > 3) return reply(404, { error: 'not_found' });
    if (req.headers.authorization !== `Bearer ${this.apiKey}`) return reply(401, { error: 'unauthorized' });
    if (parts.length === 2) {
      if (req.method === 'POST') return this.create(req);
      if (req.method !== 'GET') return reply(405, { error: 'method_not_allowed' });
      const q = req.url.searchParams;
      const email = q.get('email');
      if (email !== null) return reply(200, { items: [this.byEmail(email)].filter((c) => c !== undefined).map((c) => structuredClone(c)) });
      const ext = q.get('external_id');
      if (ext !== null) return reply(200, { items: [...this.contacts.values()].filter((c) => c.external_id === ext).map((c) => structuredClone(c)) });
      return page(this.contacts.values(), q, 100);
    }
    const id = decodeURIComponent(parts[2] as string);
    if (req.method === 'GET') {
      const c = this.contacts.get(id);
      return c === undefined ? reply(404, { error: 'not_found' }) : reply(200, structuredClone(c));
    }
    if (req.method !== 'PATCH') return reply(405, { error: 'method_not_allowed' });
    const body = jsonObject(req.raw);
    const invalid = body === undefined ? 'body' : validate(body, false);
    if (invalid !== undefined) return reply(422, { error: 'invalid_field', field: invalid });
    await req.work();
    const current = this.contacts.get(id);
    if (current === undefined) return reply(404, { error: 'not_found' });
    const expected = ifMatch(req.headers['if-match']);
    if (expected !== undefined && expected !== current.version) return reply(412, { error: 'version_mismatch', current_version: current.version });
    const fields = body as Write;
    const other = fields.email === undefined ? undefined : this.byEmail(fields.email);
    if (other !== undefined && other.id !== id) return reply(409, { error: 'email_exists', existing_id: other.id });
    return reply(200, this.write(id, fields, 'api'), true);
  }

  private async create(req: SimRequest): Promise<SimReply> {
    const body = jsonObject(req.raw);
    const invalid = body === undefined ? 'body' : validate(body, true);
    if (invalid !== undefined) return reply(422, { error: 'invalid_field', field: invalid });
    const key = header(req.headers, 'idempotency-key');
    const scoped = key === undefined ? undefined : `${req.client}\n${key}`;
    const fingerprint = canonical(body as Record<string, unknown>);
    if (scoped !== undefined) {
      const stored = this.idempotency.get(scoped);
      if (stored !== undefined) {
        if (stored.fingerprint !== fingerprint) return reply(422, { error: 'idempotency_key_reused' });
        if (stored.response === undefined) return reply(409, { error: 'idempotency_in_progress' });
        return { ...stored.response, headers: { 'idempotent-replayed': 'true' } };
      }
      this.idempotency.set(scoped, { fingerprint, response: undefined });
    }
    let response: SimReply;
    try {
      await req.work();
      const fields = body as Write & { email: string };
      const existing = this.byEmail(fields.email);
      response =
        existing !== undefined
          ? reply(409, { error: 'email_exists', existing_id: existing.id })
          : reply(201, structuredClone(this.insert({ name: '', subscription: 'subscribed', external_id: null, ...fields }, 'api')), true);
    } catch (err) {
      if (scoped !== undefined) this.idempotency.delete(scoped);
      throw err;
    }
    if (scoped !== undefined) this.idempotency.set(scoped, { fingerprint, response });
    return response;
  }

  private bucket(client: string, now: number): TokenBucket {
    let bucket = this.buckets.get(client);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.limitConfig, now);
      this.buckets.set(client, bucket);
    }
    return bucket;
  }

  private byEmail(email: string): Contact | undefined {
    const lower = email.toLowerCase();
    for (const c of this.contacts.values()) if (c.email.toLowerCase() === lower) return c;
    return undefined;
  }

  private insert(fields: Required<Write>, by: 'user' | 'api'): Contact {
    const id = `esp_${String(++this.seq).padStart(6, '0')}`;
    const at = this.stamp.next();
    const unsubscribed = fields.subscription === 'unsubscribed';
    const contact: Contact = {
      id,
      email: fields.email,
      name: fields.name,
      subscription: fields.subscription,
      external_id: fields.external_id,
      version: 1,
      updated_at: at,
      unsubscribed_at: unsubscribed ? at : null,
      unsubscribe_origin: unsubscribed ? by : null,
      updated_by: by,
    };
    this.contacts.set(id, contact);
    this.emit(unsubscribed ? 'contact.unsubscribed' : 'contact.updated', id, at);
    return contact;
  }

  private mustWrite(id: string, fields: Write, by: 'user' | 'api'): Contact {
    const updated = this.write(id, fields, by);
    if (updated === undefined) throw new Error(`espSimulator: no contact ${id}`);
    return updated;
  }

  /** Applies a change; none, no new version and no webhook. A user unsubscribing takes the origin even if already unsubscribed. */
  private write(id: string, fields: Write, by: 'user' | 'api'): Contact | undefined {
    const prev = this.contacts.get(id);
    if (prev === undefined) return undefined;
    const changed = (['email', 'name', 'subscription', 'external_id'] as const).filter((k) => fields[k] !== undefined && fields[k] !== prev[k]);
    const userUnsub = by === 'user' && fields.subscription === 'unsubscribed' && prev.unsubscribe_origin !== 'user';
    if (changed.length === 0 && !userUnsub) return structuredClone(prev);
    const at = this.stamp.next();
    const next: Contact = { ...prev, ...Object.fromEntries(changed.map((k) => [k, fields[k]])), version: prev.version + 1, updated_at: at, updated_by: by };
    let unsubscribed = false;
    if (next.subscription === 'unsubscribed' && (prev.subscription !== 'unsubscribed' || userUnsub)) {
      Object.assign(next, { unsubscribed_at: at, unsubscribe_origin: by });
      unsubscribed = true;
    } else if (next.subscription === 'subscribed' && prev.subscription === 'unsubscribed') {
      if (prev.unsubscribe_origin === 'user' && by === 'api') this.violations.push({ contactId: id, at: this.clock.now() });
      Object.assign(next, { unsubscribed_at: null, unsubscribe_origin: null });
    }
    this.contacts.set(id, next);
    this.emit(unsubscribed ? 'contact.unsubscribed' : 'contact.updated', id, at);
    return structuredClone(next);
  }

  private emit(type: 'contact.unsubscribed' | 'contact.updated', contactId: string, occurredAt: string): void {
    this.outbox.emit(uuidv7(this.clock.now()), JSON.stringify({ type, contact_id: contactId, occurred_at: occurredAt }));
  }
}

/** The first invalid field of a create (`full`) or patch body, or undefined. */
function validate(body: Record<string, unknown>, full: boolean): string | undefined {
  for (const k of Object.keys(body)) if (!['email', 'name', 'subscription', 'external_id'].includes(k)) return k;
  if (full ? typeof body.email !== 'string' || !body.email.includes('@') : body.email !== undefined && (typeof body.email !== 'string' || !body.email.includes('@'))) return 'email';
  if (body.name !== undefined && typeof body.name !== 'string') return 'name';
  if (body.subscription !== undefined && body.subscription !== 'subscribed' && body.subscription !== 'unsubscribed') return 'subscription';
  if (body.external_id !== undefined && body.external_id !== null && typeof body.external_id !== 'string') return 'external_id';
  return undefined;
}

function canonical(value: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(value).toSorted().map((k) => [k, value[k]]));
}
