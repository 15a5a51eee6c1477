import { describe } from 'vitest';
import { coreBehaviour } from './behaviour-core.js';
import { eventBehaviour } from './behaviour-events.js';
import { timeBehaviour } from './behaviour-time.js';
import { sqliteHarness } from './harness.js';

describe('sagas on SQLite (fake clock)', () => {
  coreBehaviour(sqliteHarness);
  timeBehaviour(sqliteHarness);
  eventBehaviour(sqliteHarness);
});
