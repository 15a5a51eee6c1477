/**
 * Shared pieces of the receiver tests: the flagship's two formats (signed here with node:crypto,
 * independently of Weir), and the receiver served by each `weir/server` adapter on a real socket.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { weir as expressWeir } from '../../src/server/express/index.js';
import { weirHooks } from '../../src/server/fastify/index.js';
import { weir as honoWeir } from '../../src/server/hono/index.js';
import type { HmacSchemeConfig, WebhookReceiver } from '../../src/webhooks/index.js';

export const CRM_SECRET = 'crm-webhook-secret-for-tests';
export const ESP_SECRET = 'esp-webhook-secret-for-tests';
export const crmScheme: HmacSchemeConfig = { name: 'crm', signatureHeader: 'X-CRM-Signature', format: 'params', signedContent: '{timestamp}.{body}' };
export const espScheme: HmacSchemeConfig = { name: 'esp', signatureHeader: 'X-ESP-Signature', prefix: 'sha256=' };

/** An ESP delivery: thin event, `X-ESP-Delivery` id, `sha256=<hex HMAC(body)>`. */
export function espDelivery(contactId = 'esp_1', delivery: string = randomUUID(), secret = ESP_SECRET): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ type: 'contact.unsubscribed', contact_id: contactId, occurred_at: '2026-01-01T00:00:00.000Z' });
  return { body, headers: { 'content-type': 'application/json', 'x-esp-delivery': delivery, 'x-esp-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` } };
}

/** A CRM delivery: `{event_id, type, occurred_at, data}`, `X-CRM-Signature: t=…,v1=<hex HMAC(t.body)>`. */
export function crmDelivery(
  o: { eventId?: string; customerId?: string; version?: number; t?: number; secret?: string } = {},
): { body: string; headers: Record<string, string>; eventId: string } {
  const eventId = o.eventId ?? `evt_${randomUUID()}`;
  const t = o.t ?? Math.floor(Date.now() / 1000);
  const data = { id: o.customerId ?? 'crm_1', email: 'a@example.com', name: 'Ada', status: 'active', marketing_opt_in: true, version: o.version ?? 1 };
  const body = JSON.stringify({ event_id: eventId, type: 'customer.updated', occurred_at: '2026-01-01T00:00:00.000Z', data });
  const v1 = createHmac('sha256', o.secret ?? CRM_SECRET).update(`${t}.${body}`).digest('hex');
  return { body, headers: { 'content-type': 'application/json', 'x-crm-signature': `t=${t},v1=${v1}` }, eventId };
}

export interface Served {
  readonly url: string;
  close(): Promise<void>;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** The receivers mounted at their paths in a Hono app on `@hono/node-server`. */
export async function serveHono(routes: Record<string, WebhookReceiver>): Promise<Served> {
  const app = new Hono();
  for (const [path, r] of Object.entries(routes)) app.post(path, honoWeir(r));
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => closeServer(server) };
}

/** The receivers in an Express app (mounted before any body parser, as the docs say). */
export async function serveExpress(routes: Record<string, WebhookReceiver>): Promise<Served> {
  const app = express();
  for (const [path, r] of Object.entries(routes)) app.post(path, expressWeir(r));
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => closeServer(server) };
}

/** The receivers as Fastify route hooks; the body is taken as a Buffer whatever its type. */
export async function serveFastify(routes: Record<string, WebhookReceiver>): Promise<Served> {
  const app = Fastify();
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  for (const [path, r] of Object.entries(routes)) app.post(path, { ...weirHooks(r) }, async () => undefined);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

/** POSTs over a real socket; rejects when no answer arrives within `deadlineMs` (the contract's 2 s by default). */
export async function post(url: string, body: string | Uint8Array, headers: Record<string, string>, deadlineMs = 2_000): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(deadlineMs) });
  return { status: res.status, text: await res.text() };
}
