import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Option } from 'commander';
import type { App } from '../app/app.js';
import { loadConfig } from '../app/load.js';
import { startApp } from '../app/app.js';
import type { Sync } from '../sync/define.js';
import type { ProgramIo } from './program.js';
import { UsageError } from './usage.js';

/** The options of commands that build the app from its config. */
export interface ConfigCliOptions {
  config?: string;
}

/** The `--config <file>` option (default `$WEIR_CONFIG`, else `./weir.config.ts`). */
export function configOption(): Option {
  return new Option('--config <file>', 'the app config (default: $WEIR_CONFIG, else ./weir.config.ts)');
}

/** The config file a command uses: `--config`, else `WEIR_CONFIG`, else `./weir.config.ts`. */
export function configFile(opts: ConfigCliOptions, env: Readonly<Record<string, string | undefined>> = process.env): string {
  const given = opts.config ?? env.WEIR_CONFIG;
  if (given !== undefined && given.trim() !== '') return resolve(given);
  const fallback = resolve('weir.config.ts');
  if (!existsSync(fallback)) throw new UsageError('--config', 'the path of your weir.config.ts', undefined, 'No ./weir.config.ts here: pass --config <file> or set WEIR_CONFIG.');
  return fallback;
}

/**
 * A log writer for CLI tools: the app's warnings and errors go to stderr (JSON lines, redacted),
 * its info lines are dropped so they do not drown the command's own output.
 */
export function toolLog(io: ProgramIo): (line: string) => void {
  return (line) => {
    if (!line.includes('"level":"info"')) io.stderr(`${line}\n`);
  };
}

/**
 * Builds the app of the config without running it (`startApp(config, { run: false })`: no workers,
 * servers or schedules), runs `fn`, then closes the app. For `reconcile` and `escalations`, which
 * work next to a running `weir start` on the same store.
 * @throws ConfigError (exit 2) for a missing config or a bad environment.
 */
export async function withApp<T>(opts: ConfigCliOptions, io: ProgramIo, fn: (app: App) => Promise<T>): Promise<T> {
  const file = configFile(opts);
  const config = await loadConfig(file);
  const app = await startApp(config, { run: false, source: file, log: toolLog(io) });
  try {
    return await fn(app);
  } finally {
    await app.close({ graceMs: 0 });
  }
}

/**
 * The sync named `name` (the only one when `name` is undefined and the app has one).
 * @throws UsageError (exit 2) listing the app's syncs.
 */
export function findSync(app: App, name: string | undefined, option = '<sync>'): Sync {
  const known = [...app.syncs.keys()];
  if (name === undefined && known.length === 1) return app.syncs.get(known[0] as string) as Sync;
  const sync = name === undefined ? undefined : app.syncs.get(name);
  if (sync !== undefined) return sync;
  const list = known.length === 0 ? 'the config defines no sync' : `known: ${known.join(', ')}`;
  throw new UsageError(option, `the name of a sync of the app (${list})`, name, name === undefined ? 'Name the sync.' : `No sync "${name}" (${list}).`);
}
