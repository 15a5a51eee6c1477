import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { idempotency } from '../idempotency.js';
import { memoryIdempotencyStore } from '../idempotency-memory.js';
import { weir } from './index.js';

/** POSTs `chunks` (sent as separate writes, chunked encoding) with an idempotency key. */
function post(port: number, key: string, chunks: readonly string[]): Promise<{ status: number; replayed: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/orders', headers: { 'content-type': 'application/json', 'idempotency-key': `"${key}"` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, replayed: res.headers['idempotent-replayed'] as string | undefined, body }));
      },
    );
    req.on('error', reject);
    const write = (i: number): void => {
      if (i === chunks.length) return void req.end();
      req.write(chunks[i]);
      setTimeout(() => write(i + 1), 5);
    };
    write(0);
  });
}

describe('fastify adapter: the raw body tap', () => {
  it('fingerprints the raw bytes however they are chunked, leaves the parsed body to the handler, and removes itself', async () => {
    const app = Fastify();
    await app.register(weir, { use: [idempotency({ store: memoryIdempotencyStore() })] });
    const raws: FastifyRequest['raw'][] = [];
    let executions = 0;
    app.post('/orders', async (req, reply) => {
      raws.push(req.raw);
      executions++;
      return reply.code(201).send({ n: executions, body: req.body });
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const port = (app.server.address() as AddressInfo).port;
      const first = await post(port, 'k1', ['{"item":', '"bo', 'ok"}']);
      expect(first).toMatchObject({ status: 201, replayed: undefined });
      expect(JSON.parse(first.body)).toEqual({ n: 1, body: { item: 'book' } });
      const again = await post(port, 'k1', ['{"item":"book"}']);
      expect(again).toMatchObject({ status: 201, replayed: 'true', body: first.body });
      const other = await post(port, 'k1', ['{"item":', '"pen"}']);
      expect(other.status).toBe(422);
      expect(executions).toBe(1);
      // The tap is gone once the body ended: the stream emits through its prototype again.
      expect(raws).toHaveLength(1);
      expect(Object.hasOwn(raws[0]!, 'emit')).toBe(false);
    } finally {
      await app.close();
    }
  });
});
