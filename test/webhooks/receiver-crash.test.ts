import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { espDelivery, post } from './receiver-helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/receiver-process.ts', import.meta.url));
const children: ChildProcess[] = [];
const files: string[] = [];

afterEach(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.length = 0;
  for (const f of files.splice(0)) for (const suffix of ['', '-wal', '-shm']) rmSync(`${f}${suffix}`, { force: true });
});

/** Starts a receiver process; resolves with its port once it serves. */
function start(file: string, mode: 'stall' | 'work'): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, file, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  child.stderr?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    if (!text.includes('ExperimentalWarning') && !text.includes('nodedir')) process.stderr.write(`[receiver ${mode}] ${text}`);
  });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      const match = /ready (\d+)/.exec(chunk.toString());
      if (match) resolve({ child, port: Number(match[1]) });
    });
    child.once('exit', (code, signal) => reject(new Error(`receiver exited before ready (${code ?? signal})`)));
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function until(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition still false');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('receiver crash safety (child processes, SQLite file, kill -9)', () => {
  it('kill -9 right after the 2xx: every accepted event is still processed exactly once, and redeliveries stay duplicates', async () => {
    const file = join(tmpdir(), `weir-receiver-crash-${randomUUID()}.db`);
    files.push(file);
    const deliveries = Array.from({ length: 12 }, (_, i) => espDelivery(`esp_${i}`, `crash-${i}`));

    // Process A accepts every delivery, leases some to handlers that never finish, and dies.
    const a = await start(file, 'stall');
    const first = await Promise.all(deliveries.map((d) => post(`http://127.0.0.1:${a.port}/webhooks/esp`, d.body, d.headers)));
    expect(first.map((r) => r.status)).toEqual(Array(12).fill(200));
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const state = (s: string): number => (db.prepare("SELECT count(*) AS n FROM weir_messages WHERE topic = 'esp-events' AND state = ?").get(s) as { n: number }).n;
      await until(() => state('active') > 0); // some are leased to A's stalled handlers: the reclaim path is exercised
      await kill9(a.child);
      const count = (): number => (db.prepare('SELECT count(*) AS n FROM effects').get() as { n: number }).n;
      expect(count()).toBe(0);
      expect((db.prepare("SELECT count(*) AS n FROM weir_messages WHERE topic = 'esp-events'").get() as { n: number }).n).toBe(12);

      // Process B starts on the same file; the provider retries every delivery (its answers were "lost").
      const b = await start(file, 'work');
      const again = await Promise.all(deliveries.map((d) => post(`http://127.0.0.1:${b.port}/webhooks/esp`, d.body, d.headers)));
      expect(again.map((r) => r.status)).toEqual(Array(12).fill(200));
      await until(() => count() === 12);
      await until(() => state('done') === 12);
      await kill9(b.child);

      const perMessage = db.prepare('SELECT message_id, count(*) AS n FROM effects GROUP BY message_id').all() as Array<{ message_id: string; n: number }>;
      expect(perMessage).toHaveLength(12);
      expect(perMessage.every((r) => r.n === 1)).toBe(true);
      const outcomes = db.prepare("SELECT outcome, count(*) AS n FROM weir_audit WHERE direction = 'inbound' GROUP BY outcome ORDER BY outcome").all();
      expect(outcomes).toEqual([
        { outcome: 'duplicate_ignored', n: 12 },
        { outcome: 'ok', n: 12 },
      ]);
    } finally {
      db.close();
    }
  });
});
