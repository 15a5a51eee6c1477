import { afterAll, describe } from 'vitest';
import { dropSchemas, service, testSchema } from '../helpers/services.js';
import { coreBehaviour } from './behaviour-core.js';
import { eventBehaviour } from './behaviour-events.js';
import { timeBehaviour } from './behaviour-time.js';
import { postgresHarness } from './harness.js';

const up = await service('postgres', 'the saga tests on PostgreSQL (test/saga/postgres.test.ts)');
const base = testSchema(import.meta.url);
afterAll(async () => {
  // Each harness drops its schema; this catches any a failed test left behind.
  if (up) await dropSchemas(Array.from({ length: 40 }, (_, i) => `${base}_${i}`));
});

describe.skipIf(!up)('sagas on PostgreSQL (fake clock)', () => {
  const make = postgresHarness(base);
  coreBehaviour(make);
  timeBehaviour(make);
  eventBehaviour(make);
});
