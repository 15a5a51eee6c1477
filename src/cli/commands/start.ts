import type { Command } from 'commander';
import type { App } from '../../app/app.js';
import { startApp } from '../../app/app.js';
import { loadConfig } from '../../app/load.js';
import { type ConfigCliOptions, configFile, configOption } from '../app-options.js';
import { formatDuration } from '../format.js';
import type { ProgramIo } from '../program.js';
import { firstSignal } from '../signals.js';
import { durationOption } from '../usage.js';

interface StartOptions extends ConfigCliOptions {
  grace: number;
  json?: boolean;
}

/** Where a running app listens, for people (`weir start`) and scripts (`--json`). */
export function listening(app: App): { name: string; pid: number; admin: string | null; hooks: string | null; webhooks: string[]; syncs: string[]; dataDir: string } {
  const hooks = app.hooks?.url ?? null;
  return {
    name: app.name,
    pid: process.pid,
    admin: app.admin?.url ?? null,
    hooks,
    webhooks: hooks === null ? [] : [...app.webhooks.keys()].map((p) => `${hooks}${p}`),
    syncs: [...app.syncs.keys()],
    dataDir: app.dataDir,
  };
}

const row = (label: string, value: string): string => `  ${label.padEnd(24)}${value}`;

function listeningText(app: App, graceMs: number): string {
  const l = listening(app);
  const out = [`weir: ${l.name} started (pid ${l.pid})`];
  out.push(row('admin API + dashboard', l.admin === null ? 'not served (no admin in the config)' : `${l.admin}/  (Authorization: Bearer <admin token>)`));
  if (l.webhooks.length === 0) out.push(row('webhooks', 'none'));
  l.webhooks.forEach((url, i) => out.push(row(i === 0 ? 'webhooks' : '', url)));
  out.push(row('syncs', l.syncs.length === 0 ? 'none' : l.syncs.join(', ')));
  out.push(row('data', l.dataDir));
  out.push(`Stop with Ctrl-C or SIGTERM: intake stops, running handlers get ${formatDuration(graceMs)} to finish, then it exits; a second signal exits at once.`);
  return `${out.join('\n')}\n`;
}

/**
 * `weir start --config <file>`: runs the app (workers, syncs, tasks, webhook receivers, admin API
 * and dashboard) until SIGINT or SIGTERM, then stops gracefully: intake stops, running handlers get
 * `--grace` to finish, the audit trail is flushed and the store closed; exit 0. A bad config or
 * environment exits 2 naming each variable; any other start failure exits 1. Nothing lives only in
 * memory, so a `kill -9` loses nothing (the store's job).
 */
export function registerStart(program: Command, io: ProgramIo): void {
  program
    .command('start')
    .description('run an app from its config: workers, syncs, webhooks, admin API and dashboard')
    .addOption(configOption())
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long running handlers may finish (e.g. 10s)', durationOption('--grace'), 10_000)
    .option('--json', 'print where it listens as one JSON line on stdout (logs stay on stderr)')
    .action(async (opts: StartOptions) => {
      const file = configFile(opts);
      const config = await loadConfig(file);
      const app = await startApp(config, { source: file });
      // Listen for signals before announcing, so a supervisor that reacts to the announcement is safe.
      const signal = firstSignal(io);
      io.stdout(opts.json === true ? JSON.stringify(listening(app)) + '\n' : listeningText(app, opts.grace));
      const got = await signal;
      io.stderr(`weir: ${got}: stopping (up to ${formatDuration(opts.grace)} for running handlers)\n`);
      await app.close({ graceMs: opts.grace });
      io.stderr('weir: stopped\n');
    });
}
