/**
 * Weir's policies against a bare `await`, cockatiel 3.2 and opossum 9, in one run, on the same
 * function: success path and 10%-failure path, ns per call, heap after 1M calls, and the failure
 * path's cost as a failure-rate window fills. Ratios are against anchors measured in this process.
 */
import { type Bench, type BenchContext, type Case, type FillPoint, formatBytes, formatNs, type Measurement, table } from './harness.js';
import { cases, type Path, SETTINGS } from './policy-cases.js';

const PATHS: readonly Path[] = ['success', 'failure'];
const HEAP_CALLS = 1_000_000;
/** Anchors far slower than Weir get this long for their heap run; the calls they reached are shown. */
const ANCHOR_HEAP_MS = 3_000;
/** A cap for Weir's own heap runs too, so a slow build cannot make the bench run for minutes. */
const WEIR_HEAP_MS = 10_000;

const bench: Bench = {
  name: 'policy',
  description: 'resilience policies: Weir vs a bare await, cockatiel 3.2 and opossum 9 (sequential calls)',
  async run(ctx) {
    ctx.log('Settings:');
    for (const [name, value] of Object.entries(SETTINGS)) ctx.log(`  ${name}: ${value}`);
    ctx.log('Failure path: every 10th invocation of the function rejects (a preallocated error); retries recover.');
    ctx.log();

    const measured = new Map<string, Measurement>();
    for (const path of PATHS) {
      const c = cases(path);
      const subjects = [c.bare, ...c.weir, c.weirWrap, c.weirWrapRate, ...c.anchors, c.cockatielWrap, c.opossum].filter(
        (s) => s === c.bare || ctx.matches(s.name),
      );
      const results = await ctx.compare(subjects);
      const bare = results[0] as Measurement;
      for (const m of results) measured.set(`${path}:${m.name}`, m);
      ctx.log(`### ${path} path: ns per call (median of ${bare.rounds.length} interleaved rounds)`);
      ctx.log(
        table(
          ['case', 'per call', '× bare', 'rounds min–max', 'calls/round'],
          results.map((m) => [
            m.name,
            formatNs(m.nsPerCall),
            (m.nsPerCall / bare.nsPerCall).toFixed(1),
            `${formatNs(Math.min(...m.rounds))} – ${formatNs(Math.max(...m.rounds))}`,
            m.calls.toLocaleString('en-US'),
          ]),
        ),
      );
      ctx.log();
    }

    ratios(ctx, measured);
    await heap(ctx);
    await fill(ctx);
  },
};

export default bench;

function ratios(ctx: BenchContext, measured: Map<string, Measurement>): void {
  const get = (path: Path, name: string): number | undefined => measured.get(`${path}:${name}`)?.nsPerCall;
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const path of PATHS) {
    const c = cases(path);
    const weir = get(path, c.weirWrap.name);
    const weirRate = get(path, c.weirWrapRate.name);
    const cockatiel = get(path, c.cockatielWrap.name);
    const opossum = get(path, c.opossum.name);
    const bare = get(path, c.bare.name) ?? 0;
    if (weir === undefined) continue;
    if (cockatiel !== undefined) {
      rows.push([`${path}: Weir wrap / cockatiel wrap`, ratio(weir, cockatiel), ratio(weir - bare, cockatiel - bare)]);
      verdicts.push(`${path}: Weir's pipeline ≤ 1/20 of cockatiel's: ${weir * 20 <= cockatiel ? 'met' : 'NOT met'} (${ratio(weir, cockatiel)})`);
    }
    if (opossum !== undefined) {
      rows.push([`${path}: Weir wrap / opossum breaker`, ratio(weir, opossum), ratio(weir - bare, opossum - bare)]);
      verdicts.push(`${path}: Weir's pipeline ≤ opossum's lone breaker: ${weir <= opossum ? 'met' : 'NOT met'} (${ratio(weir, opossum)})`);
      if (weirRate !== undefined) rows.push([`${path}: Weir wrap (failure-rate) / opossum`, ratio(weirRate, opossum), ratio(weirRate - bare, opossum - bare)]);
    }
  }
  if (rows.length === 0) return;
  ctx.log('### ratios (same run)');
  ctx.log(table(['', 'per call', 'overhead (minus bare await)'], rows));
  ctx.log();
  for (const v of verdicts) ctx.log(`target — ${v}`);
  ctx.log();
}

function ratio(a: number, b: number): string {
  if (!(b > 0)) return 'n/a';
  const r = a / b;
  return r >= 1 ? `${r.toFixed(2)}×` : `1/${(1 / r).toFixed(r < 0.1 ? 0 : 1)}`;
}

async function heap(ctx: BenchContext): Promise<void> {
  const rows: string[][] = [];
  for (const path of PATHS) {
    const c = cases(path);
    const fast: Case[] = [c.bare, ...c.weir, c.weirWrap, c.weirWrapRate];
    const slow: Case[] = [c.cockatielWrap, c.opossum];
    for (const subject of [...fast, ...slow]) {
      if (subject !== c.bare && !ctx.matches(subject.name)) continue;
      const { bytes, calls } = await ctx.heapAfter(subject, HEAP_CALLS, { maxMs: slow.includes(subject) ? ANCHOR_HEAP_MS : WEIR_HEAP_MS });
      rows.push([`${path}: ${subject.name}`, calls.toLocaleString('en-US'), formatBytes(bytes)]);
    }
  }
  ctx.log(`### heap retained after ${HEAP_CALLS.toLocaleString('en-US')} calls on one instance (gc before and after)`);
  ctx.log(`(runs stop after ${ANCHOR_HEAP_MS / 1000} s for anchors, ${WEIR_HEAP_MS / 1000} s for Weir; the calls column says how far they got)`);
  ctx.log(table(['case', 'calls', 'heap growth'], rows));
  ctx.log();
}

async function fill(ctx: BenchContext): Promise<void> {
  const c = cases('failure');
  const checkpoints = [10_000, 100_000, 1_000_000];
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const subject of [c.weir[3] as Case, c.weirWrapRate, c.weirWrap, c.opossum]) {
    if (!ctx.matches(subject.name)) continue;
    const anchor = subject === c.opossum;
    const points = await ctx.fill(subject, anchor ? [1_000, 5_000, 10_000, 20_000] : checkpoints, {
      sample: anchor ? 1_100 : 11_000,
      maxMs: 20_000,
      anchor: c.bare,
    });
    rows.push([subject.name, ...points.map((p) => `${p.calls.toLocaleString('en-US')}: ${formatNs(p.nsPerCall)} (${relative(p).toFixed(1)}× bare)`)]);
    if (!anchor && points.length === checkpoints.length) {
      const growth = relative(points.at(-1)) / relative(points[0]);
      rows.push(['', `(cost × bare) at 1M / at 10k = ${growth.toFixed(2)}`]);
      verdicts.push(`${subject.name}: failure path flat as the window fills (1M ≤ 1.5 × 10k, relative to bare): ${growth <= 1.5 ? 'met' : 'NOT met'}`);
    }
  }
  if (rows.length === 0) return;
  ctx.log('### failure path as the window fills: ns per call over the 11k calls before each mark (opossum: the 1.1k before), median of 11 pieces, each beside as many bare awaits');
  ctx.log('(one instance throughout; at these speeds every call falls inside the 10 s window, so a window that kept calls would grow)');
  for (const r of rows) ctx.log(`  ${r[0]?.padEnd(48)} ${r.slice(1).join('   ')}`);
  ctx.log();
  for (const v of verdicts) ctx.log(`target — ${v}`);
  ctx.log();
}

/** A fill point's cost as a multiple of the bare await measured beside it. */
function relative(p: FillPoint | undefined): number {
  return p === undefined ? Number.NaN : p.nsPerCall / (p.anchorNsPerCall ?? Number.NaN);
}
