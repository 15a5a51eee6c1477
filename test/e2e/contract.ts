// The admin API's shapes as /work/shared/contracts/crm-esp.md §4 fixes them. The e2e suite reads
// them from outside (HTTP), so it declares them itself instead of importing Weir's own types.

/** One outbound attempt or inbound delivery. */
export interface AuditEntry {
  readonly seq: number;
  readonly ts: number | string;
  readonly direction: 'outbound' | 'inbound';
  readonly system: 'crm' | 'esp';
  readonly request_id: string;
  readonly method: string;
  readonly path: string;
  readonly status: number | null;
  readonly outcome: 'ok' | 'http_error' | 'timeout' | 'network_error' | 'rejected' | 'duplicate_ignored';
  readonly attempt: number;
  readonly duration_ms: number;
  readonly correlation_id: string | null;
  readonly idempotency_key?: string;
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  readonly next: number | string | null;
}

export interface Conflict {
  readonly id: string;
  readonly crm_id: string;
  readonly esp_id: string;
  readonly field: string;
  readonly baseline: unknown;
  readonly crm_value: unknown;
  readonly esp_value: unknown;
  readonly detected_at: unknown;
  readonly resolution: 'resolved_by_policy' | 'escalated';
  readonly policy: string;
  readonly final_value?: unknown;
}

export interface Escalation {
  readonly id: string;
  readonly kind: 'reconsent_required' | 'email_collision' | 'remote_deleted' | 'identity_collision' | 'other';
  readonly crm_id: string;
  readonly esp_id?: string;
  readonly field?: string;
  readonly crm_value?: unknown;
  readonly esp_value?: unknown;
  readonly created_at: unknown;
  readonly state: 'open' | 'resolved';
  readonly detail?: unknown;
}

export const DIFF_CLASSES = ['missing_remote', 'unlinked_remote', 'missing_link', 'field_drift', 'duplicate'] as const;
export type DiffClass = (typeof DIFF_CLASSES)[number];

export interface Report {
  readonly id: string;
  readonly mode: 'dry_run' | 'apply';
  readonly state: 'running' | 'done' | 'failed';
  readonly started_at: unknown;
  readonly finished_at: unknown;
  readonly compared: number;
  readonly in_sync: number;
  readonly diffs_by_class: Readonly<Record<DiffClass, number>>;
  readonly repairs: { readonly attempted: number; readonly succeeded: number; readonly failed: number };
  readonly escalations_raised: number;
  readonly api_calls: { readonly crm: number; readonly esp: number };
  readonly items: readonly { readonly class: DiffClass; readonly crm_id?: string; readonly esp_id?: string; readonly field?: string; readonly action: string }[];
}

/** What the alert receiver gets. */
export interface AlertBody {
  readonly name: string;
  readonly state: 'firing' | 'resolved';
  readonly system?: string;
  readonly at: unknown;
  readonly detail: unknown;
}

/** Metric names §4 requires in `GET /metrics`. */
export const REQUIRED_METRICS = [
  'weir_queue_depth',
  'weir_api_requests_total',
  'weir_sync_lag_seconds',
  'weir_conflicts_total',
  'weir_escalations_open',
  'weir_circuit_state',
  'weir_dead_letters',
] as const;
