import { describe, expect, it } from 'vitest';
import { handle } from './compose.js';
import { etag, expectedVersion, ifMatch, parseEntityTags, preconditionFailed, versionTag } from './etag.js';

describe('etag', () => {
  it('adds a strong ETag to GET 200 and answers a matching If-None-Match with 304', async () => {
    const first = await handle(new Request('http://x/orders/1'), [etag()], () => Response.json({ id: 1 }));
    const tag = first.headers.get('etag');
    expect(tag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(await first.json()).toEqual({ id: 1 });
    const again = await handle(new Request('http://x/orders/1', { headers: { 'if-none-match': `W/${tag}, "other"` } }), [etag()], () => Response.json({ id: 1 }));
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(tag);
    const changed = await handle(new Request('http://x/orders/1', { headers: { 'if-none-match': tag! } }), [etag()], () => Response.json({ id: 2 }));
    expect(changed.status).toBe(200);
  });
});

describe('ifMatch', () => {
  let version = 3;
  const mw = ifMatch({ current: () => version });
  const put = (headers: Record<string, string>) =>
    handle(new Request('http://x/orders/1', { method: 'PUT', headers, body: '{}' }), [mw], (c) => Response.json({ expected: expectedVersion(c) }));

  it('passes the current version and exposes it for a conditional write', async () => {
    const res = await put({ 'if-match': '"3"' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ expected: 3 });
    expect((await put({ 'if-match': '"1", "3"' })).status).toBe(200);
    expect((await put({ 'if-match': '*' })).status).toBe(200);
  });

  it('refuses a stale, weak or malformed If-Match with 412 and the current ETag', async () => {
    for (const value of ['"2"', 'W/"3"', 'three', '"3" junk']) {
      const res = await put({ 'if-match': value });
      expect(res.status).toBe(412);
      expect(res.headers.get('etag')).toBe('"3"');
      expect(await res.json()).toMatchObject({ code: 'WEIR_PRECONDITION_FAILED' });
    }
  });

  it('refuses a missing If-Match with 428, and lets GET through', async () => {
    const res = await put({});
    expect(res.status).toBe(428);
    expect(await res.json()).toMatchObject({ code: 'WEIR_PRECONDITION_REQUIRED' });
    expect((await handle(new Request('http://x/orders/1'), [mw], () => new Response('ok'))).status).toBe(200);
  });

  it('refuses any If-Match when the resource does not exist', async () => {
    version = undefined as unknown as number;
    expect((await put({ 'if-match': '*' })).status).toBe(412);
    version = 3;
  });

  it('parses entity-tag lists and builds tags', () => {
    expect(parseEntityTags('"a", W/"b" ,"c"')).toEqual(['"a"', 'W/"b"', '"c"']);
    expect(parseEntityTags('"a" "b"')).toBeUndefined();
    expect(versionTag(7)).toBe('"7"');
    expect(preconditionFailed(7).headers).toEqual({ etag: '"7"' });
  });
});
