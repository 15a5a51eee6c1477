import { describe, expect, it } from 'vitest';
import { planSync, type PlanInput } from './conflicts.js';
import { InvalidOptionError } from '../errors.js';
import { authoritative, equivalent, ignore, sticky, type FieldPolicy } from './policies.js';

const input = (over: Partial<PlanInput>, policies: Record<string, FieldPolicy[]>): PlanInput => ({
  policies: new Map(Object.entries(policies)),
  baseline: { left: { s: false }, right: { s: false } },
  left: { s: false },
  right: { s: false },
  records: { left: {}, right: { origin: 'user' } },
  updatedAt: () => 0,
  editor: () => undefined,
  skew: () => ({ offsetMs: 0, uncertaintyMs: 500, samples: 0 }),
  frozen: new Set(),
  ...over,
});
const isUnsub = (v: unknown): boolean => String(v).startsWith('unsub');
const unsub = sticky('unsub', { side: 'right', origin: (r) => (r as { origin?: string }).origin === 'user', escalate: 'reconsent_required', name: 'unsubscribe_wins' });

describe('planSync', () => {
  it('sticky: an opt-in and a user unsubscribe both since the last sync: the unsubscribe wins, recorded (R8)', () => {
    const plan = planSync(input({ baseline: { left: { s: 'opted_out' }, right: { s: 'sub' } }, left: { s: 'opted_in' }, right: { s: 'unsub' } }, { s: [unsub, authoritative('left')] }));
    expect(plan.writes).toEqual({ left: { s: 'unsub' }, right: {} });
    expect(plan.conflicts).toEqual([{ field: 's', baseline: { left: 'opted_out', right: 'sub' }, left: 'opted_in', right: 'unsub', resolution: 'resolved_by_policy', policy: 'unsubscribe_wins', finalValue: 'unsub' }]);
  });

  it('sticky: a later opt-in on the other side escalates and writes nothing; a resolution may not overwrite the sticky side', () => {
    const plan = planSync(input({ baseline: { left: { s: 'unsub' }, right: { s: 'unsub' } }, left: { s: 'opted_in' }, right: { s: 'unsub' } }, { s: [unsub] }));
    expect(plan.writes).toEqual({ left: {}, right: {} });
    expect(plan.escalations).toMatchObject([{ kind: 'reconsent_required', suggestion: 'unsub' }]);
    expect(unsub.mayWrite?.('right', 'opted_in', { records: { left: {}, right: { origin: 'user' } }, right: 'unsub' } as never)).toBe(false);
  });

  it('ignore accepts the divergence; frozen fields are left alone; an out-of-band change goes through the policy', () => {
    const ig = planSync(input({ left: { s: 1 }, right: { s: 2 } }, { s: [ignore()] }));
    expect(ig.baseline).toEqual({ left: { s: 1 }, right: { s: 2 } });
    const frozen = planSync(input({ left: { s: 1 }, frozen: new Set(['s']) }, {}));
    expect(frozen.writes).toEqual({ left: {}, right: {} });
    const drift = { baseline: { left: { s: 1 }, right: { s: 1 } }, left: { s: 1 }, right: { s: 2 } };
    expect(planSync(input(drift, { s: [authoritative('left')] })).writes.right).toEqual({ s: 1 });
    // Accepted divergence (baselines differ, nobody changed): nothing to do.
    expect(planSync(input({ baseline: { left: { s: 1 }, right: { s: 2 } }, left: { s: 1 }, right: { s: 2 } }, { s: [authoritative('left')] })).writes).toEqual({ left: {}, right: {} });
  });

  it('equivalent: values meaning the same are accepted (baselines follow, nothing written, no conflict); others go on down the chain', () => {
    const same = equivalent((l, r) => isUnsub(l) && isUnsub(r), { name: 'both_unsub' });
    const user = sticky('unsub:user', { side: 'right', escalate: 'reconsent_required', name: 'unsubscribe_wins' });
    const policies = { s: [same, user, authoritative('left')] };
    // The CRM opts out again while the ESP says "unsubscribed by the user": no re-consent question.
    const out = planSync(input({ baseline: { left: { s: 'sub' }, right: { s: 'unsub:user' } }, left: { s: 'unsub' }, right: { s: 'unsub:user' } }, policies));
    expect(out).toEqual({ writes: { left: {}, right: {} }, baseline: { left: { s: 'unsub' }, right: { s: 'unsub:user' } }, conflicts: [], escalations: [] });
    // R8 with richer values: both changed, not equivalent: the sticky policy decides.
    const r8 = planSync(input({ baseline: { left: { s: 'unsub' }, right: { s: 'unsub' } }, left: { s: 'sub' }, right: { s: 'unsub:user' } }, policies));
    expect(r8.writes).toEqual({ left: { s: 'unsub:user' }, right: {} });
    expect(r8.conflicts).toMatchObject([{ baseline: 'unsub', left: 'sub', right: 'unsub:user', policy: 'unsubscribe_wins', finalValue: 'unsub:user' }]);
    expect(() => equivalent('x' as never)).toThrow(InvalidOptionError);
  });

  it('unlisted fields: a one-sided change flows; a two-sided one escalates as other', () => {
    expect(planSync(input({ left: { s: true } }, {})).writes.right).toEqual({ s: true });
    expect(planSync(input({ left: { s: 1 }, right: { s: 2 } }, {})).escalations).toMatchObject([{ kind: 'other' }]);
  });
});
