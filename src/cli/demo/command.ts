import { type Command, InvalidArgumentError } from 'commander';
import { toJson } from '../format.js';
import type { ProgramIo } from '../program.js';
import { firstSignal } from '../signals.js';
import { CliExit, EXIT_FAILURE, intOption, secondsOption, seedOption, UsageError } from '../usage.js';
import { runFlagshipDemo } from './flagship.js';
import { formatFlagshipReport } from './report.js';
import type { DemoWorld } from './world.js';

interface FlagshipCliOptions {
  customers: number;
  duration?: number;
  speed?: number;
  seed: number;
  adminPort: number;
  exit?: boolean;
  json?: boolean;
}

/** The scripted schedule at speed 1, seconds. */
const BASE_SECONDS = 40;

function banner(w: DemoWorld): string {
  return [
    `weir demo: the CRM ↔ ESP flagship against both simulators (CRM ${w.crm.url}, ESP ${w.esp.url})`,
    `  dashboard    ${w.adminUrl}/`,
    `  admin token  ${w.adminToken}`,
    `  data         ${w.dataDir} (app log: ${w.logFile})`,
    '',
  ].join('\n');
}

/**
 * `weir demo`: the flagship. Runs examples/crm-esp/weir.config.ts against the CRM and ESP
 * simulators while faults play, shows live progress on stderr, then prints the proof (exit 0 when
 * it holds, 1 when it does not). Without `--exit` the app and the dashboard keep running until
 * Ctrl-C. Returns the command so `demo policies` can be added under it.
 */
export function registerFlagshipDemo(program: Command, io: ProgramIo): Command {
  return program
    .command('demo')
    .description('the flagship: a two-way CRM ↔ ESP sync against simulators with faults, then the proof (see also: demo policies)')
    .option('--customers <n>', 'CRM customers created at the start (10 to 5000)', intOption(10, 5000), 200)
    .option('--duration <s>', `seconds of scripted traffic and faults (5 to 600; default ${BASE_SECONDS})`, secondsOption(5, 600))
    .option('--speed <x>', `play the schedule x times faster (duration ${BASE_SECONDS} s / x)`, speed)
    .option('--seed <n>', 'seed of the script, the faults and the simulators', seedOption, 1)
    .option('--admin-port <n>', 'port of the admin API and dashboard (0: a free one)', intOption(0, 65_535), 0)
    .option('--exit', 'stop after the report (default: keep serving the dashboard until Ctrl-C)')
    .option('--json', 'print the result as JSON on stdout (progress and the dashboard address go to stderr)')
    .addHelpText(
      'after',
      '\nStarts the CRM and ESP simulators on free ports and the flagship app (examples/crm-esp/weir.config.ts)\n' +
        'against them, with a fresh data dir and a generated admin token. While customers are created and edited on\n' +
        'both sides, the ESP goes down, both systems answer 429 storms, responses are lost after commit, webhooks\n' +
        'are duplicated, delayed, lost and reordered, and people edit the same customers on both sides. Then it\n' +
        'reconciles and checks, from the simulators\' own state, that nothing was lost or duplicated.',
    )
    .action(async (opts: FlagshipCliOptions) => {
      if (opts.duration !== undefined && opts.speed !== undefined) throw new UsageError('--speed', 'either --duration or --speed', opts.speed, 'They set the same thing.');
      const durationMs = Math.round((opts.duration ?? BASE_SECONDS / (opts.speed ?? 1)) * 1000);
      const json = opts.json === true;
      const { world, result } = await runFlagshipDemo({
        customers: opts.customers,
        durationMs,
        seed: opts.seed,
        adminPort: opts.adminPort,
        onReady: (w) => (json ? io.stderr : io.stdout)(banner(w)),
      });
      try {
        io.stdout(json ? toJson(result) : formatFlagshipReport(result));
        if (opts.exit !== true) {
          io.stderr(`\nThe app keeps running: dashboard ${world.adminUrl}/ (admin token ${world.adminToken}). Ctrl-C to stop.\n`);
          await firstSignal(io);
          io.stderr('weir demo: stopping\n');
        }
      } finally {
        await world.close();
      }
      if (!result.ok) throw new CliExit(EXIT_FAILURE);
    });
}

function speed(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < BASE_SECONDS / 600 || n > BASE_SECONDS / 5) {
    throw new InvalidArgumentError(`expected a factor from ${BASE_SECONDS / 600} to ${BASE_SECONDS / 5}.`);
  }
  return n;
}
