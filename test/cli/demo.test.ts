import { beforeAll, describe, expect, it } from 'vitest';
import type { DemoResult, DemoRunStats } from '../../src/cli/demo-policies.js';
import { createProgram, type ProgramIo, run } from '../../src/cli/program.js';
import { InvalidOptionError } from '../../src/errors.js';
import { requireBuild, weir } from './run-cli.js';

beforeAll(() => requireBuild());

const sum = (counts: Readonly<Record<string, number>>): number => Object.values(counts).reduce((a, b) => a + b, 0);

function expectConsistent(s: DemoRunStats): void {
  expect(s.calls).toBeGreaterThan(0);
  expect(s.succeeded + s.failed).toBe(s.calls);
  expect(sum(s.failures)).toBe(s.failed);
  expect(sum(s.failuresByPhase)).toBe(s.failed);
  expect(sum(s.served)).toBe(s.attempts);
  expect(s.attempts).toBeLessThanOrEqual(s.attemptsStarted === 0 ? s.attempts : s.attemptsStarted);
  expect(s.latencyMs.p50).toBeLessThanOrEqual(s.latencyMs.p99);
  expect(s.latencyMs.p99).toBeLessThanOrEqual(s.latencyMs.max);
}

describe('weir demo policies', () => {
  it('runs the policy demo and prints a consistent --json result', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await weir(['demo', 'policies', '--duration', '5', '--seed', '3', '--json'], { timeoutMs: 90_000 });
    expect(stderr).not.toMatch(/WEIR_|Error/);
    expect(code).toBe(0);
    const r = JSON.parse(stdout) as DemoResult;
    expect(r.seed).toBe(3);
    expect(r.durationMs).toBe(5000);
    expect(r.schedule.map((p) => p.name)).toEqual(['ok', 'flaky', 'rate-limited', 'slow', 'down', 'recovered']);
    expect(r.schedule.at(-1)?.toMs).toBe(5000);

    // Same traffic both ways; the bare client sends each call exactly once.
    expectConsistent(r.bare);
    expectConsistent(r.weir);
    expect(r.weir.calls).toBe(r.bare.calls);
    expect(r.bare.attempts).toBe(r.bare.calls);
    expect(r.bare.retries).toBe(0);

    // Every execution inside the retry either reached the function or was refused by the breaker;
    // calls the bulkhead turned away never got that far.
    const j = r.weir.rejections;
    expect(r.weir.attemptsStarted + j.circuitOpen).toBe(r.weir.calls - j.bulkheadFull + r.weir.retries);
    expect(r.weir.failures['circuit open'] ?? 0).toBe(j.circuitOpen);
    expect(sum(r.weir.gaveUp)).toBeLessThanOrEqual(r.weir.failed);
    expect(r.weir.failedInFlightAtOutage).toBeLessThanOrEqual(r.weir.failed);

    // The point of the demo: the breaker opened during the outage and cut the load on the dead service.
    expect(r.weir.breakerTransitions.some((t) => t.to === 'open' && t.atMs >= r.outage.fromMs && t.atMs <= r.outage.toMs)).toBe(true);
    expect(r.weir.attemptsDuringOutage).toBeLessThan(r.bare.attemptsDuringOutage);
    expect(r.bare.failures['connection reset']).toBe(r.bare.attemptsDuringOutage);
  });

  it('lists demo in --help, policies under demo, and rejects a bad option with exit code 2 (usage)', { timeout: 60_000 }, async () => {
    const help = await weir(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['start', 'demo', 'reconcile', 'escalations', 'keys', 'migrate', 'dlq', 'audit']) expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    const demoHelp = await weir(['demo', '--help']);
    expect(demoHelp.stdout).toMatch(/^\s+policies\b/m);
    const bad = await weir(['demo', 'policies', '--duration', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--duration/);
  });

  it('prints an error that reaches the top with its code, and as JSON with --json', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io: ProgramIo = { stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
    const program = createProgram(io);
    program
      .command('boom')
      .option('--json')
      .action(() => {
        throw new InvalidOptionError('boom.size', 'a number', 'x');
      });
    expect(await run(['node', 'weir', 'boom', '--json'], io, program)).toBe(1);
    expect(err.join('')).toMatch(/^weir: WEIR_INVALID_OPTION: /);
    expect(JSON.parse(out.join(''))).toMatchObject({ error: { code: 'WEIR_INVALID_OPTION' } });
  });
});
