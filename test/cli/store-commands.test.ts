import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { permanent } from '../../src/errors.js';
import { auditTrail } from '../../src/observability/audit.js';
import { createQueue } from '../../src/queue/queue.js';
import { openStore } from '../../src/store/open.js';
import type { Store } from '../../src/store/types.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const exec = promisify(execFile);
/** Any ANSI escape sequence starts with ESC. */
const ESC = String.fromCharCode(27);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI in a child process (stdout and stderr are pipes: not a TTY). */
function weir(args: string[], env: Record<string, string | undefined> = {}): Promise<Result> {
  const childEnv = { ...process.env, WEIR_STORE_URL: undefined, WEIR_DATA_DIR: undefined, ...env };
  return exec(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { cwd: root, timeout: 60_000, env: childEnv }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code?: number; stdout: string; stderr: string }) => ({ code: err.code ?? -1, stdout: err.stdout, stderr: err.stderr }),
  );
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let dir: string;
let url: string;
const s = (): string[] => ['--store', url];
const emailIds: string[] = [];
const orderIds: string[] = [];

/** Fills the store through the public API: dead letters from permanently failing handlers, and an audit trail. */
async function fill(store: Store): Promise<void> {
  const queue = createQueue(store, { pollMs: 50 });
  await queue.handle('emails', async (msg) => {
    throw permanent(new Error(`mailbox ${String((msg.payload as { n: number }).n)} rejected, see https://esp.test/why?token=abc123def`));
  });
  await queue.handle('orders', async () => {
    throw permanent(new Error('order not found'));
  });
  for (let n = 1; n <= 3; n++) {
    emailIds.push(
      await queue.enqueue('emails', { n, to: `u${n}@example.test`, apiKey: 'sk_live_supersecret' }, { key: `c-${n}`, headers: { authorization: 'Bearer tok_abcdefghijkl', 'x-trace': `t${n}` } }),
    );
  }
  for (let n = 1; n <= 2; n++) orderIds.push(await queue.enqueue('orders', { order: n }));
  await until(async () => (await queue.deadLetters.count()) === 5, 'five dead letters');
  await queue.stop({ graceMs: 1000 });

  const trail = auditTrail({ store });
  const base = Date.parse('2026-05-01T12:00:00Z');
  const entry = (i: number, system: string, outcome: string, status: number | null, correlationId: string) => ({
    ts: base + i * 1000,
    direction: 'outbound' as const,
    system,
    requestId: `req-${i}`,
    method: 'POST',
    path: `/contacts/${i}`,
    status,
    outcome,
    attempt: 1,
    durationMs: 12 + i,
    correlationId,
    idempotencyKey: i % 2 === 0 ? `idem-${i}` : null,
    detail: {},
  });
  trail.record(entry(1, 'crm', 'ok', 200, 'corr-a'));
  trail.record(entry(2, 'esp', 'http_error', 503, 'corr-a'));
  trail.record(entry(3, 'esp', 'ok', 200, 'corr-b'));
  trail.record(entry(4, 'crm', 'timeout', null, 'corr-b'));
  await trail.close();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weir-cli-'));
  url = `sqlite:${join(dir, 'weir.db')}`;
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('weir migrate', () => {
  it('creates the store, applies every migration, then finds nothing to do', { timeout: 60_000 }, async () => {
    const first = await weir(['migrate', ...s(), '--json']);
    expect(first.code).toBe(0);
    const report = JSON.parse(first.stdout) as { from: number; to: number; applied: { version: number; name: string }[] };
    expect(report.from).toBe(0);
    expect(report.applied.map((m) => m.version)).toEqual(Array.from({ length: report.to }, (_, i) => i + 1));

    const again = await weir(['migrate', ...s()]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`schema version ${report.to}`);
    expect(again.stdout).not.toMatch(/^\s+1\s/m);
    expect(again.stdout + again.stderr).not.toContain(ESC);

    const store = await openStore(url, { migrate: false });
    try {
      expect(await store.version()).toBe(report.to);
      await fill(store);
    } finally {
      await store.close();
    }
  });
});

describe('weir dlq', () => {
  it('lists dead letters as a table and as JSON, filtered by topic', { timeout: 60_000 }, async () => {
    const table = await weir(['dlq', 'list', ...s()]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+TOPIC\s+KEY\s+DEAD AT/);
    for (const id of [...emailIds, ...orderIds]) expect(table.stdout).toContain(id);
    expect(table.stdout).not.toContain(ESC);
    expect(table.stdout).not.toContain('abc123def');

    const json = await weir(['dlq', 'list', ...s(), '--topic', 'orders', '--json']);
    const parsed = JSON.parse(json.stdout) as { total: number; deadLetters: { id: string; topic: string; error: { code: string } }[] };
    expect(parsed.total).toBe(2);
    expect(parsed.deadLetters.map((d) => d.id).toSorted()).toEqual(orderIds.toSorted());
    expect(parsed.deadLetters.every((d) => d.error.code === 'WEIR_PERMANENT')).toBe(true);

    const limited = JSON.parse((await weir(['dlq', 'list', ...s(), '--limit', '2', '--since', '1h', '--json'])).stdout) as { total: number; deadLetters: unknown[] };
    expect(limited).toMatchObject({ total: 5 });
    expect(limited.deadLetters).toHaveLength(2);
    const future = JSON.parse((await weir(['dlq', 'list', ...s(), '--since', '2999-01-01', '--json'])).stdout) as { total: number };
    expect(future.total).toBe(0);
  });

  it('groups by error signature with counts', { timeout: 60_000 }, async () => {
    const json = await weir(['dlq', 'list', ...s(), '--group', '--json']);
    expect(json.code).toBe(0);
    const { groups } = JSON.parse(json.stdout) as { groups: { topic: string; count: number }[] };
    // Numbers are blanked in signatures, so the three mailbox failures form one group.
    expect(groups.map((g) => [g.topic, g.count])).toEqual([
      ['emails', 3],
      ['orders', 2],
    ]);
    const sinceJson = JSON.parse((await weir(['dlq', 'list', ...s(), '--group', '--since', '1d', '--json'])).stdout) as { groups: { count: number }[] };
    expect(sinceJson.groups.map((g) => g.count)).toEqual([3, 2]);
    const table = await weir(['dlq', 'list', ...s(), '--group']);
    expect(table.stdout).toMatch(/^COUNT\s+TOPIC\s+SIGNATURE/);
    expect(table.stdout).toMatch(/^\s+3\s+emails\s/m);
  });

  it('shows one dead letter with payload, headers, error, stack and history, secrets redacted', { timeout: 60_000 }, async () => {
    const id = emailIds[0] as string;
    const text = await weir(['dlq', 'show', id, ...s()]);
    expect(text.code).toBe(0);
    for (const section of ['headers', 'payload', 'stack', 'attempt history']) expect(text.stdout).toMatch(new RegExp(`^${section}$`, 'm'));
    expect(text.stdout).toContain('u1@example.test');
    expect(text.stdout).toContain('x-trace: t1');
    expect(text.stdout).toContain('WEIR_PERMANENT');
    for (const secret of ['sk_live_supersecret', 'tok_abcdefghijkl', 'abc123def']) expect(text.stdout).not.toContain(secret);
    expect(text.stdout).not.toContain(ESC);

    const json = JSON.parse((await weir(['dlq', 'show', id, ...s(), '--json'])).stdout) as {
      id: string;
      payload: { n: number; apiKey: string };
      headers: Record<string, string>;
      error: { code: string; stack: string };
      history: { outcome: string }[];
    };
    expect(json.id).toBe(id);
    expect(json.payload.n).toBe(1);
    expect(json.payload.apiKey).toBe('[REDACTED]');
    expect(json.headers.authorization).toBe('Bearer [REDACTED]');
    expect(json.error.code).toBe('WEIR_PERMANENT');
    expect(json.error.stack).toContain('Error');
    expect(json.history.at(-1)?.outcome).toBe('dead');

    const missing = await weir(['dlq', 'show', 'no-such-id', ...s(), '--json']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'WEIR_NOT_FOUND' } });
  });

  it('replays a dead letter: the message runs again and is done', { timeout: 60_000 }, async () => {
    const id = emailIds[0] as string;
    const res = await weir(['dlq', 'replay', id, ...s(), '--per-second', '50', '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ replayed: [id], notReplayed: [] });
    expect(res.stderr).not.toContain(ESC);

    const store = await openStore(url);
    try {
      expect((await store.queue.get(id))?.state).toMatch(/^(ready|waiting)$/);
      const queue = createQueue(store, { pollMs: 50 });
      const seen: string[] = [];
      await queue.handle('emails', async (msg) => {
        seen.push(msg.id);
      });
      await until(async () => (await store.queue.get(id))?.state === 'done', 'the replayed message to be done');
      await queue.stop({ graceMs: 1000 });
      expect(seen).toEqual([id]);
      expect(await store.deadLetters.count()).toBe(4);
    } finally {
      await store.close();
    }

    // Replaying it again: it is no dead letter any more, so the command fails after reporting.
    const again = await weir(['dlq', 'replay', id, ...s()]);
    expect(again.code).toBe(1);
    expect(again.stdout).toContain('replayed 0 dead letters');
  });

  it('discards by id and with --all, which needs --yes when not on a terminal', { timeout: 60_000 }, async () => {
    const id = emailIds[1] as string;
    const one = await weir(['dlq', 'discard', id, ...s(), '--json']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toEqual({ discarded: [id], notDiscarded: [] });

    const refused = await weir(['dlq', 'discard', '--all', '--topic', 'orders', ...s()]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--yes');

    const all = await weir(['dlq', 'discard', '--all', '--topic', 'orders', '--yes', ...s(), '--json']);
    expect(all.code).toBe(0);
    expect((JSON.parse(all.stdout) as { discarded: string[] }).discarded.toSorted()).toEqual(orderIds.toSorted());

    const left = JSON.parse((await weir(['dlq', 'list', ...s(), '--json'])).stdout) as { total: number; deadLetters: { id: string }[] };
    expect(left.deadLetters.map((d) => d.id)).toEqual([emailIds[2]]);
  });

  it('rejects ids together with --all, and neither, as usage errors', { timeout: 60_000 }, async () => {
    const both = await weir(['dlq', 'replay', 'x', '--all', ...s()]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--all');
    const bad = await weir(['dlq', 'replay', '--all', '--per-second', '0', ...s()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--per-second');
  });
});

describe('weir audit', () => {
  it('prints JSON lines in the AuditEntry shape, filtered', { timeout: 60_000 }, async () => {
    const res = await weir(['audit', ...s(), '--json']);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((e) => e.request_id)).toEqual(['req-4', 'req-3', 'req-2', 'req-1']);
    expect(lines[0]).toEqual({
      seq: expect.any(Number),
      ts: Date.parse('2026-05-01T12:00:04Z'),
      direction: 'outbound',
      system: 'crm',
      request_id: 'req-4',
      method: 'POST',
      path: '/contacts/4',
      status: null,
      outcome: 'timeout',
      attempt: 1,
      duration_ms: 16,
      correlation_id: 'corr-b',
      idempotency_key: 'idem-4',
    });
    expect(lines[3]).not.toHaveProperty('idempotency_key');

    const ids = async (args: string[]): Promise<string[]> =>
      (await weir(['audit', ...s(), '--json', ...args])).stdout.trim().split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { request_id: string }).request_id);
    expect(await ids(['--system', 'esp'])).toEqual(['req-3', 'req-2']);
    expect(await ids(['--outcome', 'http_error'])).toEqual(['req-2']);
    expect(await ids(['--correlation', 'corr-a'])).toEqual(['req-2', 'req-1']);
    expect(await ids(['--since', '2026-05-01T12:00:03Z'])).toEqual(['req-4', 'req-3']);
    const firstSeq = lines[3]?.seq as number;
    expect(await ids(['--after', String(firstSeq), '--limit', '2'])).toEqual(['req-2', 'req-3']);
  });

  it('prints a table without escape codes', { timeout: 60_000 }, async () => {
    const res = await weir(['audit', ...s(), '--system', 'crm']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^\s*SEQ\s+TIME\s+DIR\s+SYSTEM/);
    expect(res.stdout).toContain('2026-05-01T12:00:04Z');
    expect(res.stdout).not.toContain('req-3');
    expect(res.stdout + res.stderr).not.toContain(ESC);
  });
});

describe('store options', () => {
  it('a bad store URL is a usage error (exit 2) naming the option or variable', { timeout: 60_000 }, async () => {
    const flag = await weir(['dlq', 'list', '--store', 'mysql://db/weir']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/WEIR_INVALID_OPTION.*"--store"/);
    const env = await weir(['audit', '--json'], { WEIR_STORE_URL: 'weir.db' });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('WEIR_STORE_URL');
    expect(JSON.parse(env.stdout)).toMatchObject({ error: { code: 'WEIR_INVALID_OPTION' } });
  });

  it('uses WEIR_DATA_DIR, and refuses a store that does not exist yet (exit 1) except for migrate', { timeout: 60_000 }, async () => {
    const data = join(dir, 'data');
    const missing = await weir(['dlq', 'list'], { WEIR_DATA_DIR: data });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/WEIR_STORE.*weir migrate/);
    expect((await weir(['migrate'], { WEIR_DATA_DIR: data })).code).toBe(0);
    const listed = await weir(['dlq', 'list', '--json'], { WEIR_DATA_DIR: data });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual({ total: 0, deadLetters: [] });
  });
});
