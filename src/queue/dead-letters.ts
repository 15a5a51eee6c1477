import { InvalidOptionError } from '../errors.js';
import type { Clock } from '../internal/clock.js';
import { finite } from '../internal/validate.js';
import type { DeadLetter, DeadLetterFilter, DeadLetterGroup, DeadLetterStore } from '../store/dead-letters.js';

/** Which dead letters an operation applies to: explicit ids, or every one matching a filter. */
export type DeadLetterSelection = { readonly ids: readonly string[] } | Omit<DeadLetterFilter, 'limit' | 'beforeSeq'>;

/** Options of `replay()`. */
export interface ReplayOptions {
  /** At most this many replayed messages become due per second (their `runAt` is spread). Default 10. */
  perSecond?: number;
}

const PAGE = 500;

/**
 * Dead letters as a product: list and filter, group by error signature, preview one, replay (same
 * id, attempts reset, new history, rate-limited), discard. Reached as `queue.deadLetters`.
 */
export class DeadLetters {
  constructor(
    private readonly store: DeadLetterStore,
    private readonly clock: Clock,
  ) {}

  /** Newest first; page with `beforeSeq` (the last `seq` of the previous page). */
  list(filter: DeadLetterFilter = {}): Promise<readonly DeadLetter[]> {
    return this.store.list(filter);
  }

  count(filter: Omit<DeadLetterFilter, 'limit' | 'beforeSeq'> = {}): Promise<number> {
    return this.store.count(filter);
  }

  /** Dead letters grouped by topic and error signature, largest group first. */
  groups(filter: { readonly topic?: string } = {}): Promise<readonly DeadLetterGroup[]> {
    return this.store.groups(filter);
  }

  /** One dead letter with payload, headers, error with stack, attempt history and earlier dead-letterings. */
  get(id: string): Promise<DeadLetter | null> {
    return this.store.get(id);
  }

  /**
   * Puts the selected dead letters back in the queue under their own ids, the n-th due at
   * `now + n / perSecond`, so a replay of thousands does not flood the downstream.
   * @returns the ids replayed.
   * @throws InvalidOptionError naming `perSecond`.
   */
  async replay(selection: DeadLetterSelection, options: ReplayOptions = {}): Promise<readonly string[]> {
    const perSecond = finite(options.perSecond ?? 10, 'perSecond', Number.MIN_VALUE);
    const spacingMs = 1000 / perSecond;
    const start = this.clock.now();
    const done: string[] = [];
    for await (const ids of this.pages(selection)) {
      const now = start + done.length * spacingMs;
      done.push(...(await this.store.replay(ids, { now, spacingMs })));
    }
    return done;
  }

  /** Deletes the selected dead letters (a blocked key moves on). @returns the ids discarded. */
  async discard(selection: DeadLetterSelection): Promise<readonly string[]> {
    const done: string[] = [];
    for await (const ids of this.pages(selection)) done.push(...(await this.store.discard(ids)));
    return done;
  }

  /** Ids of the selection, a page at a time, oldest first (so replays keep their original order). */
  private async *pages(selection: DeadLetterSelection): AsyncGenerator<readonly string[]> {
    if ('ids' in selection) {
      if (!Array.isArray(selection.ids)) throw new InvalidOptionError('ids', 'an array of message ids', selection.ids);
      for (let i = 0; i < selection.ids.length; i += PAGE) yield selection.ids.slice(i, i + PAGE);
      return;
    }
    const all: DeadLetter[] = [];
    let beforeSeq: number | undefined;
    for (;;) {
      const page = await this.store.list({ ...selection, limit: PAGE, ...(beforeSeq === undefined ? {} : { beforeSeq }) });
      all.push(...page);
      if (page.length < PAGE) break;
      beforeSeq = page[page.length - 1]?.seq;
    }
    const ids = all.map((d) => d.id).toReversed();
    for (let i = 0; i < ids.length; i += PAGE) yield ids.slice(i, i + PAGE);
  }
}
