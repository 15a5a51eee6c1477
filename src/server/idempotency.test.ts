import { describe, expect, it } from 'vitest';
import { WeirError } from '../errors.js';
import { openSqliteStore } from '../store/sqlite/index.js';
import { FakeClock } from '../testing/fake-clock.js';
import { handle } from './compose.js';
import { idempotency } from './idempotency.js';
import { parseIdempotencyKey, requestFingerprint } from './idempotency-key.js';
import { memoryIdempotencyStore } from './idempotency-memory.js';

const post = (key: string, body = '{"a":1}') => new Request('http://x/orders', { method: 'POST', body, headers: { 'idempotency-key': key } });

describe('Idempotency-Key syntax', () => {
  it('accepts an RFC 9651 String or a bare token', () => {
    expect(parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toEqual({ key: '8e03978e-40d5-43e8-bc93-6894a57f9324' });
    expect(parseIdempotencyKey(' order:42/retry=1 ')).toEqual({ key: 'order:42/retry=1' });
  });

  it.each([
    ['', 'empty'],
    ['""', 'empty'],
    ['"a b"', 'charset'],
    ['a b', 'syntax'],
    ['"a";p=1', 'syntax'],
    ['"a", "b"', 'syntax'],
    ['"x', 'syntax'],
    ['é', 'charset'],
    [`"${'k'.repeat(256)}"`, 'too_long'],
  ])('refuses %j (%s)', (raw, problem) => {
    expect(parseIdempotencyKey(raw)).toEqual({ problem });
  });

  it('fingerprints method, target and body', () => {
    const base = requestFingerprint('POST', '/orders', Buffer.from('{}'));
    expect(requestFingerprint('post', '/orders', Buffer.from('{}'))).toBe(base);
    expect(requestFingerprint('PATCH', '/orders', Buffer.from('{}'))).not.toBe(base);
    expect(requestFingerprint('POST', '/orders?x=1', Buffer.from('{}'))).not.toBe(base);
    expect(requestFingerprint('POST', '/orders', Buffer.from('{ }'))).not.toBe(base);
  });
});

describe('idempotency()', () => {
  it('validates its options eagerly', () => {
    expect(() => idempotency({} as never)).toThrow(expect.objectContaining({ option: 'idempotency.store' }));
    expect(() => idempotency({ store: memoryIdempotencyStore(), lockMs: 0 })).toThrow(expect.objectContaining({ option: 'idempotency.lockMs' }));
    expect(() => idempotency({ store: memoryIdempotencyStore(), requireKeyFor: 'POST' as never })).toThrow(expect.objectContaining({ option: 'idempotency.requireKeyFor' }));
  });

  it('answers 503 when the store fails before execution, and runs nothing', async () => {
    const broken = memoryIdempotencyStore();
    broken.begin = () => Promise.reject(new WeirError('WEIR_STORE', 'down'));
    let ran = 0;
    const res = await handle(post('k'), [idempotency({ store: broken })], () => {
      ran++;
      return new Response('ok');
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(ran).toBe(0);
  });

  it('stores a 4xx after markExecuted(), and releases an unmarked one', async () => {
    const store = memoryIdempotencyStore();
    let n = 0;
    const mw = [idempotency({ store })];
    const handler = (mark: boolean) => (c: import('./context.js').ServerContext) => {
      n++;
      if (mark) c.idempotency!.markExecuted();
      return Response.json({ n }, { status: 422 });
    };
    await handle(post('a'), mw, handler(false));
    expect((await handle(post('a'), mw, handler(false))).headers.get('idempotent-replayed')).toBeNull();
    await handle(post('b'), mw, handler(true));
    expect((await handle(post('b'), mw, handler(true))).headers.get('idempotent-replayed')).toBe('true');
    expect(n).toBe(3);
  });

  it('refuses transaction() on a store that cannot share one', async () => {
    const res = await handle(post('k'), [idempotency({ store: memoryIdempotencyStore() })], (c) => c.idempotency!.transaction(() => ({ status: 201 })));
    expect(res.status).toBe(500);
  });

  it('rolls the handler’s writes back when its lock expired and was taken over (fencing)', async () => {
    const store = await openSqliteStore(':memory:');
    store.db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)');
    const clock = new FakeClock();
    const mw = [idempotency({ store, clock, lockMs: 1000 })];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = handle(post('k'), mw, async (c) => {
      await held;
      return c.idempotency!.transaction((tx) => {
        (tx as typeof store.db).prepare('INSERT INTO orders (item) VALUES (?)').run('slow');
        return { status: 201, json: { by: 'slow' } };
      });
    });
    await new Promise((r) => setTimeout(r, 10));
    await clock.advance(1000);
    const taker = await handle(post('k'), mw, (c) =>
      c.idempotency!.transaction((tx) => {
        (tx as typeof store.db).prepare('INSERT INTO orders (item) VALUES (?)').run('taker');
        return { status: 201, json: { by: 'taker' } };
      }),
    );
    expect(await taker.json()).toEqual({ by: 'taker' });
    release();
    const late = await slow;
    expect(late.status).toBe(409);
    expect(store.db.prepare('SELECT item FROM orders').all()).toEqual([{ item: 'taker' }]);
    const replay = await handle(post('k'), mw, () => new Response('never'));
    expect(await replay.json()).toEqual({ by: 'taker' });
    await store.close();
  });
});
