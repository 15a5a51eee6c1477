import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { type CrmSimulator, crmSimulator, type EspSimulator, espSimulator } from '../../src/testing/index.js';
import { hmacScheme, verify } from '../../src/webhooks/index.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

interface Reply {
  status: number | 'error';
  headers: IncomingHttpHeaders;
  json: any;
}

async function call(base: string, method: string, path: string, options: { headers?: Record<string, string>; body?: unknown; form?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.form !== undefined) {
    body = options.form;
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  try {
    const res = await request(base + path, { method: method as 'GET', headers, body: body ?? null });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, json: text === '' ? undefined : JSON.parse(text) };
  } catch {
    return { status: 'error', headers: {}, json: undefined };
  }
}

async function startCrm(options: Parameters<typeof crmSimulator>[0] = {}): Promise<CrmSimulator> {
  const crm = await crmSimulator(options).start();
  open.push(crm);
  return crm;
}

async function startEsp(options: Parameters<typeof espSimulator>[0] = {}): Promise<EspSimulator> {
  const esp = await espSimulator(options).start();
  open.push(esp);
  return esp;
}

async function crmToken(crm: CrmSimulator, refresh = crm.state.refreshToken): Promise<Reply> {
  const { clientId, clientSecret } = crm.state;
  return call(crm.url, 'POST', '/oauth/token', { form: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, client_id: clientId, client_secret: clientSecret }).toString() });
}

async function crmAuth(crm: CrmSimulator): Promise<Record<string, string>> {
  const res = await crmToken(crm);
  return { authorization: `Bearer ${res.json.access_token}` };
}

/** A webhook receiver answering with the statuses given, then 200. */
async function hookReceiver(statuses: number[] = []): Promise<{ url: string; got: Array<{ headers: IncomingHttpHeaders; body: string }> }> {
  const got: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += String(c)));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(statuses.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got };
}

const crmScheme = hmacScheme({ name: 'crm', signatureHeader: 'X-CRM-Signature', format: 'params', signedContent: '{timestamp}.{body}' });
const espScheme = hmacScheme({ name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' });
async function waitFor(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(done()).toBe(true);
}

const ESP = { authorization: 'Bearer esp_test_key' };

describe('crmSimulator', () => {
  it('rotates single-use refresh tokens: a spent one gets 400 invalid_grant', async () => {
    const crm = await startCrm();
    const first = await crmToken(crm, 'rt_initial');
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ access_token: expect.any(String), expires_in: 3600, refresh_token: expect.any(String) });
    expect(first.json.refresh_token).not.toBe('rt_initial');
    const reused = await crmToken(crm, 'rt_initial');
    expect(reused.status).toBe(400);
    expect(reused.json.error).toBe('invalid_grant');
    expect(crm.state.spentRefreshTokenUses).toBe(1);
    expect((await crmToken(crm, first.json.refresh_token)).status).toBe(200);
    expect(crm.state.refreshes).toBe(2);
  });

  it('expires access tokens on its clock (401 token_expired) and refuses unknown ones', async () => {
    const clock = new FakeClock();
    const crm = await startCrm({ clock, accessTokenTtlSeconds: 60 });
    const auth = await crmAuth(crm);
    expect((await call(crm.url, 'GET', '/v1/customers', { headers: auth })).status).toBe(200);
    await clock.advance(60_000);
    const expired = await call(crm.url, 'GET', '/v1/customers', { headers: auth });
    expect([expired.status, expired.json.error]).toEqual([401, 'token_expired']);
    expect((await call(crm.url, 'GET', '/v1/customers')).status).toBe(401);
  });

  it('pages by (updated_at, id) with an inclusive updated_since and an opaque cursor', async () => {
    const clock = new FakeClock();
    const crm = await startCrm({ clock });
    const made = [];
    for (let i = 0; i < 5; i++) {
      made.push(crm.actions.create({ email: `p${i}@example.com`, name: `P${i}` }));
      await clock.advance(i === 2 ? 0 : 1000);
    }
    crm.actions.edit(made[0]!.id, { name: 'P0 again' });
    const auth = await crmAuth(crm);
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const res: Reply = await call(crm.url, 'GET', `/v1/customers?limit=2${after === null ? '' : `&after=${after}`}`, { headers: auth });
      expect(res.json.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.items.map((c: { id: string }) => c.id));
      after = res.json.next;
    } while (after !== null);
    expect(seen).toEqual([made[1]!.id, made[2]!.id, made[3]!.id, made[4]!.id, made[0]!.id]);
    const since = await call(crm.url, 'GET', `/v1/customers?updated_since=${encodeURIComponent(made[3]!.updated_at)}`, { headers: auth });
    expect(since.json.items.map((c: { id: string }) => c.id)).toEqual([made[3]!.id, made[4]!.id, made[0]!.id]);
    expect((await call(crm.url, 'GET', '/v1/customers?limit=51', { headers: auth })).status).toBe(400);
  });

  it('PATCH: If-Match mismatch is 412, a write bumps version and sets updated_by api, email is not writable', async () => {
    const crm = await startCrm();
    const c = crm.actions.create({ email: 'a@example.com', name: 'A' });
    const auth = await crmAuth(crm);
    expect((await call(crm.url, 'PATCH', `/v1/customers/${c.id}`, { headers: { ...auth, 'if-match': '7' }, body: { name: 'B' } })).status).toBe(412);
    const ok = await call(crm.url, 'PATCH', `/v1/customers/${c.id}`, { headers: { ...auth, 'if-match': '1' }, body: { name: 'B', marketing_opt_in: false } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ name: 'B', marketing_opt_in: false, version: 2, updated_by: 'api' });
    expect((await call(crm.url, 'PATCH', `/v1/customers/${c.id}`, { headers: auth, body: { email: 'x@example.com' } })).status).toBe(422);
    expect((await call(crm.url, 'GET', '/v1/customers/crm_nope', { headers: auth })).status).toBe(404);
  });

  it('sends its Date header from its skewed clock, and the skew can change at run time', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12));
    const crm = await startCrm({ clock, clockSkewMs: 90_000 });
    const res = await call(crm.url, 'GET', '/v1/customers');
    expect(Date.parse(String(res.headers.date))).toBe(Date.UTC(2026, 0, 1, 12, 1, 30));
    crm.faults.clockSkew(-60_000);
    const later = await call(crm.url, 'GET', '/v1/customers');
    expect(Date.parse(String(later.headers.date))).toBe(Date.UTC(2026, 0, 1, 11, 59));
  });

  it('rate-limits with a token bucket: 429 with Retry-After in seconds', async () => {
    const clock = new FakeClock();
    const crm = await startCrm({ clock, rateLimit: { perSecond: 1, burst: 2 } });
    expect((await call(crm.url, 'GET', '/v1/customers')).status).toBe(401);
    expect((await call(crm.url, 'GET', '/v1/customers')).status).toBe(401);
    const limited = await call(crm.url, 'GET', '/v1/customers');
    expect([limited.status, limited.headers['retry-after']]).toEqual([429, '1']);
    await clock.advance(1000);
    expect((await call(crm.url, 'GET', '/v1/customers')).status).toBe(401);
  });

  it('sends signed webhooks for user changes and API echoes, retried byte-identical with the same event_id', async () => {
    const hooks = await hookReceiver([500]);
    const crm = await startCrm({ webhook: { url: hooks.url, secret: 'crm-secret' }, webhookRetryDelaysMs: [10] });
    const c = crm.actions.create({ email: 'a@example.com', name: 'A' });
    await crm.webhooks.idle();
    const auth = await crmAuth(crm);
    await call(crm.url, 'PATCH', `/v1/customers/${c.id}`, { headers: auth, body: { name: 'Echo' } });
    await crm.webhooks.idle();
    expect(hooks.got).toHaveLength(3);
    const [failed, retried, echo] = hooks.got;
    expect(retried!.body).toBe(failed!.body);
    const created = JSON.parse(retried!.body);
    expect(created).toMatchObject({ type: 'customer.created', event_id: expect.stringMatching(/^evt_/), data: { id: c.id, version: 1 } });
    expect(JSON.parse(echo!.body)).toMatchObject({ type: 'customer.updated', data: { name: 'Echo', version: 2, updated_by: 'api' } });
    for (const h of hooks.got) verify(crmScheme, { secret: 'crm-secret', rawBody: h.body, headers: h.headers });
    expect(() => verify(crmScheme, { secret: 'other', rawBody: echo!.body, headers: echo!.headers })).toThrow(expect.objectContaining({ code: 'WEIR_SIGNATURE_INVALID' }));
    expect(crm.log.webhookCounters).toMatchObject({ emitted: 2, delivered: 2, attempts: 3 });
  });

  it('commit-then-drop applies the write once and answers nothing', async () => {
    const crm = await startCrm();
    const c = crm.actions.create({ email: 'a@example.com', name: 'A' });
    const auth = await crmAuth(crm);
    crm.faults.commitThenDrop(1);
    const dropped = await call(crm.url, 'PATCH', `/v1/customers/${c.id}`, { headers: auth, body: { name: 'B' } });
    expect(dropped.status).toBe('error');
    expect(crm.state.customers[0]).toMatchObject({ name: 'B', version: 2 });
    const again = await call(crm.url, 'PATCH', `/v1/customers/${c.id}`, { headers: { ...auth, 'if-match': '1' }, body: { name: 'B' } });
    expect(again.status).toBe(412);
    expect(crm.log.requests.map((r) => r.status)).toContain('dropped');
  });

  it('injects outages (503 or reset), error rates and latency, and records requests without secrets', async () => {
    const crm = await startCrm({ seed: 3 });
    crm.faults.outage({ forRequests: 1, retryAfterSeconds: 2 });
    const down = await call(crm.url, 'GET', '/v1/customers', { headers: { authorization: 'Bearer secret-token', 'x-request-id': 'req-1' } });
    expect([down.status, down.headers['retry-after']]).toEqual([503, '2']);
    crm.faults.outage({ mode: 'reset', forRequests: 1 });
    expect((await call(crm.url, 'GET', '/v1/customers')).status).toBe('error');
    crm.faults.errorRate(1, { status: 502, forRequests: 1 });
    expect((await call(crm.url, 'GET', '/v1/customers')).status).toBe(502);
    expect((await call(crm.url, 'GET', '/v1/customers')).status).toBe(401);
    const [first] = crm.log.requests;
    expect(first).toMatchObject({ status: 503, requestId: 'req-1', authorization: '[redacted]', fault: 'outage' });
    expect(JSON.stringify(crm.log.requests)).not.toContain('secret-token');
    expect(crm.log.counters.byStatus).toMatchObject({ '503': 1, reset: 1, '502': 1, '401': 1 });
  });
});

describe('espSimulator', () => {
  it('needs the API key, creates contacts with case-insensitive unique emails, finds them by email and external_id', async () => {
    const esp = await startEsp();
    expect((await call(esp.url, 'GET', '/v3/contacts')).status).toBe(401);
    const made = await call(esp.url, 'POST', '/v3/contacts', { headers: ESP, body: { email: 'Ada@Example.com', name: 'Ada', subscription: 'subscribed', external_id: 'crm_1' } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ id: expect.stringMatching(/^esp_/), version: 1, updated_by: 'api', unsubscribe_origin: null });
    const dup = await call(esp.url, 'POST', '/v3/contacts', { headers: ESP, body: { email: 'ada@example.COM', name: 'X', subscription: 'subscribed' } });
    expect([dup.status, dup.json]).toEqual([409, { error: 'email_exists', existing_id: made.json.id }]);
    expect((await call(esp.url, 'GET', '/v3/contacts?email=ADA%40example.com', { headers: ESP })).json.items).toHaveLength(1);
    expect((await call(esp.url, 'GET', '/v3/contacts?external_id=crm_1', { headers: ESP })).json.items[0].id).toBe(made.json.id);
    expect((await call(esp.url, 'GET', `/v3/contacts/${made.json.id}`, { headers: ESP })).status).toBe(200);
    expect((await call(esp.url, 'GET', '/v3/contacts/esp_nope', { headers: ESP })).status).toBe(404);
    expect((await call(esp.url, 'GET', '/v3/contacts?limit=101', { headers: ESP })).status).toBe(400);
  });

  it('Idempotency-Key: replays the stored answer, 422 for another body, 409 while the first is in flight', async () => {
    const clock = new FakeClock();
    const esp = await startEsp({ clock });
    const body = { email: 'a@example.com', name: 'A', subscription: 'subscribed' };
    esp.faults.latency(1000, { forRequests: 1 });
    const first = call(esp.url, 'POST', '/v3/contacts', { headers: { ...ESP, 'idempotency-key': 'k1' }, body });
    while (clock.pendingTimers === 0) await new Promise((r) => setTimeout(r, 5));
    const during = await call(esp.url, 'POST', '/v3/contacts', { headers: { ...ESP, 'idempotency-key': 'k1' }, body });
    expect([during.status, during.json.error]).toEqual([409, 'idempotency_in_progress']);
    await clock.advance(1000);
    const created = await first;
    expect(created.status).toBe(201);
    const replay = await call(esp.url, 'POST', '/v3/contacts', { headers: { ...ESP, 'idempotency-key': 'k1' }, body: { subscription: 'subscribed', name: 'A', email: 'a@example.com' } });
    expect([replay.status, replay.headers['idempotent-replayed'], replay.json.id]).toEqual([201, 'true', created.json.id]);
    expect((await call(esp.url, 'POST', '/v3/contacts', { headers: { ...ESP, 'idempotency-key': 'k1' }, body: { ...body, name: 'B' } })).status).toBe(422);
    expect(esp.state.contacts).toHaveLength(1);
    expect(esp.log.requests[0]).toMatchObject({ idempotencyKey: 'k1', authorization: '[redacted]' });
  });

  it('PATCH: 412 on version mismatch, 409 email_exists on a taken email, API unsubscribe has origin api', async () => {
    const esp = await startEsp();
    const a = esp.actions.create({ email: 'a@example.com' });
    esp.actions.create({ email: 'b@example.com' });
    expect((await call(esp.url, 'PATCH', `/v3/contacts/${a.id}`, { headers: { ...ESP, 'if-match': '9' }, body: { name: 'X' } })).status).toBe(412);
    const taken = await call(esp.url, 'PATCH', `/v3/contacts/${a.id}`, { headers: ESP, body: { email: 'B@example.com' } });
    expect([taken.status, taken.json.error]).toEqual([409, 'email_exists']);
    const unsub = await call(esp.url, 'PATCH', `/v3/contacts/${a.id}`, { headers: { ...ESP, 'if-match': '1' }, body: { subscription: 'unsubscribed' } });
    expect(unsub.json).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'api', version: 2, updated_by: 'api' });
  });

  it('sends X-RateLimit-* on every answer, 429 with Retry-After seconds, and records requests sent too early as abuse', async () => {
    const clock = new FakeClock();
    const esp = await startEsp({ clock, rateLimit: { perSecond: 0.5, burst: 1 } });
    const ok = await call(esp.url, 'GET', '/v3/contacts', { headers: ESP });
    expect([ok.headers['x-ratelimit-limit'], ok.headers['x-ratelimit-remaining'], ok.headers['x-ratelimit-reset']]).toEqual(['1', '0', '2']);
    const limited = await call(esp.url, 'GET', '/v3/contacts', { headers: ESP });
    expect([limited.status, limited.headers['retry-after'], limited.headers['x-ratelimit-limit']]).toEqual([429, '2', '1']);
    expect(esp.state.abuse).toEqual([]);
    await clock.advance(1000);
    expect((await call(esp.url, 'GET', '/v3/contacts', { headers: ESP })).status).toBe(429);
    expect(esp.state.abuse).toHaveLength(1);
    await clock.advance(3000);
    expect((await call(esp.url, 'GET', '/v3/contacts', { headers: ESP })).status).toBe(200);
    expect(esp.state.abuse).toHaveLength(1);
    expect((await call(esp.url, 'GET', '/v3/contacts')).headers['x-ratelimit-limit']).toBe('1');
  });

  it('names Retry-After as an HTTP-date on its skewed clock when configured', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const esp = await startEsp({ clock, retryAfter: 'http-date', clockSkewMs: 30_000, rateLimit: { perSecond: 1, burst: 1 } });
    await call(esp.url, 'GET', '/v3/contacts', { headers: ESP });
    const limited = await call(esp.url, 'GET', '/v3/contacts', { headers: ESP });
    expect(limited.status).toBe(429);
    const named = Date.parse(String(limited.headers['retry-after']));
    const date = Date.parse(String(limited.headers.date));
    expect(date).toBe(Date.UTC(2026, 0, 1, 0, 0, 30));
    expect(named - date).toBe(1000);
    esp.faults.rateLimitStorm({ forRequests: 1, retryAfterSeconds: 5 });
    const storm = await call(esp.url, 'GET', '/v3/contacts', { headers: ESP });
    expect(storm.status).toBe(429);
    expect(Date.parse(String(storm.headers['retry-after'])) - date).toBe(5000);
  });

  it('sends thin signed webhooks with a stable X-ESP-Delivery for user actions; duplicate and lost faults', async () => {
    const hooks = await hookReceiver([503]);
    const esp = await startEsp({ webhook: { url: hooks.url, secret: 'esp-secret' }, webhookRetryDelaysMs: [10] });
    const c = esp.actions.create({ email: 'a@example.com', external_id: 'crm_1' });
    await esp.webhooks.idle();
    expect(hooks.got).toHaveLength(2);
    expect(hooks.got[1]!.headers['x-esp-delivery']).toBe(hooks.got[0]!.headers['x-esp-delivery']);
    hooks.got.length = 0;
    const unsub = esp.actions.unsubscribe(c.id);
    expect(unsub).toMatchObject({ subscription: 'unsubscribed', unsubscribe_origin: 'user', version: 2, updated_by: 'user' });
    await esp.webhooks.idle();
    const [hook] = hooks.got;
    expect(JSON.parse(hook!.body)).toEqual({ type: 'contact.unsubscribed', contact_id: c.id, occurred_at: unsub.updated_at });
    verify(espScheme, { secret: 'esp-secret', rawBody: hook!.body, headers: hook!.headers });
    hooks.got.length = 0;
    esp.faults.webhooks({ duplicateRate: 1 });
    esp.actions.edit(c.id, { name: 'N' });
    await esp.webhooks.idle();
    expect(hooks.got).toHaveLength(2);
    expect(hooks.got[0]!.headers['x-esp-delivery']).toBe(hooks.got[1]!.headers['x-esp-delivery']);
    esp.faults.clear();
    esp.faults.webhooks({ lostRate: 1 });
    esp.actions.delete(c.id);
    await esp.webhooks.idle();
    expect(hooks.got).toHaveLength(2);
    expect(esp.log.webhookCounters.lost).toBe(1);
    expect((await call(esp.url, 'GET', `/v3/contacts/${c.id}`, { headers: ESP })).status).toBe(404);
  });

  it('delivers late and reordered webhooks on its clock, and retries a delivery not answered within 5 s', async () => {
    const clock = new FakeClock();
    const hooks = await hookReceiver();
    const esp = await startEsp({ clock, webhook: { url: hooks.url, secret: 's' } });
    const c = esp.actions.create({ email: 'a@example.com' });
    await waitFor(() => hooks.got.length === 1);
    hooks.got.length = 0;
    esp.faults.webhooks({ reorderWindowMs: 1000 });
    for (const name of ['N1', 'N2', 'N3']) esp.actions.edit(c.id, { name });
    await clock.advance(999);
    expect(hooks.got).toHaveLength(0);
    await clock.advance(1);
    await waitFor(() => hooks.got.length === 3);
    expect(hooks.got.map((h) => JSON.parse(h.body).type)).toEqual(['contact.updated', 'contact.updated', 'contact.updated']);
    expect(new Set(hooks.got.map((h) => h.headers['x-esp-delivery'])).size).toBe(3);
    esp.faults.clear();
    esp.faults.webhooks({ delayRate: 1, delayMs: 5000 });
    hooks.got.length = 0;
    esp.actions.unsubscribe(c.id);
    await clock.advance(4999);
    expect(hooks.got).toHaveLength(0);
    await clock.advance(1);
    await waitFor(() => hooks.got.length === 1);
    await esp.webhooks.idle();
  });

  it('retries a webhook that gets no answer within 5 s, with the same delivery id', async () => {
    const clock = new FakeClock();
    const got: string[] = [];
    let hang = true;
    const server = createServer((req, res) => {
      got.push(String(req.headers['x-esp-delivery']));
      req.resume();
      if (hang) hang = false;
      else res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    open.push({ close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) });
    const esp = await startEsp({ clock, webhook: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, secret: 's' }, webhookRetryDelaysMs: [1000] });
    esp.actions.create({ email: 'a@example.com' });
    await waitFor(() => got.length === 1);
    await clock.advance(5000);
    await waitFor(() => esp.log.webhooks.length === 1);
    expect(esp.log.webhooks[0]!.status).toBe('timeout');
    await clock.advance(1000);
    await esp.webhooks.idle();
    expect(got).toHaveLength(2);
    expect(got[1]).toBe(got[0]);
    expect(esp.log.webhooks.map((w) => w.status)).toEqual(['timeout', 204]);
  });

  it('records an API resubscribe of a user-unsubscribed contact as a consent violation', async () => {
    const esp = await startEsp();
    const c = esp.actions.create({ email: 'a@example.com' });
    esp.actions.unsubscribe(c.id);
    await call(esp.url, 'PATCH', `/v3/contacts/${c.id}`, { headers: ESP, body: { subscription: 'subscribed' } });
    expect(esp.state.consentViolations).toEqual([{ contactId: c.id, at: expect.any(Number) }]);
  });
});
