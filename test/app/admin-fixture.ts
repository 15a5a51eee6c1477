import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig, env, startApp, type App } from '../../src/app/index.js';
import { permanent } from '../../src/errors.js';
import type { Connection } from '../../src/http/index.js';
import { saga, sagaRuntime, step, type Saga, type SagaRuntime } from '../../src/saga/index.js';
import type { Sync } from '../../src/sync/index.js';
import { contacts, until } from '../sync/setup.js';
import { adapter, TestSystem } from '../sync/systems.js';

export const TOKEN = 'admin-token-for-tests-123';
export const DLQ_TOPIC = 'jobs.welcome_email';

/** A small API answering 503 to every fourth request, after 5–40 ms, with rate-limit headers: errors, latency and a budget for the dashboard. */
async function billingServer(): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    n++;
    setTimeout(() => {
      const status = n % 4 === 0 ? 503 : 200;
      const reset = Math.ceil(Date.now() / 60_000) * 60;
      res.writeHead(status, {
        'content-type': 'application/json',
        date: new Date().toUTCString(),
        'x-ratelimit-limit': '600',
        'x-ratelimit-remaining': String(Math.max(0, 600 - (n % 600))),
        'x-ratelimit-reset': String(reset),
      });
      res.end(JSON.stringify(status === 200 ? { items: [] } : { error: 'unavailable' }));
    }, 5 + (n % 8) * 5);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export interface AdminWorld {
  readonly app: App;
  readonly url: string;
  readonly crm: TestSystem;
  readonly esp: TestSystem;
  readonly sync: Sync;
  /** Starts a `signup` saga run (`fail`: its second step fails for good, the first is compensated). */
  startSaga(input: { readonly id: string; readonly fail?: boolean }): Promise<string>;
  /** While true, the handler of {@link DLQ_TOPIC} fails permanently (dead letter at once). */
  failing: boolean;
  /** Messages the handler of {@link DLQ_TOPIC} completed. */
  readonly delivered: unknown[];
  /** Calls the admin API (Bearer {@link TOKEN} unless `token` is given; `null`: none). */
  call(method: string, path: string, o?: { readonly token?: string | null; readonly body?: unknown }): Promise<{ status: number; body: any; headers: Headers }>;
  /** Outbound traffic through the app's connections every 100 ms until the returned stop(). */
  traffic(): () => Promise<void>;
  /** Ids of a CRM customer processed into a linked ESP contact. */
  linked(fields: { email: string; name?: string }): Promise<{ l: string; r: string }>;
  /** The sync's queue topic has nothing left to do. */
  drained(): Promise<void>;
  close(): Promise<void>;
}

/**
 * An app with a real sync (`contacts`, the R1–R15 policies of test/sync/setup.ts) between two local
 * test systems, a flaky third API, a handler that dead-letters on demand, and a saga; admin API on a free port.
 */
export async function adminWorld(): Promise<AdminWorld> {
  const crm = await new TestSystem('crm').start();
  const esp = await new TestSystem('esp').start();
  const billing = await billingServer();
  const dir = mkdtempSync(join(tmpdir(), 'weir-admin-'));
  const state = { failing: true, delivered: [] as unknown[] };
  let sync!: Sync;
  let sagas!: SagaRuntime;
  let signupSaga!: Saga<{ id: string; fail?: boolean }>;
  const conns: Record<string, Connection> = {};
  const config = defineConfig({
    name: 'crm-esp-test',
    env: { TOKEN: env.secret() },
    admin: (e) => ({ port: 0, token: e.TOKEN }),
    alerts: { evaluateEveryMs: 250 },
    queue: { pollMs: 50 },
    async setup(app) {
      for (const [name, system] of [['crm', crm], ['esp', esp]] as const) {
        conns[name] = app.connection({ name, baseUrl: system.url, timeoutMs: 2000, policy: { retry: { attempts: 2 } } });
      }
      conns['billing'] = app.connection({ name: 'billing', baseUrl: billing.url, timeoutMs: 2000, policy: { retry: false } });
      // The test adapters, over the app's connections (their own connection is not used).
      const sides = { crm: adapter('crm', crm), esp: adapter('esp', esp) };
      await Promise.all([sides.crm.connection.close(), sides.esp.connection.close()]);
      const left = { ...sides.crm, connection: conns['crm'] as Connection };
      const right = { ...sides.esp, connection: conns['esp'] as Connection };
      const policies = contacts({ left, right, store: app.store, queue: app.queue, pageSize: 25 }).rt;
      sync = app.sync({ name: 'contacts', left, right, pageSize: 25, fields: Object.fromEntries(policies.policies), create: policies.create });
      await app.queue.handle(DLQ_TOPIC, async (msg) => {
        if (state.failing) throw permanent(new Error('mailbox rejected the welcome email'));
        state.delivered.push(msg.payload);
      });
      signupSaga = saga<{ id: string; fail?: boolean }>('signup', [
        step('reserve_seat', () => ({ seat: 1 }), () => undefined),
        step('charge_card', (ctx) => {
          if (ctx.input.fail === true) throw permanent(new Error('card declined'));
          return { charged: true };
        }),
      ]);
      sagas = sagaRuntime({ queue: app.queue, sagas: [signupSaga], clock: app.clock });
      await sagas.ready;
      app.every('poll', 60_000, () => undefined);
    },
  });
  const app = await startApp(config, { env: { TOKEN, WEIR_DATA_DIR: dir }, log: false });
  const url = app.admin?.url as string;
  const w: AdminWorld = {
    app,
    url,
    crm,
    esp,
    sync,
    startSaga: (input) => sagas.start(signupSaga, input, { id: input.id }),
    get failing() {
      return state.failing;
    },
    set failing(v: boolean) {
      state.failing = v;
    },
    delivered: state.delivered,
    async call(method, path, o = {}) {
      const token = o.token === undefined ? TOKEN : o.token;
      const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
      if (o.body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${url}${path}`, { method, headers, ...(o.body === undefined ? {} : { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }) });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Prometheus text, HTML
      }
      return { status: res.status, body, headers: res.headers };
    },
    traffic() {
      const run = { on: true };
      const loops = ['crm', 'esp', 'billing'].map(async (name) => {
        while (run.on) {
          await (conns[name] as Connection).get(name === 'billing' ? '/invoices' : '/records').then((r) => r.body.dump(), () => undefined);
          await new Promise((r) => setTimeout(r, 100));
        }
      });
      return async () => {
        run.on = false;
        await Promise.all(loops);
      };
    },
    async linked(fields) {
      const c = crm.put({ name: 'Ada', ...fields });
      await sync.process({ side: 'left', id: c.id });
      const link = await app.store.sync.getLink('contacts', 'left', c.id);
      return { l: c.id, r: link?.rightId as string };
    },
    async drained() {
      await until(async () => {
        const t = (await app.queue.stats()).find((s) => s.topic === sync.topic);
        return t === undefined || t.ready + t.scheduled + t.active + t.waiting === 0;
      }, 15_000);
    },
    async close() {
      await app.close({ graceMs: 100 });
      await crm.stop();
      await esp.stop();
      billing.server.closeAllConnections();
      await new Promise((r) => billing.server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return w;
}

/**
 * The flagship situations: an R6 conflict (ESP email edit reverted), an R7 `reconsent_required`
 * escalation, a name escalation inside the skew margin (R5), a dead letter, a CRM customer not yet
 * synced (reconciliation finds it), two saga runs (one completes, one compensates).
 */
export async function seed(w: AdminWorld): Promise<{ r6: { l: string; r: string }; r7: { l: string; r: string }; r5: { l: string; r: string }; unsynced: string; deadId: string }> {
  const r6 = await w.linked({ email: 'ada@x.io', name: 'Ada' });
  w.esp.edit(r6.r, { email: 'hijack@x.io' });
  await w.sync.process({ side: 'right', id: r6.r });

  const r7 = await w.linked({ email: 'una@x.io', name: 'Una' });
  w.esp.unsubscribe(r7.r, 'user');
  await w.sync.process({ side: 'right', id: r7.r });
  w.crm.edit(r7.l, { marketing_opt_in: true });
  await w.sync.process({ side: 'left', id: r7.l });

  const r5 = await w.linked({ email: 'bo@x.io', name: 'Bo' });
  const t = Date.now();
  w.crm.edit(r5.l, { name: 'Bo from CRM' }, 'user', t);
  w.esp.edit(r5.r, { name: 'Bo from ESP' }, 'user', t + 100);
  await w.sync.process({ side: 'right', id: r5.r });

  const unsynced = w.crm.put({ email: 'new@x.io', name: 'Newton' }).id;

  const deadId = await w.app.queue.enqueue(DLQ_TOPIC, { to: 'zoe@x.io', template: 'welcome' });
  await until(async () => (await w.app.queue.deadLetters.count()) === 1);

  await w.startSaga({ id: 'order-1001' });
  await w.startSaga({ id: 'order-1002', fail: true });
  await until(async () => (await w.app.store.sagas.list({})).filter((r) => r.state === 'completed' || r.state === 'compensated').length === 2);
  return { r6, r7, r5, unsynced, deadId };
}
