/**
 * A reconciliation in its own process, for the kill -9 test (`test/sync/reconcile-crash.test.ts`):
 * `node --import tsx test/sync/reconcile-child.ts <sqlite file> <crm url> <esp url> <run id> <page size> <calls per second>`.
 * Opens the store file the parent test uses, runs (or resumes) an apply reconciliation of the test
 * sync `contacts` with that run id, prints `done <report json>` and exits. The parent SIGKILLs it mid-run.
 */
import { createQueue } from '../../src/queue/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { reconcile } from '../../src/sync/index.js';
import { contacts } from './setup.js';
import { adapter } from './systems.js';

const [file, crmUrl, espUrl, runId, pageSize, perSecond] = process.argv.slice(2) as [string, string, string, string, string, string];
const store = await openSqliteStore(file, { durability: 'normal' });
const queue = createQueue(store);
const left = adapter('crm', { url: crmUrl });
const right = adapter('esp', { url: espUrl });
const sync = contacts({ left, right, store, queue, pageSize: Number(pageSize) });
process.stdout.write('started\n');
const report = await reconcile(sync, { mode: 'apply', runId, perSecond: Number(perSecond) });
process.stdout.write(`done ${JSON.stringify(report)}\n`);
await left.connection.close();
await right.connection.close();
await store.close();
process.exit(0);
