import { describe, expect, it } from 'vitest';
import { compose, handle, type Middleware } from './compose.js';
import { HttpError } from './problem.js';

const tag: Middleware = async (ctx, next) => {
  ctx.headers.set('x-trace', 't1');
  return next();
};

const twice: Middleware = async (_ctx, next) => {
  await next();
  await next();
};

describe('compose and handle', () => {
  it('runs middleware onion-style, outermost first', async () => {
    const order: string[] = [];
    const mw = (name: string): Middleware => async (_ctx, next) => {
      order.push(`${name} in`);
      await next();
      order.push(`${name} out`);
    };
    await handle(new Request('http://x/'), [mw('a'), compose(mw('b'), mw('c'))], () => {
      order.push('handler');
      return new Response('ok');
    });
    expect(order).toEqual(['a in', 'b in', 'c in', 'handler', 'c out', 'b out', 'a out']);
  });

  it('turns an error into a problem response at the layer that threw, visible to outer layers', async () => {
    const seen: Array<number | undefined> = [];
    const outer: Middleware = async (ctx, next) => {
      await next();
      seen.push(ctx.res?.status);
      expect(ctx.error).toBeInstanceOf(Error);
    };
    const res = await handle(new Request('http://x/'), [outer], () => {
      throw new Error('secret detail');
    });
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.text()).not.toContain('secret detail');
    expect(seen).toEqual([500]);
    const typed = await handle(new Request('http://x/'), [], () => {
      throw new HttpError('WEIR_FORBIDDEN', 403, 'no', { headers: { 'x-why': 'because' } });
    });
    expect(typed.status).toBe(403);
    expect(typed.headers.get('x-why')).toBe('because');
  });

  it('applies ctx.headers to whatever response is sent, errors included', async () => {
    const failed = await handle(new Request('http://x/'), [tag], () => {
      throw new Error('x');
    });
    expect(failed.headers.get('x-trace')).toBe('t1');
    const fetched = await handle(new Request('http://x/'), [tag], () => Response.redirect('http://x/y', 302));
    expect(fetched.headers.get('x-trace')).toBe('t1');
  });

  it('answers 404 without a response, and a middleware may answer by returning one', async () => {
    expect((await handle(new Request('http://x/'), [async () => undefined], () => new Response('never'))).status).toBe(404);
    expect((await handle(new Request('http://x/'), [() => new Response('early', { status: 202 })], () => new Response('never'))).status).toBe(202);
  });

  it('refuses next() twice in one middleware', async () => {
    expect((await handle(new Request('http://x/'), [twice], () => new Response('ok'))).status).toBe(500);
  });
});
