import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { DemoResult, DemoRunStats } from '../../src/cli/demo-policies.js';
import { createProgram, type ProgramIo, run } from '../../src/cli/program.js';
import { InvalidOptionError } from '../../src/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const exec = promisify(execFile);

function weir(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec(process.execPath, ['--import', 'tsx', 'src/cli/bin.ts', ...args], { cwd: root, timeout: 90_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code?: number; stdout: string; stderr: string }) => ({ code: err.code ?? -1, stdout: err.stdout, stderr: err.stderr }),
  );
}

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

describe('weir demo', () => {
  it('runs the policy demo and prints a consistent --json result', { timeout: 120_000 }, async () => {
    const { code, stdout, stderr } = await weir(['demo', '--duration', '5', '--seed', '3', '--json']);
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

  it('lists demo in --help and rejects a bad option with exit code 2 (usage)', { timeout: 60_000 }, async () => {
    const help = await weir(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^\s+demo\b/m);
    const bad = await weir(['demo', '--duration', '0']);
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
