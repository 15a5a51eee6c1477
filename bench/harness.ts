/**
 * A tiny benchmark harness: ns per call over N sequential awaited calls, after a warm-up, in
 * several rounds, median; rounds of different cases are interleaved so that a noisy neighbour
 * slows every case alike and ratios stay meaningful; heap retained after N calls, after a full gc.
 * Bench files (`bench/*.bench.ts`) default-export a {@link Bench}; `bench/run.ts` runs them.
 */
import { performance } from 'node:perf_hooks';
import { type Progress, startProgress } from '../src/cli/progress.js';

/** One call of the code under test; `i` counts calls from 0. A rejection is caught and ignored. */
export type Call = (i: number) => unknown;

export interface Case {
  readonly name: string;
  /** Builds a fresh subject (policy instance and the function calling it). Called once per measurement. */
  readonly setup: () => Call;
  /** Releases what `setup` made (timers of a third-party library, …). */
  readonly teardown?: () => void;
}

export interface MeasureOptions {
  /** Rounds; the median is reported. Default 7. */
  rounds?: number;
  /** Target duration of one round in ms; calls per round are calibrated from the warm-up. Default 150. */
  roundMs?: number;
  /** Bounds on calls per round. Default 1_000 to 500_000. */
  minCalls?: number;
  maxCalls?: number;
  /** Warm-up duration in ms (JIT, inline caches). Default 150. */
  warmupMs?: number;
}

export interface Measurement {
  readonly name: string;
  /** Median ns per call over the rounds. */
  readonly nsPerCall: number;
  /** Every round's ns per call. */
  readonly rounds: readonly number[];
  /** Calls per round. */
  readonly calls: number;
}

export interface BenchContext {
  /** True when `name` matches the filter given on the command line (or there is none). */
  matches(name: string): boolean;
  /** Measures the cases, interleaving their rounds. */
  compare(cases: readonly Case[], options?: MeasureOptions): Promise<Measurement[]>;
  /** Heap growth in bytes after `calls` calls on one fresh subject (gc before and after), or undefined without `--expose-gc`. */
  heapAfter(c: Case, calls: number, options?: { maxMs?: number }): Promise<{ bytes: number | undefined; calls: number }>;
  /**
   * ns per call over the `sample` calls ending at each checkpoint (median of `segments` pieces, default
   * 11), on one subject kept across checkpoints; with `anchor`, the anchor's cost measured beside each piece.
   */
  fill(
    c: Case,
    checkpoints: readonly number[],
    options?: { sample?: number; segments?: number; maxMs?: number; anchor?: Case },
  ): Promise<FillPoint[]>;
  /** Prints a line (above the live progress line). */
  log(line?: string): void;
  /** Sets the text of the live progress line. */
  status(text: string, fraction?: number): void;
}

export interface FillPoint {
  readonly calls: number;
  readonly nsPerCall: number;
  /** The anchor's ns per call, measured beside it. */
  readonly anchorNsPerCall?: number;
}

export interface Bench {
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<void>;
}

const gc = (globalThis as { gc?: () => void }).gc;

async function loop(call: Call, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) {
    try {
      await call(i);
    } catch {
      // the failure path is part of what is measured
    }
  }
}

async function timed(call: Call, from: number, to: number): Promise<number> {
  const start = process.hrtime.bigint();
  await loop(call, from, to);
  return Number(process.hrtime.bigint() - start);
}

/** Lets timers and I/O run (the progress line, a library's own timers); awaited microtasks alone never do. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function median(values: readonly number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Creates the context a bench runs in. */
export function createContext(filter: string | undefined, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): BenchContext & { done(): void } {
  let text = '';
  let fraction: number | undefined;
  const progress: Progress = startProgress({ label: 'bench', render: () => ({ fraction, text }) });

  return {
    matches: (name) => filter === undefined || name.toLowerCase().includes(filter.toLowerCase()),
    log(line = '') {
      progress.clear();
      print(line);
    },
    status(t, f) {
      text = t;
      fraction = f;
    },
    done: () => progress.stop(),

    async compare(cases, options = {}) {
      const rounds = options.rounds ?? 7;
      const roundMs = options.roundMs ?? 150;
      const minCalls = options.minCalls ?? 1_000;
      const maxCalls = options.maxCalls ?? 500_000;
      const warmupMs = options.warmupMs ?? 150;
      const subjects = cases.map((c) => ({ c, call: c.setup(), calls: 0, next: 0, results: [] as number[] }));
      for (const [k, s] of subjects.entries()) {
        text = `warm-up ${s.c.name}`;
        fraction = k / subjects.length;
        let n = 0;
        const start = performance.now();
        while (performance.now() - start < warmupMs) {
          await loop(s.call, s.next, s.next + 100);
          s.next += 100;
          n += 100;
        }
        const perCallMs = (performance.now() - start) / n;
        s.calls = Math.max(minCalls, Math.min(maxCalls, Math.round(roundMs / perCallMs)));
      }
      for (let r = 0; r < rounds; r++) {
        await yieldToEventLoop();
        for (const [k, s] of subjects.entries()) {
          text = `round ${r + 1}/${rounds} ${s.c.name}`;
          fraction = (r * subjects.length + k) / (rounds * subjects.length);
          gc?.();
          s.results.push((await timed(s.call, s.next, s.next + s.calls)) / s.calls);
          s.next += s.calls;
        }
      }
      for (const s of subjects) s.c.teardown?.();
      return subjects.map((s) => ({ name: s.c.name, nsPerCall: median(s.results), rounds: s.results, calls: s.calls }));
    },

    async heapAfter(c, calls, options = {}) {
      const maxMs = options.maxMs ?? Number.POSITIVE_INFINITY;
      gc?.();
      const before = process.memoryUsage().heapUsed;
      const call = c.setup();
      const start = performance.now();
      let done = 0;
      while (done < calls && performance.now() - start < maxMs) {
        const next = Math.min(calls, done + 10_000);
        await loop(call, done, next);
        await yieldToEventLoop();
        done = next;
        text = `heap ${c.name}: ${done.toLocaleString('en-US')} calls`;
        fraction = done / calls;
      }
      // Settle anything the library left pending (timers of 0 ms, microtasks) before measuring.
      await yieldToEventLoop();
      gc?.();
      const after = process.memoryUsage().heapUsed;
      void call; // keep the subject alive until after the measurement
      c.teardown?.();
      return { bytes: gc === undefined ? undefined : after - before, calls: done };
    },

    async fill(c, checkpoints, options = {}) {
      const sample = options.sample ?? 10_000;
      const segments = options.segments ?? 11;
      const maxMs = options.maxMs ?? Number.POSITIVE_INFINITY;
      const segment = Math.max(1, Math.floor(sample / segments));
      const call = c.setup();
      const anchor = options.anchor?.setup();
      const start = performance.now();
      const out: FillPoint[] = [];
      let done = 0;
      let anchorNext = 0;
      for (const checkpoint of checkpoints) {
        const from = Math.max(done, checkpoint - segment * segments);
        while (done < from && performance.now() - start <= maxMs) {
          const next = Math.min(from, done + 10_000);
          await loop(call, done, next);
          await yieldToEventLoop();
          done = next;
          text = `fill ${c.name}: ${done.toLocaleString('en-US')} calls`;
          fraction = done / (checkpoints.at(-1) ?? 1);
        }
        if (done < from) break;
        // Several short segments, each beside an equal run of the anchor: the median of each is
        // robust to a burst of load, and the ratio to the anchor cancels slow drifts.
        gc?.();
        const own: number[] = [];
        const ref: number[] = [];
        for (let k = 0; done < checkpoint; k++) {
          const n = Math.min(segment, checkpoint - done);
          own.push((await timed(call, done, done + n)) / n);
          done += n;
          if (anchor !== undefined) {
            ref.push((await timed(anchor, anchorNext, anchorNext + n)) / n);
            anchorNext += n;
          }
        }
        const nsPerCall = median(own);
        out.push({ calls: checkpoint, nsPerCall, ...(anchor === undefined ? {} : { anchorNsPerCall: median(ref) }) });
        if (performance.now() - start > maxMs) break;
      }
      c.teardown?.();
      options.anchor?.teardown?.();
      return out;
    },
  };
}

/** `123 ns`, `1.23 µs`, `1.23 ms`. */
export function formatNs(ns: number): string {
  if (ns < 1_000) return `${ns.toFixed(ns < 10 ? 2 : 0)} ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(ns < 10_000 ? 2 : 1)} µs`;
  return `${(ns / 1_000_000).toFixed(2)} ms`;
}

/** `12.3 KB`, `4.5 MB`; negative values are shown as they are (gc freed more than the run kept). */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return 'n/a (no --expose-gc)';
  const abs = Math.abs(bytes);
  if (abs < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Fixed-width table rows. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
