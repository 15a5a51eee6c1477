import type { Clock, Timer } from './clock.js';

/**
 * One scheduler drives every deadline instead of one Node timer per call.
 *
 * Entries with the same duration are due in the order they were added, so each duration keeps a
 * doubly-linked list (append O(1), cancel O(1)) and a single timer armed for the list's head, as
 * Node's own timer lists do. A call whose timeout never fires therefore costs an append and an
 * unlink, with no timer created or cleared.
 *
 * Like Node's own `AbortSignal.timeout()`, these timers are unref'd: a pending deadline never keeps
 * the process alive by itself (the work it bounds does, if it is real I/O), so a process using Weir
 * exits as soon as its work is done. (Backoff sleeps are ordinary, ref'd timers.)
 */
export class TimerScheduler {
  private readonly lists = new Map<number, TimerList>();
  constructor(readonly clock: Clock) {}

  /**
   * Calls `callback` once after `ms` unless the returned entry is cancelled first.
   * @param now the caller's reading of the clock, when it has one (saves a second read).
   */
  schedule(ms: number, callback: () => void, now: number = this.clock.now()): ScheduledEntry {
    let list = this.lists.get(ms);
    if (list === undefined) {
      list = new TimerList(this, ms);
      this.lists.set(ms, list);
    }
    return list.append(now + ms, callback);
  }

  /** Entries waiting, across all durations (for tests and leak checks). */
  get pending(): number {
    let n = 0;
    for (const list of this.lists.values()) n += list.size;
    return n;
  }

  /** @internal */
  drop(list: TimerList): void {
    if (this.lists.get(list.ms) === list) this.lists.delete(list.ms);
  }
}

export class ScheduledEntry {
  prev: ScheduledEntry | undefined = undefined;
  next: ScheduledEntry | undefined = undefined;
  constructor(
    readonly due: number,
    readonly callback: () => void,
    public list: TimerList | undefined,
  ) {}

  /** Removes the entry; harmless after it fired or was cancelled. */
  cancel(): void {
    this.list?.unlink(this);
  }
}

class TimerList {
  head: ScheduledEntry | undefined = undefined;
  tail: ScheduledEntry | undefined = undefined;
  size = 0;
  private timer: Timer | undefined = undefined;

  constructor(
    private readonly scheduler: TimerScheduler,
    readonly ms: number,
  ) {}

  append(due: number, callback: () => void): ScheduledEntry {
    const entry = new ScheduledEntry(due, callback, this);
    if (this.tail === undefined) {
      this.head = this.tail = entry;
    } else {
      entry.prev = this.tail;
      this.tail.next = entry;
      this.tail = entry;
    }
    this.size++;
    if (this.timer === undefined) this.arm(this.ms);
    return entry;
  }

  unlink(entry: ScheduledEntry): void {
    if (entry.list !== this) return;
    entry.list = undefined;
    if (entry.prev === undefined) this.head = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.tail = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = entry.next = undefined;
    this.size--;
  }

  private arm(delay: number): void {
    this.timer = this.scheduler.clock.setTimer(delay, () => this.fire());
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.scheduler.clock.now();
    let head = this.head;
    while (head !== undefined && head.due <= now) {
      this.unlink(head);
      try {
        head.callback();
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
      head = this.head;
    }
    if (head === undefined) this.scheduler.drop(this);
    else this.arm(head.due - now);
  }
}

const schedulers = new WeakMap<Clock, TimerScheduler>();

/** The scheduler shared by every policy that uses `clock`. */
export function schedulerFor(clock: Clock): TimerScheduler {
  let s = schedulers.get(clock);
  if (s === undefined) {
    s = new TimerScheduler(clock);
    schedulers.set(clock, s);
  }
  return s;
}
