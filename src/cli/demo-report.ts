import type { DemoResult, DemoRunStats } from './demo-policies.js';

/** Nearest-rank percentile of an ascending array (0 when empty). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** A short, stable name for why a call failed: `HTTP 503`, `connection reset`, `circuit open`, … */
export function describeFailure(error: unknown): string {
  const e = error as { code?: unknown; cause?: unknown; details?: { status?: unknown }; name?: unknown } | null | undefined;
  switch (e?.code) {
    case 'WEIR_RETRIES_EXHAUSTED':
      return describeFailure(e.cause);
    case 'WEIR_HTTP_STATUS':
      return `HTTP ${String(e.details?.status)}`;
    case 'WEIR_CIRCUIT_OPEN':
      return 'circuit open';
    case 'WEIR_BULKHEAD_FULL':
      return 'bulkhead full';
    case 'WEIR_TIMEOUT':
      return 'timed out';
    case 'WEIR_CANCELLED':
      return 'cancelled';
    case 'UND_ERR_SOCKET':
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset';
    case 'ECONNREFUSED':
      return 'connection refused';
    default:
      return typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'unknown error';
  }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const pct = (part: number, whole: number): string => (whole === 0 ? '0%' : `${Math.round((part / whole) * 100)}%`);

/** The human report of a demo run: schedule, side-by-side table, breaker timeline and a reading. */
export function formatDemoReport(r: DemoResult): string {
  const { bare, weir } = r;
  const out: string[] = [];
  out.push(`Weir policy demo: seed ${r.seed}, ${seconds(r.durationMs)} of traffic, ${bare.calls} logical calls each way, run at the same time.`);
  out.push('', 'Fault schedule (both servers, same seed):');
  for (const p of r.schedule) out.push(`  ${seconds(p.fromMs).padStart(7)} – ${seconds(p.toMs).padEnd(7)} ${p.name.padEnd(13)} ${p.description}`);

  const rows: Array<[string, string | number, string | number]> = [
    ['logical calls', bare.calls, weir.calls],
    ['succeeded', `${bare.succeeded} (${pct(bare.succeeded, bare.calls)})`, `${weir.succeeded} (${pct(weir.succeeded, weir.calls)})`],
    ['failed', bare.failed, weir.failed],
    ['requests sent to the server', bare.attempts, weir.attempts],
    ['retries', bare.retries, weir.retries],
    [`requests during the outage (${seconds(r.outage.toMs - r.outage.fromMs)})`, bare.attemptsDuringOutage, weir.attemptsDuringOutage],
    ['latency p50 (ms)', fmtMs(bare.latencyMs.p50), fmtMs(weir.latencyMs.p50)],
    ['latency p99 (ms)', fmtMs(bare.latencyMs.p99), fmtMs(weir.latencyMs.p99)],
    ['latency max (ms)', fmtMs(bare.latencyMs.max), fmtMs(weir.latencyMs.max)],
  ];
  const causes = [...new Set([...Object.keys(bare.failures), ...Object.keys(weir.failures)])].toSorted();
  if (causes.length > 0) {
    rows.push(['failed calls by cause', '', '']);
    for (const c of causes) rows.push([`  ${c}`, bare.failures[c] ?? 0, weir.failures[c] ?? 0]);
    rows.push(['failed calls by phase they started in', '', '']);
    for (const { name } of r.schedule) rows.push([`  ${name}`, bare.failuresByPhase[name] ?? 0, weir.failuresByPhase[name] ?? 0]);
  }
  out.push('', `${''.padEnd(40)}${'without Weir'.padStart(14)}${'with Weir'.padStart(14)}`);
  for (const [label, a, b] of rows) out.push(`${label.padEnd(40)}${String(a).padStart(14)}${String(b).padStart(14)}`);

  const j = weir.rejections;
  out.push(
    '',
    'Weir rejections by kind:',
    `  circuit open ${j.circuitOpen} · bulkhead full ${j.bulkheadFull} · per-attempt timeouts ${j.attemptTimeouts} · ` +
      `overall timeouts ${j.overallTimeouts} · retries refused by the budget ${j.retryBudgetExhausted}`,
    `Retry gave up: ${Object.entries(weir.gaveUp).map(([k, v]) => `${k} ${v}`).join(' · ') || 'never'}`,
    'Breaker transitions:',
  );
  if (weir.breakerTransitions.length === 0) out.push('  none');
  for (const t of weir.breakerTransitions) {
    const phase = r.schedule.find((p) => t.atMs >= p.fromMs && t.atMs < p.toMs)?.name ?? 'after traffic';
    out.push(`  ${seconds(t.atMs).padStart(7)}  ${`${t.from} → ${t.to}`.padEnd(22)} ${t.reason.padEnd(18)} (during ${phase})`);
  }
  out.push('Weir settings:');
  for (const [name, value] of Object.entries(weir.settings)) out.push(`  ${name}: ${value}`);
  out.push('', wrapText(reading(r), 100), '');
  return out.join('\n');
}

/** ` (n of them still in flight when the outage began)`, or nothing. */
function inFlight(s: DemoRunStats): string {
  const n = s.failedInFlightAtOutage;
  if (n === 0) return '';
  return n === outside(s) ? ', all of them still in flight when the outage began' : ` (${n} of them still in flight when the outage began)`;
}

/** Failed calls that started before the outage. */
function outside(s: DemoRunStats): number {
  return Object.entries(s.failuresByPhase).reduce((n, [phase, count]) => (phase === 'down' || phase === 'recovered' ? n : n + count), 0);
}

function fmtMs(ms: number): string {
  return ms >= 100 ? String(Math.round(ms)) : ms.toFixed(1);
}

/** One paragraph saying what the numbers show; every claim is computed from them. */
export function reading(r: DemoResult): string {
  const { bare, weir } = r;
  const parts: string[] = [];
  const opened = weir.breakerTransitions.find((t) => t.to === 'open' && t.atMs >= r.outage.fromMs);
  if (weir.attemptsDuringOutage < bare.attemptsDuringOutage) {
    parts.push(
      `While the service was down the bare client kept sending every call: ${bare.attemptsDuringOutage} requests into a dead service. ` +
        (opened === undefined ? "Weir's breaker" : `Weir's breaker opened ${Math.round(opened.atMs - r.outage.fromMs)} ms into the outage and`) +
        ` let ${weir.attemptsDuringOutage} through, retries and probes included (${pct(bare.attemptsDuringOutage - weir.attemptsDuringOutage, bare.attemptsDuringOutage)} less load),` +
        ` failing ${weir.failures['circuit open'] ?? 0} calls fast instead of waiting on resets.`,
    );
  } else {
    parts.push(`During the outage Weir sent ${weir.attemptsDuringOutage} requests against ${bare.attemptsDuringOutage} bare: the breaker did not cut the load in this run.`);
  }
  const extra = weir.attempts - weir.calls;
  parts.push(
    `Of the calls started before the outage, the bare client lost ${outside(bare)} to the flaky and rate-limited phases and waited up to ${fmtMs(bare.latencyMs.max)} ms on hung answers; ` +
      `Weir lost ${outside(weir)}${inFlight(weir)}: its ${weir.retries} retries (waiting out Retry-After on 429s) ` +
      `and its per-attempt timeout, which cut hung answers short, made the difference. ` +
      (extra > 0
        ? `Over the whole run that cost ${extra} requests more than there were calls (+${pct(extra, weir.calls)}), bounded by the retry budget.`
        : `Over the whole run Weir still sent ${-extra} requests fewer than there were calls, because the open circuit failed calls without sending them.`),
  );
  const closed = weir.breakerTransitions.find((t) => t.to === 'closed' && t.atMs >= r.outage.toMs);
  const lateFailures = weir.failuresByPhase['recovered'] ?? 0;
  if (closed !== undefined && lateFailures > (bare.failuresByPhase['recovered'] ?? 0)) {
    parts.push(
      `The price: the breaker only noticed the recovery with its next probe, ${Math.round(closed.atMs - r.outage.toMs)} ms after it, ` +
        `so ${lateFailures} calls failed fast that would have worked.`,
    );
  }
  parts.push(
    weir.latencyMs.p99 <= bare.latencyMs.p99
      ? `Latency: p99 ${fmtMs(weir.latencyMs.p99)} ms with Weir against ${fmtMs(bare.latencyMs.p99)} ms bare, because no attempt may hang past its timeout; p50 ${fmtMs(weir.latencyMs.p50)} against ${fmtMs(bare.latencyMs.p50)} ms.`
      : `Latency: Weir's p99 (${fmtMs(weir.latencyMs.p99)} ms against ${fmtMs(bare.latencyMs.p99)} ms bare) is the price of succeeding: a call may wait out a Retry-After or a backoff before its next attempt, within its overall timeout, where the bare client reports the failure at once.`,
  );
  return parts.join(' ');
}

function wrapText(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line.length > 0 && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line.length === 0 ? word : `${line} ${word}`;
    }
  }
  if (line.length > 0) lines.push(line);
  return lines.join('\n');
}
