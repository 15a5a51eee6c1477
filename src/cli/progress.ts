/** One frame of progress: how far along (0..1, if known) and what to show beside it. */
export interface ProgressFrame {
  readonly fraction?: number | undefined;
  readonly text: string;
}

export interface ProgressOptions {
  /** Produces the current frame; called on every redraw. */
  render: () => ProgressFrame;
  /** A short prefix such as `demo`. */
  label?: string;
  /** Where to draw. Default `process.stderr`, so stdout stays clean for results and `--json`. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Draw a live line (default: `stream.isTTY`); otherwise print plain lines, for CI logs. */
  live?: boolean;
  /** Redraw period in ms. Default 100 for a live line, 2000 for plain lines. */
  intervalMs?: number;
}

/** A running progress display. */
export interface Progress {
  /** Redraws now (a live line), or prints a line now (plain mode). */
  update(): void;
  /** Clears the live line so other output can be written; the next redraw brings it back. */
  clear(): void;
  /** Stops redrawing, clears the live line and prints `finalText` if given. Idempotent. */
  stop(finalText?: string): void;
}

const BAR_WIDTH = 24;

/**
 * Shows progress of long work: on a TTY a single live line with a bar, redrawn in place; elsewhere
 * (CI, pipes) a plain line every couple of seconds. The timer is unref'd on purpose: a forgotten
 * `stop()` must never keep the process alive.
 *
 * @example
 * ```ts
 * const progress = startProgress({ label: 'demo', render: () => ({ fraction: done / total, text: `${done} calls` }) });
 * // … work …
 * progress.stop('demo: done');
 * ```
 */
export function startProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const live = options.live ?? stream.isTTY === true;
  const label = options.label === undefined ? '' : `${options.label} `;
  let stopped = false;
  let drawn = false;

  const line = (): string => {
    const frame = options.render();
    const fraction = frame.fraction === undefined ? undefined : Math.min(1, Math.max(0, frame.fraction));
    if (fraction === undefined) return `${label}${frame.text}`;
    const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
    if (!live) return `${label}${pct} ${frame.text}`;
    const filled = Math.round(fraction * BAR_WIDTH);
    return `${label}[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${pct} ${frame.text}`;
  };

  const update = (): void => {
    if (stopped) return;
    if (live) {
      const width = typeof stream.columns === 'number' && stream.columns > 10 ? stream.columns - 1 : 120;
      stream.write(`\r\x1b[2K${line().slice(0, width)}`);
      drawn = true;
    } else {
      stream.write(`${line()}\n`);
    }
  };

  const timer = setInterval(update, options.intervalMs ?? (live ? 100 : 2000));
  timer.unref();
  if (live) update();

  return {
    update,
    clear() {
      if (drawn) stream.write('\r\x1b[2K');
      drawn = false;
    },
    stop(finalText) {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      if (drawn) stream.write('\r\x1b[2K');
      if (finalText !== undefined) stream.write(`${finalText}\n`);
    },
  };
}
