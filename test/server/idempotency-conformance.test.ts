import { describe, it } from 'vitest';
import { cases, runCase, type StoreKind } from './idempotency-cases.js';
import { targets } from './targets.js';

const kinds: StoreKind[] = ['sqlite (transaction)', 'memory'];

describe.each(targets)('idempotency conformance on $name', (target) => {
  describe.each(kinds)('store: %s', (kind) => {
    it.each(cases)('$name', (c) => runCase(target, kind, c));
  });
});
