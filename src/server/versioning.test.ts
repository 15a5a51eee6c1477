import { parseItem } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { handle } from './compose.js';
import { versioning } from './versioning.js';

const clock = new FakeClock(Date.UTC(2026, 2, 1));
const versions = {
  v1: { deprecatedAt: Date.UTC(2026, 0, 1), sunsetAt: Date.UTC(2026, 6, 1), link: 'https://api.example.com/migrate' },
  v2: {},
};
const ok = (c: { apiVersion?: string | undefined }) => new Response(c.apiVersion ?? '');

describe('versioning', () => {
  it('selects the version from the header, with deprecation and sunset headers for an old one', async () => {
    const mw = versioning({ versions, defaultVersion: 'v2', clock });
    const res = await handle(new Request('http://x/', { headers: { 'api-version': 'v1' } }), [mw], ok);
    expect(await res.text()).toBe('v1');
    const [date] = parseItem(res.headers.get('deprecation')!);
    expect((date as Date).getTime()).toBe(Date.UTC(2026, 0, 1));
    expect(res.headers.get('sunset')).toBe('Wed, 01 Jul 2026 00:00:00 GMT');
    expect(res.headers.get('link')).toBe('<https://api.example.com/migrate>; rel="deprecation"; type="text/html"');
    expect(res.headers.get('vary')).toBe('api-version');
    const current = await handle(new Request('http://x/'), [mw], ok);
    expect(await current.text()).toBe('v2');
    expect(current.headers.get('deprecation')).toBeNull();
  });

  it('selects the version from the path', async () => {
    const res = await handle(new Request('http://x/v1/orders'), [versioning({ versions, path: true, clock })], ok);
    expect(await res.text()).toBe('v1');
  });

  it('refuses an unknown version (400) and a missing one without default, and a sunset one (410)', async () => {
    const mw = versioning({ versions, clock });
    const unknown = await handle(new Request('http://x/', { headers: { 'api-version': 'v9' } }), [mw], ok);
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ code: 'WEIR_VERSION_UNSUPPORTED', supported: ['v1', 'v2'] });
    expect((await handle(new Request('http://x/'), [mw], ok)).status).toBe(400);
    const late = versioning({ versions, clock: new FakeClock(Date.UTC(2026, 6, 1)) });
    expect((await handle(new Request('http://x/', { headers: { 'api-version': 'v1' } }), [late], ok)).status).toBe(410);
  });
});
