import { parseJsonText, rowMappers } from '../rows.js';

export { errorColumns } from '../rows.js';

/** SQLite row mappers: JSON columns are text. */
export const { messageRow, claimedRow, deadLetterRow, topicRow, workerRow, scheduleRow, idempotencyRow, auditRow, kvRow } =
  rowMappers(parseJsonText);
