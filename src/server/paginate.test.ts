import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { paginate } from './paginate.js';

const secret = 'a-cursor-secret-of-enough-length';

const position = (r: { at: number; id: number }) => ({ sort: r.at, id: r.id });

describe('paginate', () => {
  it('round-trips a position; the cursor is opaque', () => {
    const p = paginate({ secret });
    const cursor = p.encode({ sort: '2026-01-01T00:00:00Z', id: 'ord_42' }, 'orders');
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(cursor, 'base64url').toString('latin1')).not.toContain('ord_42');
    expect(p.decode(cursor, 'orders')).toEqual({ sort: '2026-01-01T00:00:00Z', id: 'ord_42' });
  });

  it('refuses an altered, forged, foreign or expired cursor with 400 WEIR_CURSOR_INVALID', async () => {
    const clock = new FakeClock();
    const p = paginate({ secret, ttlMs: 60_000, clock });
    const cursor = p.encode({ sort: 5, id: 9 }, 'orders');
    const bytes = Buffer.from(cursor, 'base64url');
    bytes[20] = (bytes[20] as number) ^ 1;
    const invalid = (c: string, scope = 'orders') => {
      try {
        p.decode(c, scope);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    for (const bad of [bytes.toString('base64url'), 'not a cursor', '', 'AAAA', paginate({ secret: 'another-secret-of-enough-length' }).encode({ sort: 5, id: 9 }, 'orders')]) {
      expect(invalid(bad)).toMatchObject({ code: 'WEIR_CURSOR_INVALID', status: 400 });
    }
    expect(invalid(cursor, 'customers')).toMatchObject({ code: 'WEIR_CURSOR_INVALID', details: { reason: 'tampered' } });
    await clock.advance(60_001);
    expect(invalid(cursor)).toMatchObject({ details: { reason: 'expired' } });
  });

  it('accepts cursors of a previous secret during a rotation', () => {
    const before = paginate({ secret: 'the-old-secret-of-enough-length' }).encode({ sort: 1, id: 1 });
    expect(paginate({ secret, previousSecrets: ['the-old-secret-of-enough-length'] }).decode(before)).toEqual({ sort: 1, id: 1 });
  });

  it('cuts pages from limit + 1 rows, keyset style', () => {
    const rows = Array.from({ length: 7 }, (_, i) => ({ at: 100 + Math.floor(i / 2), id: i }));
    const p = paginate({ secret });
    const seen: number[] = [];
    let after: { sort: string | number; id: string | number } | undefined;
    for (;;) {
      const fetched = rows.filter((r) => after === undefined || r.at > (after.sort as number) || (r.at === after.sort && r.id > (after.id as number))).slice(0, 3 + 1);
      const page = p.page(fetched, { limit: 3, position });
      seen.push(...page.items.map((r) => r.id));
      if (page.nextCursor === undefined) break;
      after = p.decode(page.nextCursor);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(() => paginate({ secret: 'short' })).toThrow(expect.objectContaining({ option: 'paginate.secret' }));
  });
});
