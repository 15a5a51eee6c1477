import { InvalidOptionError } from '../errors.js';
import type { Timer } from '../internal/clock.js';
import { Emitter, type Event } from '../internal/events.js';
import { integer, oneOf } from '../internal/validate.js';
import { nextCronTime } from '../queue/cron.js';
import type { Message } from '../queue/types.js';
import type { Sync } from './define.js';
import { reconcile, reconcileReport, type ReconcileReport } from './reconcile.js';

/** Options of {@link scheduleReconciliation}. */
export interface ReconciliationScheduleOptions {
  /** When to run: a cron expression as `queue.schedule()` reads it (5 or 6 fields, `@daily`, …). */
  readonly cron: string;
  readonly mode: 'apply' | 'dry_run';
  /** IANA time zone the expression is read in. Default `'UTC'`. */
  readonly timezone?: string;
  /**
   * Alert `reconciliation_overdue` when no run succeeded within this many ms of a fire time.
   * Default: the gap between the schedule's next two fire times (one whole period late).
   */
  readonly overdueAfterMs?: number;
  /** How often the overdue check runs on its own (an unref'd timer), ms. Default 60_000. */
  readonly checkEveryMs?: number;
  /** Reconciliation's own rate budget per side, calls per second (see `reconcile`). Default unlimited. */
  readonly perSecond?: number;
}

/** One run of a scheduled reconciliation. Its report: `reconcileReport(sync, runId)`. */
export interface ReconciliationRun {
  /** The reconciliation's run id (`scheduled-<dueAt>` for a cron run): a redelivery resumes it. */
  readonly runId: string;
  /** The fire time it runs for (the start time for {@link ReconciliationSchedule.run}), epoch ms. */
  readonly dueAt: number;
  readonly state: 'running' | 'done' | 'failed';
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly error?: string;
}

/** An alert transition, in the shape alert webhooks receive. */
export interface SyncAlert {
  readonly name: 'reconciliation_failed' | 'reconciliation_overdue';
  readonly state: 'firing' | 'resolved';
  /** The sync's name. */
  readonly system: string;
  /** Epoch ms of the transition. */
  readonly at: number;
  readonly detail: Readonly<Record<string, unknown>>;
}

type AlertName = SyncAlert['name'];

interface ScheduleState {
  /** When the schedule was first registered: the reference before any successful run. */
  readonly since: number;
  readonly lastOk: { readonly runId: string; readonly dueAt: number; readonly finishedAt: number } | null;
  readonly history: readonly ReconciliationRun[];
  readonly alerts: Readonly<Record<AlertName, boolean>>;
}

const KV = 'weir.sync.schedule';
const HISTORY = 20;

/**
 * A scheduled reconciliation. See {@link scheduleReconciliation}. Run state and alert state live in
 * the store (kv `weir.sync.schedule`), so every process sees the same runs and an alert transition
 * is emitted once, by the process whose write made it.
 */
export class ReconciliationSchedule {
  /** The queue schedule's name and the topic its runs go through (`weir.sync.<name>.reconcile`). */
  readonly name: string;
  private readonly alerts = new Emitter<SyncAlert>();
  /** `reconciliation_failed` / `reconciliation_overdue` transitions (firing, then resolved), once each. */
  readonly onAlert: Event<SyncAlert> = this.alerts.event;
  private timer: Timer | undefined;
  private closed = false;

  /** @internal use {@link scheduleReconciliation}. */
  constructor(
    private readonly sync: Sync,
    private readonly o: Required<Pick<ReconciliationScheduleOptions, 'cron' | 'mode' | 'timezone' | 'overdueAfterMs' | 'checkEveryMs'>> &
      Pick<ReconciliationScheduleOptions, 'perSecond'>,
  ) {
    this.name = `${sync.topic}.reconcile`;
  }

  /** The latest run (running, done or failed) with its report, or null before the first one. */
  async lastRun(): Promise<(ReconciliationRun & { readonly report: ReconcileReport | null }) | null> {
    await this.check();
    const last = (await this.read())?.value.history[0];
    return last === undefined ? null : { ...last, report: await reconcileReport(this.sync, last.runId) };
  }

  /** The latest runs, newest first (at most 20). */
  async runs(): Promise<readonly ReconciliationRun[]> {
    return (await this.read())?.value.history ?? [];
  }

  /**
   * Runs a reconciliation now, recorded (and alerting) like a scheduled one. `runId` resumes a run.
   * @throws what `reconcile` throws, after recording the run as failed.
   */
  run(options: { readonly runId?: string; readonly dueAt?: number } = {}): Promise<ReconcileReport> {
    const now = this.sync.rt.clock.now();
    return this.execute(options.runId ?? `manual-${now}`, options.dueAt ?? now);
  }

  /**
   * Evaluates the overdue alert at `now` (default the clock's time); also done on every run and by
   * the unref'd timer. @returns the transitions this call emitted.
   */
  async check(now: number = this.sync.rt.clock.now()): Promise<readonly SyncAlert[]> {
    return this.mutate(now, (s) => s);
  }

  /** Stops the overdue timer (the cron schedule stays; see {@link unschedule}). Idempotent. */
  close(): void {
    this.closed = true;
    this.timer?.close();
    this.timer = undefined;
  }

  /** Removes the cron schedule and stops the timer. */
  async unschedule(): Promise<boolean> {
    this.close();
    return this.sync.rt.queue.unschedule(this.name);
  }

  /**
   * @internal registers the schedule, the handler and the timer. `passive`: the schedule only (a
   * process that inspects or runs reconciliations by hand next to the one that takes the cron runs).
   */
  async start(passive = false): Promise<this> {
    const rt = this.sync.rt;
    await rt.store.kv.set<ScheduleState>(
      KV,
      rt.name,
      { since: rt.clock.now(), lastOk: null, history: [], alerts: { reconciliation_failed: false, reconciliation_overdue: false } },
      { now: rt.clock.now(), ifVersion: 0 },
    );
    if (!passive) await rt.queue.handle(this.name, (msg) => this.handle(msg), { concurrency: 1, ordering: 'key', retry: { immediate: 0 } });
    await rt.queue.schedule(this.name, { cron: this.o.cron, timezone: this.o.timezone, topic: this.name, key: 'reconcile', payload: { sync: rt.name } });
    if (!passive) this.arm();
    return this;
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.sync.rt.clock.setTimer(this.o.checkEveryMs, () => {
      void this.check()
        .catch(() => undefined)
        .finally(() => this.arm());
    });
    this.timer.unref();
  }

  private async handle(msg: Message): Promise<void> {
    // A cron message's id is `cron:<schedule>:<fire time>`: a redelivery (after a crash) resumes the same run.
    const at = Number(msg.id.slice(msg.id.lastIndexOf(':') + 1));
    const dueAt = msg.id.startsWith('cron:') && Number.isSafeInteger(at) ? at : msg.enqueuedAt;
    await this.execute(`scheduled-${dueAt}`, dueAt);
  }

  private async execute(runId: string, dueAt: number): Promise<ReconcileReport> {
    const clock = this.sync.rt.clock;
    const startedAt = clock.now();
    await this.record(clock.now(), { runId, dueAt, state: 'running', startedAt, finishedAt: null });
    let report: ReconcileReport;
    try {
      report = await reconcile(this.sync, { mode: this.o.mode, runId, ...(this.o.perSecond === undefined ? {} : { perSecond: this.o.perSecond }) });
      if (report.state !== 'done') throw new Error(report.error ?? `reconciliation ended ${report.state}`);
    } catch (err) {
      const now = clock.now();
      await this.record(now, { runId, dueAt, state: 'failed', startedAt, finishedAt: now, error: (err as Error).message });
      throw err;
    }
    await this.record(clock.now(), { runId, dueAt, state: 'done', startedAt, finishedAt: report.finishedAt ?? clock.now() });
    return report;
  }

  private async record(now: number, run: ReconciliationRun): Promise<void> {
    await this.mutate(now, (s) => ({
      ...s,
      history: [run, ...s.history.filter((r) => r.runId !== run.runId)].slice(0, HISTORY),
      lastOk: run.state === 'done' && (s.lastOk === null || run.dueAt >= s.lastOk.dueAt) ? { runId: run.runId, dueAt: run.dueAt, finishedAt: run.finishedAt ?? now } : s.lastOk,
      alerts: run.state === 'running' ? s.alerts : { ...s.alerts, reconciliation_failed: run.state === 'failed' },
    }));
  }

  private read() {
    const rt = this.sync.rt;
    return rt.store.kv.get<ScheduleState>(KV, rt.name, rt.clock.now());
  }

  /** Applies `change`, re-evaluates overdue, and writes with compare-and-set; emits the transitions it wrote. */
  private async mutate(now: number, change: (s: ScheduleState) => ScheduleState): Promise<SyncAlert[]> {
    const rt = this.sync.rt;
    for (;;) {
      const entry = await this.read();
      const before: ScheduleState = entry?.value ?? {
        since: now, lastOk: null, history: [], alerts: { reconciliation_failed: false, reconciliation_overdue: false },
      };
      const changed = change(before);
      const due = this.overdueSince(changed);
      const after: ScheduleState = { ...changed, alerts: { ...changed.alerts, reconciliation_overdue: due !== null && now >= due + this.o.overdueAfterMs } };
      if (entry !== null && changed === before && before.alerts.reconciliation_overdue === after.alerts.reconciliation_overdue) return [];
      const written = await rt.store.kv.set(KV, rt.name, after, { now, ifVersion: entry?.version ?? 0 });
      if (written === null) continue;
      const out: SyncAlert[] = [];
      for (const name of ['reconciliation_failed', 'reconciliation_overdue'] as const) {
        if (before.alerts[name] === after.alerts[name]) continue;
        out.push({ name, state: after.alerts[name] ? 'firing' : 'resolved', system: rt.name, at: now, detail: this.detail(name, after, due) });
      }
      for (const a of out) this.alerts.emit(a);
      return out;
    }
  }

  /** The first fire time after the last success (or after registration), or null for an invalid expression. */
  private overdueSince(s: ScheduleState): number | null {
    try {
      return nextCronTime(this.o.cron, this.o.timezone, s.lastOk?.dueAt ?? s.since);
    } catch {
      return null;
    }
  }

  private detail(name: AlertName, s: ScheduleState, due: number | null): Record<string, unknown> {
    const last = s.history[0];
    const lastSuccess = s.lastOk === null ? null : { runId: s.lastOk.runId, dueAt: s.lastOk.dueAt, finishedAt: s.lastOk.finishedAt };
    if (name === 'reconciliation_failed') return { sync: this.sync.name, mode: this.o.mode, runId: last?.runId ?? null, error: last?.error ?? null, lastSuccess };
    return { sync: this.sync.name, mode: this.o.mode, dueAt: due, overdueAfterMs: this.o.overdueAfterMs, lastSuccess };
  }
}

/**
 * Runs `reconcile(sync, { mode })` on a cron schedule through the sync's queue (topic and schedule
 * `weir.sync.<name>.reconcile`, one run at a time across processes). A run crashed or failed is
 * redelivered by the queue and resumes at its last page checkpoint. Each run's state is recorded
 * (`lastRun()`, `runs()`; the report via `reconcileReport(sync, runId)`), and `onAlert` reports
 * `reconciliation_failed` (a run threw) and `reconciliation_overdue` (no run succeeded within
 * `overdueAfterMs` of a fire time), each firing once and resolving once a later run succeeds.
 * Call it in every process that should run reconciliations (like `sync.start()`).
 * @throws InvalidOptionError naming `cron` (also for an unknown `timezone`), `mode`, `overdueAfterMs`, `checkEveryMs` or `perSecond`.
 * @example
 * ```ts
 * const nightly = await scheduleReconciliation(contacts, { cron: '0 3 * * *', timezone: 'Europe/Zurich', mode: 'apply', overdueAfterMs: 6 * 3_600_000 });
 * nightly.onAlert((a) => notify(a)); // { name: 'reconciliation_overdue', state: 'firing', system: 'contacts', at, detail }
 * ```
 */
export async function scheduleReconciliation(
  sync: Sync,
  options: ReconciliationScheduleOptions,
  /** @internal `passive`: register the schedule without taking its runs here (see `start`). */
  internal: { readonly passive?: boolean } = {},
): Promise<ReconciliationSchedule> {
  const mode = oneOf(options.mode, 'mode', ['apply', 'dry_run'] as const);
  const timezone = options.timezone ?? 'UTC';
  const now = sync.rt.clock.now();
  const first = nextCronTime(options.cron, timezone, now);
  const period = nextCronTime(options.cron, timezone, first) - first;
  const overdueAfterMs = options.overdueAfterMs === undefined ? period : integer(options.overdueAfterMs, 'overdueAfterMs', 0);
  const checkEveryMs = options.checkEveryMs === undefined ? 60_000 : integer(options.checkEveryMs, 'checkEveryMs', 1);
  if (options.perSecond !== undefined && !(options.perSecond > 0)) throw new InvalidOptionError('perSecond', 'a number > 0', options.perSecond);
  const o = { cron: options.cron, mode, timezone, overdueAfterMs, checkEveryMs, ...(options.perSecond === undefined ? {} : { perSecond: options.perSecond }) };
  return new ReconciliationSchedule(sync, o).start(internal.passive === true);
}
