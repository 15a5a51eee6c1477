/** Returned by every `onX(listener)`: call `dispose()` (or use `using`) to remove the listener. */
export interface Disposable {
  dispose(): void;
  [Symbol.dispose](): void;
}

/** A typed event: `event(listener)` subscribes and returns a {@link Disposable}. */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/**
 * A minimal, allocation-free-when-idle emitter: `emit` costs one length check when nobody listens.
 * A throwing listener never breaks the policy that emitted; its error is reported asynchronously.
 */
export class Emitter<T> {
  private listeners: Array<(value: T) => void> = [];

  get size(): number {
    return this.listeners.length;
  }

  readonly event: Event<T> = (listener) => {
    this.listeners = [...this.listeners, listener];
    const dispose = (): void => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
    return { dispose, [Symbol.dispose]: dispose };
  };

  emit(value: T): void {
    const listeners = this.listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        (listeners[i] as (value: T) => void)(value);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
