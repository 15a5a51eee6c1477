/**
 * `weir/store`: the `Store` interfaces (split by concern), capabilities, and `openStore(url)`.
 * Implementations live in `weir/store/sqlite` and `weir/store/postgres`; the contract suite that
 * checks any implementation is `storeContract()` in `weir/testing`.
 * @packageDocumentation
 */
export { openStore } from './open.js';
export type { OpenStoreOptions } from './open.js';
export type {
  Awaitable,
  MigrationRecord,
  MigrationReport,
  PgTransaction,
  SqliteStatementLike,
  SqliteTransaction,
  Store,
  StoreCapabilities,
  StoreDialect,
  StoreOptions,
  Transaction,
} from './types.js';
export type {
  AttemptRecord,
  ClaimedMessage,
  ClaimRequest,
  ErrorRecord,
  Handoff,
  Hold,
  InboxStore,
  Lease,
  LocalClaimer,
  MessageRecord,
  MessageState,
  NewMessage,
  PurgeReport,
  PurgeRequest,
  QueueStore,
  ReclaimRequest,
  ScheduleRecord,
  ScheduleStore,
  SettleOutcome,
  Settlement,
  TopicConfig,
  TopicStats,
  WorkerInfo,
  WorkerRecord,
} from './queue.js';
export type {
  DeadLetter,
  DeadLetterFilter,
  DeadLetterGroup,
  DeadLetterStore,
  PreviousDeadLetter,
  ReplayRequest,
} from './dead-letters.js';
export type {
  IdempotencyBegin,
  IdempotencyBeginRequest,
  IdempotencyCompletion,
  IdempotencyRecord,
  IdempotencyStore,
} from './idempotency.js';
export type { AuditEntry, AuditQuery, AuditRecord, AuditStore } from './audit.js';
export type { KvEntry, KvSetOptions, KvStore } from './kv.js';
export type {
  NewSagaRun,
  SagaRunFilter,
  SagaRunRecord,
  SagaState,
  SagaStepKey,
  SagaStepPhase,
  SagaStepRecord,
  SagaStepStatus,
  SagaStepUpdate,
  SagaStore,
  SagaTransition,
} from './sagas.js';
export type {
  NewSyncEscalation,
  NewSyncLink,
  SyncBaseline,
  SyncConflictRecord,
  SyncConflictResolution,
  SyncEscalationRecord,
  SyncEscalationState,
  SyncFields,
  SyncLinkRecord,
  SyncLinkState,
  SyncLinkUpdate,
  SyncSide,
  SyncStore,
} from './sync.js';
export type { Migration } from './migrations.js';
