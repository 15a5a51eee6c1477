/**
 * Canary secrets: planted in every place a credential can travel (Authorization, cookies, query
 * strings, JSON bodies, configured JSON paths, free text, response headers), then every byte Weir
 * wrote is searched for them: the SQLite audit file and its WAL, diagnostics messages as a logger
 * would print them, and the errors (message, stack, JSON, inspect).
 */
import { randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connection, HTTP_ATTEMPT_CHANNEL, type HttpAuth } from '../../src/http/index.js';
import { auditTrail } from '../../src/observability/audit.js';
import { BREAKER_CHANNEL, RETRY_CHANNEL } from '../../src/policy/index.js';
import { Secret } from '../../src/security/secret.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { reply, testServer } from './helpers.js';

const CANARIES = {
  bearer: 'CANARY-BEARER-7f3a9c1e',
  query: 'CANARY-QUERY-5b2d',
  password: 'CANARY-PASSWORD-31ee',
  cookie: 'CANARY-COOKIE-a41c',
  responseToken: 'CANARY-RESPONSE-TOKEN-0d9f',
  card: 'CANARY-CARD-4242',
  literal: 'CANARY-LITERAL-SECRET-e77b',
  setCookie: 'CANARY-SET-COOKIE-19aa',
  clientSecret: 'CANARY-CLIENT-SECRET-66c2',
};

describe('no secret is ever written', () => {
  it('audit rows (SQLite bytes), logs and errors contain none of the planted canaries', async () => {
    const file = join(tmpdir(), `weir-canary-${randomUUID()}.db`);
    const store = await openSqliteStore(file);
    const trail = auditTrail({ store, flushIntervalMs: 10 });
    const logs: string[] = [];
    const log = (m: unknown): void => void logs.push(inspect(m, { depth: 8 }), safeJson(m));
    for (const name of [HTTP_ATTEMPT_CHANNEL, RETRY_CHANNEL, BREAKER_CHANNEL]) subscribe(name, log);

    const server = await testServer((req, res, a) => {
      if (a.path.startsWith('/v1/ok')) return reply(res, 200, { access_token: CANARIES.responseToken, card: { number: CANARIES.card } });
      if (a.path.startsWith('/v1/text')) {
        res.statusCode = 400;
        res.end(`invalid key ${CANARIES.literal}; token=${CANARIES.responseToken}`);
        return;
      }
      if (a.path.startsWith('/v1/cut')) return reply(res, 400, { password: CANARIES.password, pad: 'x'.repeat(3_000), refresh_token: CANARIES.responseToken });
      if (req.headers.authorization === undefined) return reply(res, 401);
      reply(res, 503, { error: 'down', access_token: CANARIES.responseToken, card: { number: CANARIES.card }, echo: a.body }, {
        'set-cookie': `sid=${CANARIES.setCookie}; HttpOnly`,
        'retry-after': '0',
      });
    });
    const bearer: HttpAuth = {
      kind: 'static',
      apply: (r) => void (r.headers.authorization = `Bearer ${CANARIES.bearer}`),
    };
    const conn = connection({
      name: 'esp',
      baseUrl: `${server.url}/v1`,
      auth: bearer,
      audit: { sink: trail, bodies: { maxBytes: 4096 } },
      redact: { paths: ['card.number'], secrets: [Secret.of('ESP_LITERAL', CANARIES.literal)] },
      policy: { retry: { attempts: 2, backoff: () => 0 } },
    });

    const errors: unknown[] = [];
    const body = { email: 'a@example.com', password: CANARIES.password, card: { number: CANARIES.card }, client_secret: CANARIES.clientSecret };
    await conn
      .post(`/contacts?api_key=${CANARIES.query}&page=1`, body, { headers: { cookie: `session=${CANARIES.cookie}` }, idempotencyKey: 'op-1' })
      .catch((e: unknown) => errors.push(e));
    await conn.get('/text').catch((e: unknown) => errors.push(e));
    await conn.get('/cut', { query: { access_token: CANARIES.query } }).catch((e: unknown) => errors.push(e));
    const ok = await conn.post('/ok', body, { query: { token: CANARIES.query } });
    logs.push(await ok.text()); // the caller's own data: the only place a canary may appear
    logs.pop();
    await trail.close();
    await conn.close();
    await server.close();
    for (const name of [HTTP_ATTEMPT_CHANNEL, RETRY_CHANNEL, BREAKER_CHANNEL]) unsubscribe(name, log);

    expect(errors).toHaveLength(3);
    for (const e of errors) logs.push(String(e), (e as Error).stack ?? '', safeJson(e), inspect(e, { depth: 8 }));
    const rows = await store.audit.list({ limit: 1000 });
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const written = [
      readFileSync(file),
      readOptional(`${file}-wal`),
      Buffer.from(logs.join('\n')),
      Buffer.from(JSON.stringify(rows)),
      Buffer.from(JSON.stringify(conn.state())),
    ];
    await store.close();
    for (const s of ['', '-wal', '-shm']) rmSync(`${file}${s}`, { force: true });

    // The canaries did travel: the server saw them (so the test can fail).
    expect(server.arrivals.some((a) => a.headers.authorization === `Bearer ${CANARIES.bearer}` && a.body.includes(CANARIES.password))).toBe(true);
    expect(rows.some((r) => JSON.stringify(r.detail).includes('[REDACTED]'))).toBe(true);
    for (const [name, canary] of Object.entries(CANARIES)) {
      for (const [i, bytes] of written.entries()) {
        const at = bytes.indexOf(canary);
        if (at >= 0) console.log(name, i, bytes.subarray(Math.max(0, at - 300), at + 60).toString('utf8'));
        expect(bytes.includes(canary), `${name} leaked`).toBe(false);
      }
    }
  });
});

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

function readOptional(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch {
    return Buffer.alloc(0);
  }
}
