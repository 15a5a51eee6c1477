import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/index.js';
import { storeContract } from '../../src/testing/index.js';

const file = (): string => join(tmpdir(), `weir-store-${randomUUID()}.db`);
const remove = (path: string): void => {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
};

await storeContract('sqlite', () => openSqliteStore(file()), { destroy: (s) => remove((s as SqliteStore).file) });

describe('sqlite store', () => {
  it('opens from a sqlite: URL, in WAL mode with the chosen durability', async () => {
    const path = file();
    const store = (await openStore(`sqlite:${path}`, { durability: 'normal' })) as SqliteStore;
    try {
      expect(store.capabilities).toMatchObject({ dialect: 'sqlite', skipLocked: false, transactions: 'sync', sharing: 'host' });
      expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.db.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      await store.close();
      remove(path);
    }
    const full = await openSqliteStore(path);
    expect(full.db.pragma('synchronous', { simple: true })).toBe(2);
    await full.close();
    remove(path);
  });

  it('rejects a transaction on another file, and an async transaction function', async () => {
    const a = await openSqliteStore(file());
    const b = await openSqliteStore(file());
    try {
      expect(() => a.queue.enqueue(b.db, [{ id: 'x', topic: 't', key: null, payload: 1, headers: {}, runAt: 0 }], 0)).toThrow(
        expect.objectContaining({ code: 'WEIR_INVALID_OPTION' }),
      );
      await expect(a.transaction(async () => 1)).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION' });
    } finally {
      await a.close();
      await b.close();
      remove(a.file);
      remove(b.file);
    }
  });

  it("joins a caller's own connection to the same file: the message commits or rolls back with its rows", async () => {
    const store = await openSqliteStore(file());
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(store.file);
    try {
      db.exec('CREATE TABLE orders (id TEXT PRIMARY KEY)');
      const place = db.transaction((id: string, fail: boolean) => {
        db.prepare('INSERT INTO orders (id) VALUES (?)').run(id);
        store.queue.enqueue(db, [{ id: `order:${id}`, topic: 'orders', key: null, payload: { id }, headers: {}, runAt: 0 }], 0);
        if (fail) throw new Error('rollback');
      });
      place('o1', false);
      expect(() => place('o2', true)).toThrow('rollback');
      expect(db.prepare('SELECT id FROM orders').pluck().all()).toEqual(['o1']);
      expect((await store.queue.get('order:o1'))?.state).toBe('ready');
      expect(await store.queue.get('order:o2')).toBeNull();
    } finally {
      db.close();
      await store.close();
      remove(store.file);
    }
  });

  it('rejects unknown URL schemes and bad options', async () => {
    await expect(openStore('mysql://x')).rejects.toMatchObject({ code: 'WEIR_INVALID_OPTION', option: 'url' });
    await expect(openSqliteStore(file(), { durability: 'fast' as never })).rejects.toMatchObject({ option: 'durability' });
  });
});
