/**
 * `weir/sync`: two-way sync of one record type between two systems: identity links, change intake
 * (webhooks and cursor polling), echo suppression, three-way field-level conflicts with per-field
 * policies, escalations, per-record ordering, and reconciliation.
 */
export { defineSync, Sync, SYNC_RETRY, type SyncMetrics } from './define.js';
export type { SyncOptions } from './runtime.js';
export type { ProcessOutcome, SyncChange } from './engine.js';
export type { PollCheckpoint, PollReport } from './intake.js';
export type { EscalationChoice } from './resolve.js';
export { planSync, type PlanInput, type PlannedConflict, type PlannedEscalation, type SyncPlan } from './conflicts.js';
export {
  authoritative,
  equivalent,
  escalate,
  ignore,
  lastWriterWins,
  sticky,
  type Decision,
  type FieldContext,
  type FieldPolicy,
  type FieldPolicyInput,
  type LastWriterWinsOptions,
  type StickyOptions,
} from './policies.js';
export { ClockSkew, SideHttp, type SkewEstimate } from './side-http.js';
export type { CreateOutcome, SideContext, SyncAdapter, SyncBaseline, SyncFields, SyncPage, SyncSide } from './types.js';
export { reconcile, reconcileReport, type DiffClass, type ReconcileItem, type ReconcileOptions, type ReconcileReport } from './reconcile.js';
export {
  ReconciliationSchedule,
  scheduleReconciliation,
  type ReconciliationRun,
  type ReconciliationScheduleOptions,
  type SyncAlert,
} from './schedule.js';
