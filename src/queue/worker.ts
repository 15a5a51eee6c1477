import { WeirError } from '../errors.js';
import type { Timer } from '../internal/clock.js';
import type { Disposable } from '../internal/events.js';
import type { ClaimedMessage, SettleOutcome, Settlement, WorkerInfo } from '../store/queue.js';
import type { Store } from '../store/types.js';
import { Delivery, type DeliveryHost, type Finished, type Registration } from './delivery.js';
import { HOST, Maintenance } from './maintenance.js';
import type { QueueMetrics } from './metrics.js';
import type { ResolvedQueueOptions } from './options.js';
import type { QueueErrorEvent } from './types.js';

/**
 * A delivery cut short by a crash (its lease expired) still counts. A message delivered more than
 * `maxDeliveries + CRASH_ALLOWANCE` times is dead-lettered without running: it keeps killing workers.
 */
export const CRASH_ALLOWANCE = 5;

/** Finished deliveries waiting for the settle in flight beyond which no new claims go out. */
const MAX_UNSETTLED = 1000;

/**
 * A key is handed to the worker that freed it (see `Handoff`) at most this many times in a row; then
 * its next message becomes ready for any claimer and waits its turn behind older messages.
 */
export const HANDOFF_CHAIN = 16;

/**
 * The one fetcher of a queue: a single loop that claims a batch per topic with free slots while the
 * finished deliveries are settled in the background (one batch in flight, the next collecting), and
 * sleeps only when nothing is claimable (until a wake-up, the next due time, or the backstop poll).
 * Leases are renewed by one timer for all deliveries; dead workers' leases are reclaimed by
 * maintenance. @internal
 */
export class Worker implements DeliveryHost {
  private readonly regs = new Map<string, Registration>();
  private readonly deliveries = new Map<string, Delivery>();
  private pending: Array<{ delivery: Delivery; finished: Finished }> = [];
  /** The settle batch in flight (at most one). */
  private settling: Promise<void> | undefined = undefined;
  /** A failed background settle, rethrown by the loop (which backs off). */
  private settleFailure: { error: unknown } | undefined = undefined;
  /** The last settle failed (a failing settle keeps the loop's back-off growing). */
  private settleFailing = false;
  private loopDone: Promise<void> | undefined = undefined;
  private stopping: Promise<void> | undefined = undefined;
  private wakeRequested = false;
  /** Ends the idle wait at once (set while the loop idles). */
  private wakeUp: (() => void) | undefined = undefined;
  private readonly stopSignal = new AbortController();
  private subscription: Disposable | undefined = undefined;
  /** This worker as a `LocalClaimer` of an in-process store. */
  private attachment: Disposable | undefined = undefined;
  private heartbeatTimer: Timer | undefined = undefined;
  private metricsTimer: Timer | undefined = undefined;
  private readonly maintenance: Maintenance;
  /** The maintenance loop, which runs beside the fetch loop on its own timer. */
  private maintenanceDone: Promise<void> | undefined = undefined;
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
    this.maintenance = new Maintenance(store, options, (topic) => this.wake(topic), emitError);
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
    this.attachment = this.store.queue.attachClaimer?.({
      workerId: this.options.workerId,
      leaseMs: this.options.leaseMs,
      room: (topic) => this.freeSlots(topic),
      take: (claimed) => this.take(claimed),
    });
    this.armHeartbeat();
    if (this.options.metrics.depth !== undefined) this.armMetrics();
    this.loopDone = this.loop();
    this.maintenanceDone = this.maintenance.loop(this.stopSignal.signal);
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
        // Pipelined: the settle of finished deliveries runs in the background (one batch in flight,
        // the next one collects meanwhile) while this loop claims. Settling and claiming touch
        // different rows (active vs ready); a key promoted by a settle is claimed on a later pass (the
        // settle wakes it). Waiting for both round trips per pass left the claim idle behind a
        // slower settle and vice versa. (Folding both into one statement measured no faster; two
        // claims in flight split the room into smaller claims and measured slower.)
        this.startSettle();
        if (this.settleFailure !== undefined) {
          const error = this.settleFailure.error;
          this.settleFailure = undefined;
          throw error;
        }
        await this.claimAll();
        if (this.stopping !== undefined) break;
        // A settle that keeps failing keeps the back-off growing, as when both ran in one pass.
        if (!this.settleFailing) failures = 0;
      } catch (error) {
        this.emitError({ error });
        failures++;
        // Back off (100 ms doubling to 5 s) while the store is unreachable; stop() cuts it short.
        await this.options.clock.sleep(Math.min(5000, 100 * 2 ** Math.min(failures, 6)), this.stopSignal.signal).catch(() => undefined);
        this.wake(null);
        continue;
      }
      if (this.wakeRequested || (this.pending.length > 0 && this.settling === undefined)) {
        // Let timers and I/O run between passes (a SQLite store answers synchronously).
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      // A settle in flight wakes the loop when it lands (its promotions and freed keys may be claimable).
      if (this.settling !== undefined) await this.waitForWake();
      else await this.idle();
    }
    await this.settling;
  }

  /** Starts settling the finished deliveries unless a batch is already on its way. */
  private startSettle(): void {
    if (this.settling !== undefined || this.pending.length === 0) return;
    this.settling = this.flush().then(
      () => {
        this.settling = undefined;
        this.settleFailing = false;
        // settled() marked the settled topics dirty and woke the promoted ones.
        this.wakeRequested = true;
        this.wakeUp?.();
      },
      (error: unknown) => {
        this.settling = undefined;
        this.settleFailing = true;
        this.settleFailure = { error };
        this.wake(null);
      },
    );
  }

  private waitForWake(): Promise<void> {
    if (this.wakeRequested || this.stopping !== undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wakeUp = () => {
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  /** The topics worth a claim now, with how many each may take (registers new topics first). */
  private async claimable(): Promise<Array<{ reg: Registration; limit: number }>> {
    const { clock } = this.options;
    const out: Array<{ reg: Registration; limit: number }> = [];
    for (const reg of this.regs.values()) {
      if (!reg.registered) {
        await this.store.queue.registerTopic({ topic: reg.topic, ordering: reg.policy.ordering, policy: { ...reg.policy }, updatedAt: clock.now() });
        reg.registered = true;
        reg.markRegistered();
      }
      const room = this.room(reg);
      if (room <= 0 || !(reg.dirty || reg.backlog) || this.stopping !== undefined) continue;
      reg.dirty = false;
      out.push({ reg, limit: Math.min(room, reg.policy.batchSize) });
    }
    return out;
  }

  private async claimAll(): Promise<void> {
    const { clock, workerId, leaseMs } = this.options;
    // A settle that lags far behind (a slow store) holds back new claims instead of piling up
    // finished deliveries whose leases this process keeps renewing.
    if (this.pending.length >= MAX_UNSETTLED) return;
    for (const { reg, limit } of await this.claimable()) {
      const now = clock.now();
      const claimed = await this.store.queue.claim({ topic: reg.topic, limit, workerId, leaseMs, now });
      reg.pace.onClaim(now, clock.now());
      this.accept(reg, limit, claimed);
    }
  }

  /** Slots of `topic` that would start a message now: what an enqueue may lease to this worker. */
  private freeSlots(topic: string): number {
    const reg = this.regs.get(topic);
    if (reg === undefined || !reg.registered || this.stopping !== undefined || this.pending.length >= MAX_UNSETTLED) return 0;
    return Math.max(0, Math.min(reg.policy.concurrency - reg.inflight - reg.buffer.length, reg.policy.batchSize));
  }

  /**
   * Messages leased to this worker by an enqueue (see `LocalClaimer`): buffered at once (so a
   * `stop()` gives them back), started a microtask later, out of the enqueuing caller's stack.
   */
  private take(claimed: readonly ClaimedMessage[]): void {
    const regs = new Set<Registration>();
    for (const message of claimed) {
      const reg = this.regs.get(message.topic);
      if (reg === undefined) continue;
      this.adopt(reg, [message], () => 0, false);
      regs.add(reg);
    }
    queueMicrotask(() => {
      for (const reg of regs) this.startBuffered(reg);
    });
  }

  /** Free slots plus free prefetch places. */
  private room(reg: Registration): number {
    return reg.policy.concurrency + reg.pace.ahead - reg.inflight - reg.buffer.length;
  }

  /** Claimed messages join their topic's buffer, and start as far as slots are free. */
  private accept(reg: Registration, limit: number, claimed: readonly ClaimedMessage[]): void {
    reg.backlog = claimed.length === limit;
    this.adopt(reg, claimed, () => 0);
  }

  private adopt(reg: Registration, claimed: readonly ClaimedMessage[], chain: (message: ClaimedMessage) => number, start = true): void {
    for (const message of claimed) {
      const delivery = new Delivery(this, reg, message, ++this.claimSeq);
      delivery.chain = chain(message);
      this.deliveries.set(delivery.ref, delivery);
      reg.buffer.push(delivery);
    }
    if (start) this.startBuffered(reg);
  }

  private startBuffered(reg: Registration): void {
    while (reg.inflight < reg.policy.concurrency && this.stopping === undefined) {
      const next = reg.buffer.shift();
      if (next === undefined) return;
      // A prefetched message whose lease was lost meanwhile belongs to another worker now.
      if (next.lost) this.deliveries.delete(next.ref);
      else this.begin(next);
    }
  }

  /**
   * Gives back the prefetched messages of a topic (or of one key) that have not started: at a hold or
   * pause set from this process, and at `stop()`. They are settled as releases with the next batch.
   */
  unbuffer(topic: string | null, key: string | null): void {
    const now = this.options.clock.now();
    for (const reg of this.regs.values()) {
      if (topic !== null && reg.topic !== topic) continue;
      const keep: Delivery[] = [];
      for (const d of reg.buffer.splice(0)) {
        if (key !== null && d.claimed.key !== key) keep.push(d);
        else if (d.lost) this.deliveries.delete(d.ref);
        else this.pending.push({ delivery: d, finished: d.unclaim(now) });
      }
      reg.buffer.push(...keep);
    }
    if (this.pending.length > 0) this.wake(null);
  }

  private begin(delivery: Delivery): void {
    const { reg, claimed } = delivery;
    const maxDeliveries = reg.policy.retry.maxDeliveries;
    delivery.started = true;
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
    delivery.reg.pace.onFinish();
    this.startBuffered(delivery.reg);
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
    const { clock, workerId, leaseMs } = this.options;
    const { settlements, chains } = this.handoffs(batch);
    const now = clock.now();
    const handoff = chains.size > 0 ? { workerId, leaseUntil: now + leaseMs } : undefined;
    let outcome;
    try {
      outcome = await this.store.queue.settle(settlements, now, handoff);
    } catch (error) {
      this.pending = [...batch, ...this.pending];
      throw error;
    }
    this.settled(batch, outcome);
    for (const message of outcome.claimed ?? []) {
      const reg = this.regs.get(message.topic);
      if (reg !== undefined) this.adopt(reg, [message], (m) => chains.get(`${m.topic}\u001f${m.key}`) ?? 1);
    }
  }

  /**
   * Marks the settlements whose key's next message this worker takes over (`next`): keyed topics, a
   * delivery that frees its key, a chain shorter than `HANDOFF_CHAIN`, not while stopping. No place
   * is kept for the successor: the claims go on meanwhile (keeping places starved them and measured
   * slower), so a successor may wait in the topic's buffer like a prefetched message.
   */
  private handoffs(batch: ReadonlyArray<{ delivery: Delivery; finished: Finished }>): {
    settlements: Settlement[];
    chains: Map<string, number>;
  } {
    const chains = new Map<string, number>();
    const settlements = batch.map(({ delivery, finished }) => {
      const s = finished.settlement;
      const { reg, claimed } = delivery;
      if (this.stopping !== undefined || s.kind === 'retry' || (s.kind === 'dead' && s.blockKey) || !delivery.started) return s;
      if (reg.policy.ordering !== 'key' || claimed.key === null || delivery.chain >= HANDOFF_CHAIN) return s;
      chains.set(`${claimed.topic}\u001f${claimed.key}`, delivery.chain + 1);
      return { ...s, next: true };
    });
    return { settlements, chains };
  }

  /** Accounts for a batch of applied settlements: metrics, lost leases, wake-ups for promoted keys. */
  private settled(batch: ReadonlyArray<{ delivery: Delivery; finished: Finished }>, outcome: SettleOutcome): void {
    const now = this.options.clock.now();
    batch.forEach(({ delivery, finished }, i) => {
      this.deliveries.delete(delivery.ref);
      const { topic, id, createdAt, attempts } = delivery.claimed;
      // A prefetched message given back unstarted: no delivery happened, nothing to report.
      if (!delivery.started) return;
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
   * Sleeps until a wake-up, the next due message or hold end, or the backstop poll (maintenance runs
   * beside, in its own loop: a missed wake-up shows up as backstop latency instead of hiding behind
   * the maintenance interval).
   */
  private async idle(): Promise<void> {
    const { clock, pollMs } = this.options;
    const now = clock.now();
    let dueAt = now + pollMs;
    // With every slot busy nothing could be claimed at a due time anyway: a finishing handler wakes
    // the loop, and the next idle pass looks up due times (a cron fire time is still met by
    // maintenance, within maintenanceMs). This saves a round trip per busy pass.
    const open = [...this.regs.values()].filter((reg) => this.room(reg) > 0).map((reg) => reg.topic);
    if (open.length > 0) {
      try {
        const due = await this.store.queue.nextDueAt(open, now);
        if (due !== null) dueAt = Math.min(dueAt, due);
      } catch (error) {
        this.emitError({ error });
      }
    }
    if (this.wakeRequested || this.pending.length > 0 || this.stopping !== undefined) return;
    const ms = dueAt - clock.now();
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

  /** Runs maintenance once now (reclaim, cron, repair and purge when due). */
  maintain(now: number): Promise<void> {
    return this.maintenance.run(now);
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

  async hold(topic: string, key: string | null, until: number): Promise<void> {
    await this.store.queue.hold({ topic, key, until, reason: `held by ${this.options.workerId}` });
    this.unbuffer(topic, key);
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
    await this.maintenanceDone;
    // Prefetched messages go back first, so other workers can take them during the grace period.
    this.unbuffer(null, null);
    if (this.pending.length > 0) await this.flush().catch((error: unknown) => this.emitError({ error }));
    const running = (): Delivery[] => [...this.deliveries.values()].filter((d) => d.started && !d.finished);
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
    this.attachment?.dispose();
    await this.store.queue.removeWorker(this.options.workerId).catch((error: unknown) => this.emitError({ error }));
  }
}
