import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Store } from '../store/types.js';
import { nextCronTime } from './cron.js';
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
 * A worker's maintenance: reclaims expired and dead workers' leases, fires due cron schedules, and
 * now and then repairs keys and purges by retention. Runs in its own loop every `maintenanceMs`,
 * beside the fetch loop, so a wake-up never waits behind its round trips; what it finds wakes the
 * fetch loop. @internal
 */
export class Maintenance {
  private nextAt = 0;
  private nextPurgeAt = 0;

  constructor(
    private readonly store: Store,
    private readonly options: ResolvedQueueOptions,
    private readonly wake: (topic: string | null) => void,
    private readonly emitError: (event: QueueErrorEvent) => void,
  ) {}

  /** Runs a pass every `maintenanceMs` until `signal` aborts; a failed pass is reported and runs again next interval. */
  async loop(signal: AbortSignal): Promise<void> {
    const { clock, maintenanceMs } = this.options;
    while (!signal.aborted) {
      const now = clock.now();
      if (now >= this.nextAt) {
        await this.run(now).catch((error: unknown) => {
          this.nextAt = Math.max(this.nextAt, now + maintenanceMs);
          this.emitError({ error });
        });
        continue;
      }
      await clock.sleep(this.nextAt - now, signal).catch(() => undefined);
    }
  }

  /** One pass now. */
  async run(now: number): Promise<void> {
    const { deadWorkerMs, workerId, retention, maintenanceMs } = this.options;
    this.nextAt = now + maintenanceMs;
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
}
