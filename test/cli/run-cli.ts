import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The package root. */
export const root = fileURLToPath(new URL('../..', import.meta.url));
/** The built CLI (`npm run build` first). */
export const bin = `${root}dist/cli/bin.js`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Fails loudly when the CLI is not built. */
export function requireBuild(): void {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` before these tests.`);
}

/** Env of a child: the parent's, without the store and config variables, plus `env` (`undefined` removes one). */
function childEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  return { ...process.env, WEIR_STORE_URL: undefined, WEIR_DATA_DIR: undefined, WEIR_CONFIG: undefined, ...env };
}

/** Runs `node dist/cli/bin.js …` to completion (stdout and stderr are pipes: not a TTY). */
export function weir(args: readonly string[], o: { env?: Record<string, string | undefined>; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: o.cwd ?? root, env: childEnv(o.env ?? {}), timeout: o.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A running `weir` child process, with its output collected. */
export interface CliProcess {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or 128 + n when killed by a signal). */
  readonly exited: Promise<number>;
  /** Waits until stdout holds a complete line matching `pattern`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Starts `node dist/cli/bin.js …` in the background. */
export function spawnWeir(args: readonly string[], o: { env?: Record<string, string | undefined>; cwd?: string } = {}): CliProcess {
  const child = spawn(process.execPath, [bin, ...args], { cwd: o.cwd ?? root, env: childEnv(o.env ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  const p: CliProcess = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? (signal === null ? -1 : 128 + (signal === 'SIGKILL' ? 9 : signal === 'SIGTERM' ? 15 : 2))));
    }),
    async line(pattern, timeoutMs = 30_000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const found = p.stdout.split('\n').slice(0, -1).find((l) => pattern.test(l));
        if (found !== undefined) return found;
        if (Date.now() > end || child.exitCode !== null) throw new Error(`no line matching ${pattern} on stdout; stderr:\n${p.stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
  child.stdout?.on('data', (d: Buffer) => {
    p.stdout += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    p.stderr += d.toString();
  });
  return p;
}

/** Waits until `check` holds (polling), or fails naming `what`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
