import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatDuration } from '../format.js';
import { startProgress } from '../progress.js';
import { reconcileResuming } from '../reconcile-run.js';
import { checkInvariants, collectStats, type DemoChecks, type DemoReconciliation, type DemoStats, proofHolds, summarise } from './proof.js';
import { Scenario, type ScenarioEvent, type ScenarioPhase } from './scenario.js';
import { type BreakerTransition, type DemoWorld, FLAGSHIP_CONFIG, freshDataDir, PACKAGE_ROOT, startWorld } from './world.js';

/** Options of {@link runFlagshipDemo}. */
export interface FlagshipDemoOptions {
  /** CRM customers created at the start (more are created as it runs). */
  readonly customers: number;
  /** Length of the scripted traffic and faults, ms. */
  readonly durationMs: number;
  readonly seed: number;
  /** Port of the admin API and dashboard (0: a free one). */
  readonly adminPort: number;
  /** Called once the app is up, with where the dashboard is. */
  readonly onReady?: (world: DemoWorld) => void;
  /** Default: the package's examples/crm-esp/weir.config.ts. */
  readonly configFile?: string;
  /** Default: a fresh `./.weir/demo-<time>` (or one under the OS temp dir). */
  readonly dataDir?: string;
}

/** The demo's result: what happened, and the proof. */
export interface FlagshipDemoResult {
  /** True when every check holds and reconciliation is clean. */
  readonly ok: boolean;
  readonly seed: number;
  readonly customers: number;
  readonly durationMs: number;
  readonly elapsedMs: number;
  /** How long the backlog took to drain once the faults stopped, ms; `pending` when it had not within the limit. */
  readonly settle: { readonly ms: number; readonly pending: number };
  readonly dataDir: string;
  readonly logFile: string;
  readonly admin: { readonly url: string; readonly token: string };
  readonly systems: { readonly crm: string; readonly esp: string };
  readonly sync: string;
  readonly phases: readonly ScenarioPhase[];
  readonly events: readonly ScenarioEvent[];
  readonly breaker: readonly BreakerTransition[];
  readonly stats: DemoStats;
  readonly reconciliation: DemoReconciliation;
  readonly checks: DemoChecks;
  /** The headline numbers. */
  readonly proof: {
    readonly lost: number;
    readonly duplicated: number;
    readonly consentViolations: number;
    readonly abuse: number;
    readonly reconciliationClean: boolean;
  };
}

/** What is still to do: queued changes and webhooks (topics of scheduled reconciliations left out), scripted cases waiting. */
async function backlog(w: DemoWorld, scenario: Scenario): Promise<number> {
  const stats = await w.app.queue.stats();
  const queued = stats.filter((t) => !t.topic.includes('reconcil')).reduce((n, t) => n + t.ready + t.scheduled + t.active + t.waiting, 0);
  return queued + w.crm.webhooks.pending + w.esp.webhooks.pending + scenario.waiting;
}

/**
 * Waits until nothing is queued and no webhook is on its way, for a whole polling period (so a
 * polling round sees the final state too), or until `maxMs`.
 */
async function settle(w: DemoWorld, scenario: Scenario, maxMs: number): Promise<{ ms: number; pending: number }> {
  const start = performance.now();
  let quietSince: number | undefined;
  let pending = 0;
  while (performance.now() - start < maxMs) {
    pending = await backlog(w, scenario);
    const now = performance.now();
    if (pending > 0) quietSince = undefined;
    else if (quietSince === undefined) quietSince = now;
    else if (now - quietSince >= w.pollMs + 500) return { ms: Math.round(now - start), pending: 0 };
    await sleep(200);
  }
  return { ms: Math.round(performance.now() - start), pending };
}

/**
 * The flagship demo: starts both simulators and the example app, plays the scenario (user actions
 * on both systems while an ESP outage, 429 storms, lost responses, duplicated, late, lost and
 * reordered webhooks and conflicting edits play), waits for the backlog to drain, reconciles
 * (apply, then a dry run that must find nothing), and checks the invariants on the systems' state.
 * The world stays up (dashboard served) until the caller closes it.
 */
export async function runFlagshipDemo(o: FlagshipDemoOptions): Promise<{ world: DemoWorld; result: FlagshipDemoResult }> {
  let began = performance.now();
  const dataDir = o.dataDir ?? freshDataDir();
  const pollMs = Math.max(500, Math.min(2000, Math.round(o.durationMs / 10)));
  const world = await startWorld(o.configFile ?? resolve(PACKAGE_ROOT, FLAGSHIP_CONFIG), dataDir, { seed: o.seed, adminPort: o.adminPort, pollMs, began: () => began });
  try {
    o.onReady?.(world);
    const scenario = new Scenario(world.crm, world.esp, {
      customers: o.customers,
      durationMs: o.durationMs,
      seed: o.seed,
      forge: { hooksUrl: world.hooksUrl, crmSecret: world.webhookSecrets.crm, espSecret: world.webhookSecrets.esp },
    });
    const snapshot = { backlog: 0, conflicts: 0, escalations: 0, dead: 0 };
    const sampling = { on: true };
    const sampler = (async () => {
      while (sampling.on) {
        try {
          snapshot.backlog = await backlog(world, scenario);
          snapshot.conflicts = (await world.sync.conflicts({ limit: 100_000 })).length;
          snapshot.escalations = (await world.sync.metrics()).escalationsOpen;
          snapshot.dead = await world.app.store.deadLetters.count();
        } catch {
          // The store is closing.
        }
        await sleep(500);
      }
    })();
    let stage = 'faults';
    const progress = startProgress({
      label: 'demo',
      render: () => {
        const t = scenario.elapsedMs;
        const calls = world.crm.log.counters.requests + world.esp.log.counters.requests;
        const actions = scenario.counts.crmActions + scenario.counts.espActions;
        const head = stage === 'faults' ? `${scenario.phaseAt(t)} ${formatDuration(t)}/${formatDuration(o.durationMs)}` : stage;
        return {
          ...(stage === 'faults' ? { fraction: t / o.durationMs } : {}),
          text: `${head} · ${actions} user actions · ${calls} API calls · backlog ${snapshot.backlog} · ${snapshot.conflicts} conflicts · ${snapshot.escalations} escalations open · ${snapshot.dead} dead letters`,
        };
      },
    });
    let settled: { ms: number; pending: number };
    let reconciliation: DemoReconciliation;
    try {
      began = performance.now();
      await scenario.run();
      stage = 'faults over: draining the backlog';
      // Long enough for a breaker that opened during the outage to close again and the backlog to drain.
      settled = await settle(world, scenario, Math.max(60_000, o.durationMs));
      scenario.stop();
      stage = 'reconciling (apply)';
      const apply = summarise(await reconcileResuming(world.sync, { mode: 'apply' }));
      await settle(world, scenario, 15_000);
      stage = 'reconciling (dry run check)';
      const check = summarise(await reconcileResuming(world.sync, { mode: 'dry_run' }));
      reconciliation = { apply, check, clean: check.actionable === 0 && apply.repairs.failed === 0 };
    } finally {
      scenario.stop();
      progress.stop();
      sampling.on = false;
      await sampler;
    }
    const open = await world.sync.escalations.list({ state: 'open', limit: 10_000 });
    const checks = checkInvariants({ crm: world.crm, esp: world.esp, scenario, open, crmSide: world.crmSide });
    const stats = await collectStats({ app: world.app, sync: world.sync, crm: world.crm, esp: world.esp, scenario, alerts: world.alerts, crmSide: world.crmSide });
    const result: FlagshipDemoResult = {
      ok: proofHolds(checks, reconciliation),
      seed: o.seed,
      customers: o.customers,
      durationMs: o.durationMs,
      elapsedMs: Math.round(performance.now() - began),
      settle: settled,
      dataDir: world.dataDir,
      logFile: world.logFile,
      admin: { url: world.adminUrl, token: world.adminToken },
      systems: { crm: world.crm.url, esp: world.esp.url },
      sync: world.sync.name,
      phases: scenario.phases,
      events: scenario.events,
      breaker: world.breaker,
      stats,
      reconciliation,
      checks,
      proof: {
        lost: checks.lost,
        duplicated: checks.duplicated,
        consentViolations: checks.consentViolations,
        abuse: checks.abuse.crm + checks.abuse.esp,
        reconciliationClean: reconciliation.clean,
      },
    };
    return { world, result };
  } catch (err) {
    await world.close();
    throw err;
  }
}
