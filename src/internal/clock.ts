import { CancelledError } from '../errors.js';

/** A timer handle. Node's own `Timeout` satisfies it. */
export interface Timer {
  /** Cancels the timer; calling it twice is harmless. */
  close(): unknown;
  /** Keeps the process alive while the timer is pending (the default). */
  ref(): unknown;
  /** Lets the process exit even though the timer is pending. */
  unref(): unknown;
}

/**
 * Time as an input. Every time-dependent part of Weir takes a `Clock`, so tests can run on a
 * `FakeClock` (from `weir/testing`) and stay fast and deterministic.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Resolves after `ms`; rejects with `WEIR_CANCELLED` at once when `signal` aborts. Leaves no timer or listener behind. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `callback` once after `ms`. */
  setTimer(ms: number, callback: () => void): Timer;
}

/** setTimeout overflows above 2^31-1 ms (it then fires at once); longer waits are chained. */
const MAX_TIMER_MS = 2_147_483_647;

class LongTimer implements Timer {
  private inner: NodeJS.Timeout;
  private refed = true;
  constructor(private remaining: number, private readonly callback: () => void) {
    this.inner = this.arm();
  }
  private arm(): NodeJS.Timeout {
    const step = Math.min(this.remaining, MAX_TIMER_MS);
    this.remaining -= step;
    const t = setTimeout(() => (this.remaining > 0 ? (this.inner = this.arm()) : this.callback()), step);
    if (!this.refed) t.unref();
    return t;
  }
  close(): void {
    clearTimeout(this.inner);
  }
  ref(): void {
    this.refed = true;
    this.inner.ref();
  }
  unref(): void {
    this.refed = false;
    this.inner.unref();
  }
}

function setSystemTimer(ms: number, callback: () => void): Timer {
  const delay = ms > 0 ? ms : 0;
  return delay > MAX_TIMER_MS ? new LongTimer(delay, callback) : setTimeout(callback, delay);
}

/** Rejects at once if `signal` is already aborted; shared by every clock. */
export function sleepWith(setTimer: Clock['setTimer'], ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new CancelledError(signal.reason));
  if (!(ms > 0)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      timer.close();
      reject(new CancelledError(signal?.reason));
    };
    const timer = setTimer(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The real clock: `Date.now()` and Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleepWith(setSystemTimer, ms, signal),
  setTimer: setSystemTimer,
};
