import { describe, expect, it } from 'vitest';
import { ResponseBody } from './body.js';
import type { DispatchController } from './call.js';

function controller() {
  const c = { aborted: false, paused: false, reason: null as Error | null, resumes: 0 };
  const ctl: DispatchController & { resumes: number } = {
    get aborted() {
      return c.aborted;
    },
    get paused() {
      return c.paused;
    },
    get reason() {
      return c.reason;
    },
    get resumes() {
      return c.resumes;
    },
    abort(reason: Error) {
      c.aborted = true;
      c.reason = reason;
    },
    pause() {
      c.paused = true;
    },
    resume() {
      c.paused = false;
      c.resumes++;
    },
  };
  return ctl;
}

describe('ResponseBody', () => {
  it('collects chunks delivered before and after text() was called', async () => {
    const body = new ResponseBody(controller());
    body.deliver(Buffer.from('{"a":'));
    const text = body.text();
    body.deliver(Buffer.from('1}'));
    body.end();
    expect(await text).toBe('{"a":1}');
  });

  it('json() of an empty body is undefined; a second read is refused', async () => {
    const body = new ResponseBody(controller());
    body.end();
    expect(await body.json()).toBeUndefined();
    await expect(body.text()).rejects.toThrow(TypeError);
  });

  it('streams with backpressure: a full buffer pauses the response, reading resumes it', async () => {
    const ctl = controller();
    const body = new ResponseBody(ctl);
    const big = Buffer.alloc(20_000, 97);
    body.deliver(big);
    expect(ctl.paused).toBe(true);
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((r) => setImmediate(r));
    expect(ctl.paused).toBe(false);
    body.end();
    await new Promise((r) => body.once('end', r));
    expect(Buffer.concat(chunks).length).toBe(20_000);
  });

  it('dump() drops the connection past 128 KiB instead of reading on', async () => {
    const ctl = controller();
    const body = new ResponseBody(ctl);
    const dumped = body.dump();
    for (let i = 0; i < 5 && !ctl.aborted; i++) body.deliver(Buffer.alloc(64 * 1024));
    expect(ctl.aborted).toBe(true);
    body.fail(new Error('aborted'));
    await expect(dumped).resolves.toBeUndefined();
  });

  it('a failure after the headers rejects the reader', async () => {
    const body = new ResponseBody(controller());
    const text = body.text();
    body.fail(Object.assign(new Error('socket closed'), { code: 'UND_ERR_SOCKET' }));
    await expect(text).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });
});
