import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { WeirError } from '../errors.js';
import type { Timer } from '../internal/clock.js';
import type { Disposable } from '../internal/events.js';
import type { WorkerInfo } from '../store/queue.js';
import type { Store } from '../store/types.js';
import { nextCronTime } from './cron.js';
import { Delivery, type DeliveryHost, type Finished, type Registration } from './delivery.js';
import type { QueueMetrics } from './metrics.js';
import type { ResolvedQueueOptions } from './options.js';
import type { QueueErrorEvent } from './types.js';

/** hostname plus boot id: two processes with equal host share a machine (and a pid namespace, in practice). @internal */
export const HOST = (() => {
  try {
    return `${hostname()}#${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}`;
  } catch {
    return hostname();
  }
})();

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const PURGE_EVERY_MS = 60_000;

/**
 * A delivery cut short by a crash (its lease expired) still counts. A message delivered more than
 * `maxDeliveries + CRASH_ALLOWANCE` times is dead-lettered without running: it keeps killing workers.
 */
export const CRASH_ALLOWANCE = 5;

/**
 * The one fetcher of a queue: a single loop that settles finished deliveries in one batch, then
 * claims a batch per topic with free slots, and sleeps only when nothing is claimable (until a
 * wake-up, the next due time, or the backstop poll). Leases are renewed by one timer for all
 * deliveries; dead workers' leases are reclaimed by maintenance. @internal
 */
export class Worker implements DeliveryHost {
  private readonly regs = new Map<string, Registration>();
  private readonly deliveries = new Map<string, Delivery>();
  private pending: Array<{ delivery: Delivery; finished: Finished }> = [];
  private loopDone: Promise<void> | undefined = undefined;
  private stopping: Promise<void> | undefined = undefined;
  private wakeRequested = false;
  /** Ends the idle wait at once (set while the loop idles). */
  private wakeUp: (() => void) | undefined = undefined;
  private readonly stopSignal = new AbortController();
  private subscription: Disposable | undefined = undefined;
  private heartbeatTimer: Timer | undefined = undefined;
  private metricsTimer: Timer | undefined = undefined;
  private nextMaintenanceAt = 0;
  private nextPurgeAt = 0;
  private claimSeq = 0;
  private info: WorkerInfo;
  /** Set by stop() while it waits for running handlers. */
  private onDrained: (() => void) | undefined = undefined;

  constructor(
    private readonly store: Store,
    readonly options: ResolvedQueueOptions,
    private readonly emitError: (event: QueueErrorEvent) => void,
  ) {
    this.info = { id: options.workerId, host: HOST, pid: process.pid, topics: [], startedAt: options.clock.now() };
  }

  get inFlight(): number {
    let n = 0;
    for (const reg of this.regs.values()) n += reg.inflight;
    return n;
  }

  add(reg: Registration): void {
    this.regs.set(reg.topic, reg);
    this.info = { ...this.info, topics: [...this.regs.keys()] };
    if (this.loopDone === undefined) this.start();
    this.wake(reg.topic);
  }

  private start(): void {
    this.subscription = this.store.queue.subscribe((topic) => this.wake(topic));
    this.armHeartbeat();
    if (this.options.metrics.depth !== undefined) this.armMetrics();
    this.loopDone = this.loop();
  }

  /** Something may be claimable in `topic` (null: anywhere). */
  wake(topic: string | null): void {
    if (topic === null) for (const reg of this.regs.values()) reg.dirty = true;
    else {
      const reg = this.regs.get(topic);
      if (reg === undefined) return;
      reg.dirty = true;
    }
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.stopping === undefined) {
      this.wakeRequested = false;
      try {
        // Settling and claiming touch different rows (active vs ready), so their round trips run side
        // by side; a key promoted by this settle is claimed on the next pass (the settle wakes it).
        const [flushed, claimed] = await Promise.allSettled([this.flush(), this.claimAll()]);
        if (flushed.status === 'rejected') throw flushed.reason;
        if (claimed.status === 'rejected') throw claimed.reason;
        if (this.stopping !== undefined) break;
        // Maintenance after the claims, so a wake-up that falls on it does not wait for it.
        const now = this.options.clock.now();
        if (now >= this.nextMaintenanceAt) await this.maintain(now);
        failures = 0;
      } catch (error) {
        this.emitError({ error });
        failures++;
        // Back off (100 ms doubling to 5 s) while the store is unreachable; stop() cuts it short.
        await this.options.clock.sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)), this.stopSignal.signal).catch(() => undefined);
        this.wake(null);
        continue;
      }
      if (this.wakeRequested || this.pending.length > 0) {
        // Let timers and I/O run between passes (a SQLite store answers synchronously).
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      await this.idle();
    }
  }

  private async claimAll(): Promise<void> {
    const { clock, workerId, leaseMs } = this.options;
    for (const reg of this.regs.values()) {
      if (!reg.registered) {
        await this.store.queue.registerTopic({ topic: reg.topic, ordering: reg.policy.ordering, policy: { ...reg.policy }, updatedAt: clock.now() });
        reg.registered = true;
        reg.markRegistered();
      }
      const free = reg.policy.concurrency - reg.inflight;
      if (free <= 0 || !(reg.dirty || reg.backlog) || this.stopping !== undefined) continue;
      reg.dirty = false;
      const limit = Math.min(free, reg.policy.batchSize);
      const claimed = await this.store.queue.claim({ topic: reg.topic, limit, workerId, leaseMs, now: clock.now() });
      reg.backlog = claimed.length === limit;
      for (const message of claimed) this.begin(new Delivery(this, reg, message, ++this.claimSeq));
    }
  }

  private begin(delivery: Delivery): void {
    const { reg, claimed } = delivery;
    const maxDeliveries = reg.policy.retry.maxDeliveries;
    this.deliveries.set(delivery.ref, delivery);
    reg.inflight++;
    // Delivered far more often than the policy allows without settling: its workers keep dying on it.
    const run: Promise<Finished | null> =
      claimed.attempts > maxDeliveries + CRASH_ALLOWANCE ? Promise.resolve(this.poisoned(delivery)) : delivery.run();
    void run.then(
      (finished) => this.finish(delivery, finished),
      (error: unknown) => {
        this.emitError({ error, topic: reg.topic, messageId: claimed.id });
        this.finish(delivery, null);
      },
    );
  }

  private poisoned(d: Delivery): Finished {
    const error = { name: 'WeirError', code: 'WEIR_LEASE_LOST', message: `Delivered ${d.claimed.attempts} times without completing (its workers crashed or lost their leases).`, classification: 'permanent' as const };
    const blockKey = d.reg.policy.onExhausted === 'block-key' && d.claimed.key !== null;
    return { settlement: { kind: 'dead', lease: d.lease, blockKey, error, signature: 'lease-lost', history: d.claimed.history }, outcome: 'dead', durationMs: 0 };
  }

  private finish(delivery: Delivery, finished: Finished | null): void {
    delivery.finished = true;
    delivery.reg.inflight--;
    if (this.onDrained !== undefined && this.inFlight === 0) this.onDrained();
    if (finished === null || delivery.abandoned) {
      if (delivery.lost) this.leaseLost(delivery, 0);
      if (!delivery.abandoned) this.deliveries.delete(delivery.ref);
    } else {
      this.pending.push({ delivery, finished });
    }
    this.wake(delivery.reg.topic);
  }

  /** Applies queued settlements in one batch. On failure they are kept for the next pass. */
  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    let outcome;
    try {
      outcome = await this.store.queue.settle(batch.map((p) => p.finished.settlement), this.options.clock.now());
    } catch (error) {
      this.pending = [...batch, ...this.pending];
      throw error;
    }
    const now = this.options.clock.now();
    batch.forEach(({ delivery, finished }, i) => {
      this.deliveries.delete(delivery.ref);
      const { topic, id, createdAt, attempts } = delivery.claimed;
      if (outcome.ok[i] !== true) return this.leaseLost(delivery, finished.durationMs);
      const s = finished.settlement;
      const endToEnd = s.kind === 'done' ? { endToEndMs: now - createdAt } : {};
      this.metric('settled', { topic, messageId: id, outcome: finished.outcome, delivery: attempts, durationMs: finished.durationMs, ...endToEnd });
      if (s.kind === 'dead') this.metric('deadLettered', { topic, messageId: id, code: s.error.code, signature: s.signature, blockKey: s.blockKey });
      const reg = this.regs.get(topic);
      if (reg !== undefined) reg.dirty = true;
    });
    for (const topic of outcome.promoted) this.wake(topic);
  }

  private leaseLost(d: Delivery, durationMs: number): void {
    const { topic, id, attempts } = d.claimed;
    const error = new WeirError('WEIR_LEASE_LOST', `Lost the lease on message ${id}; its result was discarded (another worker owns it).`, { details: { messageId: id, topic } });
    this.emitError({ error, topic, messageId: id });
    this.metric('settled', { topic, messageId: id, outcome: 'lease_lost', delivery: attempts, durationMs });
  }

  /**
   * Sleeps until a wake-up, the next due message or hold end, the backstop poll, or maintenance.
   * Only the first three make every topic worth a claim; maintenance alone does not (so a missed
   * wake-up shows up as backstop latency instead of hiding behind the maintenance interval).
   */
  private async idle(): Promise<void> {
    const { clock, pollMs } = this.options;
    const now = clock.now();
    let dueAt = now + pollMs;
    // With every slot busy nothing could be claimed at a due time anyway: a finishing handler wakes
    // the loop, and the next idle pass looks up due times (a cron fire time is still met by
    // maintenance, within maintenanceMs). This saves a round trip per busy pass.
    const open = [...this.regs.values()].filter((reg) => reg.inflight < reg.policy.concurrency).map((reg) => reg.topic);
    if (open.length > 0) {
      try {
        const due = await this.store.queue.nextDueAt(open, now);
        if (due !== null) dueAt = Math.min(dueAt, due);
      } catch (error) {
        this.emitError({ error });
      }
    }
    if (this.wakeRequested || this.pending.length > 0 || this.stopping !== undefined) return;
    const ms = Math.min(dueAt, this.nextMaintenanceAt) - clock.now();
    // A timer and a resolver rather than an aborted sleep: a busy loop idles once per batch, and
    // aborting builds two errors (with stack traces) per wake-up.
    if (ms > 0) {
      await new Promise<void>((resolve) => {
        const timer = clock.setTimer(ms, () => {
          this.wakeUp = undefined;
          resolve();
        });
        this.wakeUp = () => {
          timer.close();
          this.wakeUp = undefined;
          resolve();
        };
      });
    }
    if (clock.now() >= dueAt) this.wake(null);
  }

  /** Reclaims expired and dead workers' leases, fires due cron schedules, and now and then purges. */
  async maintain(now: number): Promise<void> {
    const { deadWorkerMs, workerId, retention, maintenanceMs } = this.options;
    this.nextMaintenanceAt = now + maintenanceMs;
    const workers = await this.store.queue.workers();
    const dead = workers
      .filter((w) => w.id !== workerId && (w.heartbeatAt < now - deadWorkerMs || (w.host === HOST && !pidAlive(w.pid))))
      .map((w) => w.id);
    if ((await this.store.queue.reclaim({ now, deadWorkers: dead })) > 0) this.wake(null);
    const fired = await this.store.schedules.fireDue(now, (s, after) => {
      try {
        return nextCronTime(s.cron, s.timezone, after);
      } catch (error) {
        this.emitError({ error, topic: s.topic });
        return Number.MAX_SAFE_INTEGER;
      }
    });
    if (fired.length > 0) this.wake(null);
    if (now >= this.nextPurgeAt) {
      this.nextPurgeAt = now + PURGE_EVERY_MS;
      if ((await this.store.queue.repair(now)) > 0) this.wake(null);
      await this.store.queue.purge({ doneBefore: now - retention.doneMs, inboxBefore: now - retention.inboxMs });
      await this.store.deadLetters.purge(now - retention.deadMs);
    }
  }

  private armHeartbeat(): void {
    this.heartbeatTimer = this.options.clock.setTimer(this.options.heartbeatMs, () => {
      void this.heartbeat().finally(() => {
        if (this.heartbeatTimer !== undefined) this.armHeartbeat();
      });
    });
  }

  /** Renews every lease this worker holds in one statement; a delivery missing from the answer lost its lease. */
  private async heartbeat(): Promise<void> {
    const { clock, leaseMs, workerId } = this.options;
    const now = clock.now();
    const before = this.claimSeq;
    try {
      await this.store.queue.heartbeat(this.info, now);
      const held = new Set((await this.store.queue.renew(workerId, now + leaseMs, now)).map((l) => `${l.id}#${l.token}`));
      for (const d of this.deliveries.values()) {
        if (d.finished || d.claimSeq > before) continue;
        if (held.has(d.ref)) d.leaseUntil = now + leaseMs;
        else d.lose();
      }
    } catch (error) {
      this.emitError({ error });
      // Unreachable store: a lease we could not renew is as good as lost once it has run out.
      for (const d of this.deliveries.values()) if (!d.finished && clock.now() >= d.leaseUntil) d.lose();
    }
  }

  private armMetrics(): void {
    const { clock, metricsIntervalMs } = this.options;
    this.metricsTimer = clock.setTimer(metricsIntervalMs, () => {
      void this.store.queue.stats(clock.now()).then(
        (topics) => this.metric('depth', { at: clock.now(), topics, inFlight: this.inFlight }),
        (error: unknown) => this.emitError({ error }),
      ).finally(() => {
        if (this.metricsTimer !== undefined) this.armMetrics();
      });
    });
  }

  hold(topic: string, key: string | null, until: number): Promise<void> {
    return this.store.queue.hold({ topic, key, until, reason: `held by ${this.options.workerId}` });
  }

  metric<K extends keyof QueueMetrics>(name: K, event: Parameters<NonNullable<QueueMetrics[K]>>[0]): void {
    const hook = this.options.metrics[name] as ((e: typeof event) => void) | undefined;
    if (hook === undefined) return;
    try {
      hook.call(this.options.metrics, event);
    } catch (error) {
      this.emitError({ error });
    }
  }

  /**
   * Stops claiming, lets running handlers finish for up to `graceMs`, then aborts the rest and
   * releases their messages (the delivery is refunded), settles everything and leaves.
   */
  stop(graceMs: number): Promise<void> {
    this.stopping ??= this.shutdown(graceMs);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const { clock } = this.options;
    this.stopSignal.abort();
    this.wakeUp?.();
    await this.loopDone;
    const running = (): Delivery[] => [...this.deliveries.values()].filter((d) => !d.finished);
    if (running().length > 0) {
      const drained = new AbortController();
      this.onDrained = () => drained.abort();
      await clock.sleep(graceMs, drained.signal).catch(() => undefined);
      this.onDrained = undefined;
    }
    const now = clock.now();
    for (const d of running()) {
      this.pending.push({ delivery: d, finished: d.abandon(now) });
      this.deliveries.delete(d.ref);
    }
    for (let i = 0; i < 3 && this.pending.length > 0; i++) {
      await this.flush().catch((error: unknown) => this.emitError({ error }));
    }
    this.heartbeatTimer?.close();
    this.heartbeatTimer = undefined;
    this.metricsTimer?.close();
    this.metricsTimer = undefined;
    this.subscription?.dispose();
    await this.store.queue.removeWorker(this.options.workerId).catch((error: unknown) => this.emitError({ error }));
  }
}
