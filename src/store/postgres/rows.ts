import { jsonAsIs, rowMappers } from '../rows.js';

export { errorColumns } from '../rows.js';

/** PostgreSQL row mappers: pg parses `jsonb` columns already. */
export const { messageRow, claimedRow, deadLetterRow, topicRow, workerRow, scheduleRow, idempotencyRow, auditRow, kvRow } =
  rowMappers(jsonAsIs);
