/**
 * The audit trail on the real stores: queries by time, connection, correlation id and outcome,
 * the admin JSON shape, and retention, on SQLite and on PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditTrail, toAuditJson } from '../../src/observability/index.js';
import type { AuditEntry, AuditRecord } from '../../src/store/audit.js';
import { openPostgresStore } from '../../src/store/postgres/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import type { Store } from '../../src/store/types.js';
import { dropSchemas, postgresUrl, service, testSchema } from '../helpers/services.js';

const T0 = Date.UTC(2026, 0, 1);
const pgUp = await service('postgres', 'the audit trail on PostgreSQL (test/observability/audit-stores.test.ts)');
const schema = testSchema(import.meta.url);
afterAll(async () => {
  if (pgUp) await dropSchemas([schema]);
});

function entry(over: Partial<AuditEntry>): AuditEntry {
  return {
    ts: T0,
    direction: 'outbound',
    system: 'crm',
    requestId: randomUUID(),
    method: 'PATCH',
    path: '/v1/customers/crm_1',
    status: 200,
    outcome: 'ok',
    attempt: 1,
    durationMs: 3.5,
    correlationId: null,
    idempotencyKey: null,
    detail: {},
    ...over,
  };
}

const backends: Array<[string, boolean, () => Promise<{ store: Store; destroy: () => void }>]> = [
  [
    'sqlite',
    true,
    async () => {
      const file = join(tmpdir(), `weir-audit-${randomUUID()}.db`);
      return { store: await openSqliteStore(file), destroy: () => ['', '-wal', '-shm'].forEach((s) => rmSync(`${file}${s}`, { force: true })) };
    },
  ],
  ['postgres', pgUp, async () => ({ store: await openPostgresStore({ connectionString: await postgresUrl(), schema, max: 2 }), destroy: () => undefined })],
];

describe.each(backends)('auditTrail on %s', (_name, up, open) => {
  it.skipIf(!up)('is queryable by time, connection, correlation id and outcome; reads see unflushed entries; retention deletes', async () => {
    const { store, destroy } = await open();
    try {
      const trail = auditTrail({ store, flushIntervalMs: 60_000 });
      trail.record(entry({ ts: T0, correlationId: 'm1', outcome: 'http_error', status: 503 }));
      trail.record(entry({ ts: T0 + 1, correlationId: 'm1', outcome: 'ok', attempt: 2, idempotencyKey: 'm1:patch' }));
      trail.record(entry({ ts: T0 + 2, system: 'esp', correlationId: 'm2', outcome: 'rejected', status: null }));
      trail.record(entry({ ts: T0 + 3, system: 'esp', correlationId: 'm3', outcome: 'timeout', status: null }));

      const m1 = await trail.byCorrelation('m1');
      expect(m1.map((r) => [r.attempt, r.outcome, r.status])).toEqual([
        [1, 'http_error', 503],
        [2, 'ok', 200],
      ]);
      expect((await trail.query({ system: 'esp' })).map((r) => r.correlationId)).toEqual(['m3', 'm2']);
      expect((await trail.query({ outcome: 'rejected' })).map((r) => [r.correlationId, r.status])).toEqual([['m2', null]]);
      expect((await trail.query({ since: T0 + 1, until: T0 + 3 })).map((r) => r.ts)).toEqual([T0 + 2, T0 + 1]);
      expect(toAuditJson(m1[1] as AuditRecord)).toEqual({
        seq: expect.any(Number),
        ts: T0 + 1,
        direction: 'outbound',
        system: 'crm',
        request_id: expect.any(String),
        method: 'PATCH',
        path: '/v1/customers/crm_1',
        status: 200,
        outcome: 'ok',
        attempt: 2,
        duration_ms: 3.5,
        correlation_id: 'm1',
        idempotency_key: 'm1:patch',
      });
      expect(await trail.purge(T0 + 2)).toBe(2);
      expect((await trail.query()).map((r) => r.correlationId)).toEqual(['m3', 'm2']);
      await trail.close();
    } finally {
      await store.close();
      destroy();
    }
  });
});
