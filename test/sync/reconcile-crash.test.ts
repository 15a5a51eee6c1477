import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { reconcile, reconcileReport } from '../../src/sync/index.js';
import { until, world, type World } from './setup.js';

/**
 * kill -9 in the middle of a reconciliation: a child process runs an apply reconciliation on the
 * same SQLite file against the two test systems (served by this process), is SIGKILLed once its
 * checkpoint is past the second page, and the run is resumed here with the same run id.
 */
const CHILD = fileURLToPath(new URL('./reconcile-child.ts', import.meta.url));
const N = 250;
const PAGE = 20;
const NEW = 5;

let w: World;
let child: ChildProcess | undefined;
afterEach(async () => {
  child?.kill('SIGKILL');
  await w.close();
});

interface Checkpoint {
  phase: string;
  report: { compared: number; state: string };
}

describe('reconciliation: kill -9 mid-run', () => {
  it('resumes at the last page checkpoint and repairs every drifted record exactly once', { timeout: 60_000 }, async () => {
    w = await world(undefined, { pageSize: PAGE });
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(w.crm.put({ email: `k${i}@x.io`, name: `n${i}` }).id);
    for (const id of ids) await w.sync.process({ side: 'left', id });
    const rightOf = async (leftId: string): Promise<string> => (await w.store.sync.getLink('contacts', 'left', leftId))!.rightId!;
    // Drift on every page: ESP emails edited out of band (CRM-authoritative: repaired on the ESP),
    // ESP names changed without a notification (a one-sided change: flows to the CRM), and new CRM
    // customers never synced (created on the ESP).
    const emailDrift = ids.filter((_, i) => i % 25 === 3);
    const nameDrift = ids.filter((_, i) => i % 50 === 10);
    for (const id of emailDrift) w.esp.edit(await rightOf(id), { email: `oops-${id}@x.io` });
    for (const id of nameDrift) w.esp.records.get(await rightOf(id))!.name = `renamed ${id}`;
    const fresh = Array.from({ length: NEW }, (_, i) => w.crm.put({ email: `new${i}@x.io`, name: `new ${i}` }).id);
    const espBase = w.esp.writes.length;
    const crmBase = w.crm.writes.length;

    const runId = 'crash-run';
    const key = `contacts:${runId}`;
    const checkpoint = async (): Promise<Checkpoint | undefined> =>
      (await w.store.kv.get<Checkpoint>('weir.sync.reconcile', key, Date.now()))?.value;
    child = spawn(process.execPath, ['--import', 'tsx', CHILD, w.file, w.crm.url, w.esp.url, runId, String(PAGE), '150'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => {
      const text = c.toString();
      if (!text.includes('ExperimentalWarning')) process.stderr.write(`[reconcile-child] ${text}`);
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child!.once('exit', (_code, signal) => resolve(signal)));
    await until(async () => {
      const c = await checkpoint();
      return c !== undefined && c.phase === 'left' && c.report.compared >= 2 * PAGE;
    }, 30_000);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(out).not.toContain('done');

    const atKill = (await checkpoint())!;
    expect(atKill.report.state).toBe('running');
    expect(atKill.phase).toBe('left');
    expect(atKill.report.compared % PAGE).toBe(0);
    expect(atKill.report.compared).toBeLessThan(N);
    const listsAtKill = w.crm.lists;
    expect(w.esp.writes.length).toBeGreaterThan(espBase); // some repairs were made before the kill (and must not be repeated)

    const done = await reconcile(w.sync, { mode: 'apply', runId });
    expect(done).toMatchObject({ id: runId, state: 'done' });
    expect(done.repairs.failed).toBe(0);
    // A record repaired on the CRM gets a newer updated_at and is listed (and compared, in sync) once more at the end.
    expect(done.compared).toBeGreaterThanOrEqual(N + NEW);
    expect(done.compared).toBeLessThanOrEqual(N + NEW + nameDrift.length);
    expect(await reconcileReport(w.sync, runId)).toMatchObject({ state: 'done', compared: done.compared });
    // Resumed, not restarted: only the CRM pages after the checkpoint were read again.
    expect(w.crm.lists - listsAtKill).toBeLessThanOrEqual(Math.ceil((N + NEW + nameDrift.length - atKill.report.compared) / PAGE));

    // Every repair applied exactly once, whether before or after the kill.
    const espWrites = w.esp.writes.slice(espBase);
    const crmWrites = w.crm.writes.slice(crmBase);
    const emailIds = await Promise.all(emailDrift.map(rightOf));
    for (const [i, rid] of emailIds.entries()) {
      expect(espWrites.filter((x) => x.id === rid)).toEqual([{ method: 'PATCH', id: rid, fields: ['email'] }]);
      expect(w.esp.records.get(rid)!.email).toBe(`k${ids.indexOf(emailDrift[i]!)}@x.io`);
    }
    for (const id of nameDrift) {
      expect(crmWrites.filter((x) => x.id === id)).toEqual([{ method: 'PATCH', id, fields: ['name'] }]);
      expect(w.crm.records.get(id)!.name).toBe(`renamed ${id}`);
    }
    const creates = espWrites.filter((x) => x.method === 'POST');
    expect(creates).toHaveLength(NEW);
    expect(new Set(creates.map((c) => w.esp.records.get(c.id)!.email))).toEqual(new Set(fresh.map((_, i) => `new${i}@x.io`)));
    for (const id of fresh) expect(w.esp.records.get(await rightOf(id))!.external_id).toBe(id);
    expect(espWrites).toHaveLength(emailDrift.length + NEW);
    expect(crmWrites.filter((x) => !fresh.includes(x.id))).toHaveLength(nameDrift.length);

    const second = await reconcile(w.sync, { mode: 'apply' });
    expect(second.repairs.attempted).toBe(0);
    expect(second.diffsByClass).toEqual({ missing_remote: 0, unlinked_remote: 0, missing_link: 0, field_drift: 0, duplicate: 0 });
  });
});
