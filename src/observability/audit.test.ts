import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WeirError } from '../errors.js';
import type { AuditEntry, AuditQuery, AuditRecord, AuditStore } from '../store/audit.js';
import { FakeClock } from '../testing/fake-clock.js';
import { auditTrail } from './audit.js';

const T0 = Date.UTC(2026, 0, 1);

function entry(over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    ts: T0,
    direction: 'outbound',
    system: 'esp',
    requestId: randomUUID(),
    method: 'GET',
    path: '/v3/contacts',
    status: 200,
    outcome: 'ok',
    attempt: 1,
    durationMs: 3,
    correlationId: null,
    idempotencyKey: null,
    detail: {},
    ...over,
  };
}

/** An AuditStore in memory that can be told to fail, and counts its writes. */
function memoryStore() {
  const rows: AuditRecord[] = [];
  const state = { failing: false, appends: 0, purges: [] as number[] };
  const store: AuditStore = {
    async append(entries) {
      if (state.failing) throw new WeirError('WEIR_STORE', 'down');
      state.appends++;
      return entries.map((e) => {
        rows.push({ ...e, seq: rows.length + 1 });
        return rows.length;
      });
    },
    async list(q: AuditQuery = {}) {
      return rows.filter((r) => (q.correlationId === undefined || r.correlationId === q.correlationId) && (q.outcome === undefined || r.outcome === q.outcome));
    },
    async purge(before) {
      state.purges.push(before);
      const keep = rows.filter((r) => r.ts >= before);
      const n = rows.length - keep.length;
      rows.splice(0, rows.length, ...keep);
      return n;
    },
  };
  return { store, rows, state };
}

describe('auditTrail', () => {
  it('writes off the request path: nothing until the interval, then one batch', async () => {
    const clock = new FakeClock(T0);
    const m = memoryStore();
    const trail = auditTrail({ store: m.store, clock, flushIntervalMs: 500 });
    for (let i = 0; i < 5; i++) trail.record(entry());
    expect(m.rows).toHaveLength(0);
    expect(trail.pending).toBe(5);
    await clock.advance(499);
    expect(m.rows).toHaveLength(0);
    await clock.advance(1);
    expect(m.rows).toHaveLength(5);
    expect(m.state.appends).toBe(1);
    await trail.close();
  });

  it('flushIntervalMs 0: the entries of one event-loop turn are written in one batch before the loop moves on', async () => {
    const clock = new FakeClock(T0);
    const m = memoryStore();
    const trail = auditTrail({ store: m.store, clock, flushIntervalMs: 0 });
    for (let i = 0; i < 3; i++) trail.record(entry());
    expect(m.rows).toHaveLength(0); // not inside record(): the request path never writes
    await new Promise((r) => setImmediate(r)); // no timer, no clock advance
    expect(m.rows).toHaveLength(3);
    expect(m.state.appends).toBe(1);
    trail.record(entry());
    await new Promise((r) => setImmediate(r));
    expect(m.rows).toHaveLength(4);
    await trail.close();
  });

  it('writes as soon as a batch is full, in batches of batchSize', async () => {
    const clock = new FakeClock(T0);
    const m = memoryStore();
    const trail = auditTrail({ store: m.store, clock, batchSize: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 7; i++) trail.record(entry());
    await clock.advance(0);
    expect(m.rows).toHaveLength(7);
    expect(m.state.appends).toBe(3);
    await trail.close();
  });

  it('keeps entries when the store fails, writes them once it is back, and flushes on close', async () => {
    const clock = new FakeClock(T0);
    const m = memoryStore();
    const trail = auditTrail({ store: m.store, clock, flushIntervalMs: 100 });
    const errors: unknown[] = [];
    trail.onError((e) => errors.push(e));
    m.state.failing = true;
    trail.record(entry({ path: '/a' }));
    await clock.advance(100);
    expect(errors).toHaveLength(1);
    expect(trail.pending).toBe(1);
    m.state.failing = false;
    trail.record(entry({ path: '/b' }));
    await trail.close();
    expect(m.rows.map((r) => r.path)).toEqual(['/a', '/b']);
    trail.record(entry());
    expect(trail.dropped).toBe(1);
  });

  it('never grows past maxBuffered: the oldest entries are dropped and counted', async () => {
    const m = memoryStore();
    m.state.failing = true;
    const trail = auditTrail({ store: m.store, clock: new FakeClock(T0), maxBuffered: 3, flushIntervalMs: 60_000 });
    const drops: number[] = [];
    trail.onDrop(({ count }) => drops.push(count));
    for (let i = 1; i <= 5; i++) trail.record(entry({ path: `/${i}` }));
    expect(trail.pending).toBe(3);
    expect(trail.dropped).toBe(2);
    m.state.failing = false;
    await trail.flush();
    expect(m.rows.map((r) => r.path)).toEqual(['/3', '/4', '/5']);
    expect(drops).toEqual([1, 1]);
    await trail.close();
  });

  it('redacts on the way to disk, whoever recorded the entry', async () => {
    const m = memoryStore();
    const trail = auditTrail({ store: m.store, clock: new FakeClock(T0) });
    trail.record(entry({ path: '/cb?code=abc&state=1', detail: { note: 'Authorization: Bearer abcdefghijklmnop', password: 'pw' } }));
    await trail.close();
    expect(m.rows[0]?.path).toBe('/cb?code=[REDACTED]&state=1');
    expect(m.rows[0]?.detail).toEqual({ note: 'Authorization: Bearer [REDACTED]', password: '[REDACTED]' });
  });

  it('applies retention in the background and on demand', async () => {
    const clock = new FakeClock(T0);
    const m = memoryStore();
    const trail = auditTrail({ store: m.store, clock, retentionMs: 86_400_000, purgeIntervalMs: 3_600_000 });
    await clock.advance(0);
    expect(m.state.purges).toEqual([T0 - 86_400_000]);
    await clock.advance(3_600_000);
    expect(m.state.purges).toEqual([T0 - 86_400_000, T0 + 3_600_000 - 86_400_000]);
    expect(await trail.purge(T0 + 10)).toBe(0);
    await trail.close();
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects bad options by name', () => {
    expect(() => auditTrail({ store: {} as AuditStore })).toThrow(expect.objectContaining({ option: 'auditTrail.store' }));
    expect(() => auditTrail({ store: memoryStore().store, batchSize: 0 })).toThrow(expect.objectContaining({ option: 'auditTrail.batchSize' }));
  });
});
