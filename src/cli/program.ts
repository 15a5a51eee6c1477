import { createRequire } from 'node:module';
import { Command } from 'commander';
import { registerAudit } from './commands/audit.js';
import { registerDlq } from './commands/dlq.js';
import { registerEscalations } from './commands/escalations.js';
import { registerKeys } from './commands/keys.js';
import { registerMigrate } from './commands/migrate.js';
import { registerReconcile } from './commands/reconcile.js';
import { registerStart } from './commands/start.js';
import { registerFlagshipDemo } from './demo/command.js';
import { runPolicyDemo } from './demo-policies.js';
import { formatDemoReport } from './demo-report.js';
import { CliExit, EXIT_FAILURE, EXIT_USAGE, secondsOption, seedOption } from './usage.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/** Where the program writes; replaceable in tests. */
export interface ProgramIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const processIo: ProgramIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

/**
 * The `weir` command line: `start`, `reconcile`, `escalations` (from the app config, `--config`),
 * `demo` (the flagship) and `demo policies`, and on the store (`--store <url>`, `WEIR_STORE_URL` or
 * `WEIR_DATA_DIR`): `migrate`, `dlq list|show|replay|discard`, `audit`, `keys rotate|list|revoke`.
 * Every command that produces a result accepts `--json` for scripts.
 * Exit codes: 0 success, 1 failure, 2 usage error (bad option, argument, config or environment variable).
 */
export function createProgram(io: ProgramIo = processIo): Command {
  const program = new Command('weir')
    .description('Reliable, secure API-based data connections between systems.')
    .version(version, '-v, --version')
    .showHelpAfterError()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    // `demo` and `demo policies` share option names: each command's options are read before its subcommand only.
    .enablePositionalOptions();

  registerStart(program, io);
  registerReconcile(program, io);
  registerEscalations(program, io);
  const demo = registerFlagshipDemo(program, io);

  demo
    .command('policies')
    .description('run the resilience policies live against a local fault-injecting HTTP server, with and without Weir')
    .option('--duration <s>', 'seconds of traffic (1 to 600)', secondsOption(1, 600), 12)
    .option('--seed <n>', 'seed of the traffic, the faults and the jitter (an integer)', seedOption, 1)
    .option('--json', 'print the result as JSON on stdout (progress still goes to stderr)')
    .addHelpText(
      'after',
      '\nSends the same seeded traffic to two identical local servers that turn flaky, slow, rate-limited and\n' +
        'down on a schedule: bare (undici) to one, through wrap(bulkhead, timeout, retry, circuitBreaker, timeout)\n' +
        'to the other. Prints what each policy did and what the same traffic did without Weir.',
    )
    .action(async (opts: { duration: number; seed: number; json?: boolean }) => {
      const result = await runPolicyDemo({ durationMs: opts.duration * 1000, seed: opts.seed });
      io.stdout(opts.json === true ? `${JSON.stringify(result, null, 2)}\n` : `${formatDemoReport(result)}\n`);
    });

  registerMigrate(program, io);
  registerDlq(program, io);
  registerAudit(program, io);
  registerKeys(program, io);

  return program;
}

/**
 * Runs the program on `argv` (as `process.argv`); resolves with the exit code: 0, 1 for a failure,
 * 2 for a usage error (commander's parse errors and errors carrying `exitCode: 2`). Errors are printed with their code.
 */
export async function run(argv: readonly string[], io: ProgramIo = processIo, program: Command = createProgram(io)): Promise<number> {
  // Every command, nested ones included, throws instead of exiting, so exit codes are decided here.
  const override = (command: Command): void => {
    command.exitOverride();
    command.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown; exitCode?: unknown };
    // Commander has already printed its own messages (help, version, usage errors).
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    // The command has written its result already and only sets the exit code.
    if (err instanceof CliExit) return err.exitCode;
    // A bad config or environment (ConfigError, whose message names each variable) is a usage error.
    const exitCode = e.exitCode === EXIT_USAGE || e.code === 'WEIR_CONFIG_INVALID' ? EXIT_USAGE : EXIT_FAILURE;
    const code = typeof e.code === 'string' ? e.code : 'WEIR_UNEXPECTED';
    io.stderr(`weir: ${code}: ${typeof e.message === 'string' ? e.message : String(err)}\n`);
    if (argv.includes('--json')) io.stdout(`${JSON.stringify({ error: { code, message: e.message } })}\n`);
    return exitCode;
  }
}
