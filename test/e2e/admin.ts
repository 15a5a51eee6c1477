// HTTP clients the e2e tests use from outside the child: the admin API (Bearer token) and raw,
// hand-signed webhook deliveries to the hook port (valid, forged, stale, duplicate).
import { createHmac, randomUUID } from 'node:crypto';
import type { AuditEntry, AuditPage, Conflict, Escalation, Report } from './contract.js';
import { until } from './harness.js';

export interface HttpAnswer<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly text: string;
  readonly ms: number;
}

async function call<T>(url: string, init: RequestInit): Promise<HttpAnswer<T>> {
  const started = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics)
  }
  return { status: res.status, body: body as T, text, ms: Date.now() - started };
}

/** The admin API on `WEIR_ADMIN_PORT`. */
export class AdminClient {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  /** Any request; `token: null` sends no Authorization header, a string sends that one. */
  request<T = unknown>(method: string, path: string, options: { body?: unknown; token?: string | null } = {}): Promise<HttpAnswer<T>> {
    const token = options.token === undefined ? this.token : options.token;
    const headers: Record<string, string> = {};
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return call<T>(`${this.url}${path}`, { method, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
  }

  /** GET that must answer 200; returns the body. */
  async get<T>(path: string): Promise<T> {
    const a = await this.request<T>('GET', path);
    if (a.status !== 200) throw new Error(`GET ${path} → ${a.status} ${a.text.slice(0, 300)}`);
    return a.body;
  }

  async post<T>(path: string, body: unknown): Promise<HttpAnswer<T>> {
    return this.request<T>('POST', path, { body });
  }

  conflicts(): Promise<Conflict[]> {
    return this.get<Conflict[]>('/conflicts');
  }

  escalations(state?: 'open' | 'resolved'): Promise<Escalation[]> {
    return this.get<Escalation[]>(state === undefined ? '/escalations' : `/escalations?state=${state}`);
  }

  /** Every audit entry, paging through `after`/`next`. */
  async audit(limit = 500): Promise<AuditEntry[]> {
    const all: AuditEntry[] = [];
    let after: string | undefined;
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await this.get<AuditPage>(`/audit?limit=${limit}${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`);
      all.push(...page.entries);
      if (page.next === null || page.next === undefined || page.entries.length === 0) return all;
      if (String(page.next) === after) throw new Error(`GET /audit: next did not advance (${after})`);
      after = String(page.next);
    }
    throw new Error('GET /audit: too many pages');
  }

  /** Starts a reconciliation and waits for its report to leave `running`. */
  async reconcile(mode: 'dry_run' | 'apply', timeoutMs = 30_000): Promise<Report> {
    const started = await this.post<{ id: string }>('/reconciliations', { mode });
    if (started.status < 200 || started.status >= 300 || typeof started.body?.id !== 'string') {
      throw new Error(`POST /reconciliations ${mode} → ${started.status} ${started.text.slice(0, 300)}`);
    }
    const id = started.body.id;
    return until(
      async () => {
        const r = await this.get<Report>(`/reconciliations/${encodeURIComponent(id)}`);
        return r.state === 'running' ? undefined : r;
      },
      `reconciliation ${id} (${mode}) to finish`,
      timeoutMs,
    );
  }
}

const hmac = (secret: string, content: string): string => createHmac('sha256', secret).update(content).digest('hex');

/** A CRM webhook delivery signed `X-CRM-Signature: t=…,v1=…` (t = unix seconds, default now). */
export function crmDelivery(secret: string, body: string, tSeconds = Math.floor(Date.now() / 1000)): Record<string, string> {
  return { 'content-type': 'application/json', 'x-crm-signature': `t=${tSeconds},v1=${hmac(secret, `${tSeconds}.${body}`)}` };
}

/** An ESP webhook delivery signed `X-ESP-Signature: sha256=…` with `X-ESP-Delivery`. */
export function espDelivery(secret: string, body: string, deliveryId: string = randomUUID()): Record<string, string> {
  return { 'content-type': 'application/json', 'x-esp-signature': `sha256=${hmac(secret, body)}`, 'x-esp-delivery': deliveryId };
}

/** POSTs a raw body to the hook server (`/webhooks/crm` or `/webhooks/esp`). */
export function deliver(hookUrl: string, system: 'crm' | 'esp', body: string, headers: Record<string, string>): Promise<HttpAnswer> {
  return call(`${hookUrl}/webhooks/${system}`, { method: 'POST', headers, body });
}
