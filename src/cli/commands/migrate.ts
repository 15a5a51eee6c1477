import type { Command } from 'commander';
import type { ProgramIo } from '../program.js';
import { type StoreCliOptions, openCliStore, storeOption } from '../store-options.js';
import { plural, toJson } from '../format.js';

interface MigrateOptions extends StoreCliOptions {
  json?: boolean;
}

/**
 * `weir migrate [--store <url>] [--json]`: creates the store if needed and applies pending
 * migrations; prints the schema version before and after and each migration applied. Safe to run
 * again (nothing to do) and from several processes at once (the store serialises them).
 */
export function registerMigrate(program: Command, io: ProgramIo): void {
  program
    .command('migrate')
    .description('create the store if needed and apply pending schema migrations')
    .addOption(storeOption())
    .option('--json', 'print {store, from, to, applied} as JSON')
    .action(async (opts: MigrateOptions) => {
      const { store, location } = await openCliStore(opts, { create: true });
      try {
        const report = await store.migrate();
        if (opts.json === true) {
          io.stdout(toJson({ store: location.display, from: report.from, to: report.to, applied: report.applied }));
          return;
        }
        const lines = [`store: ${location.display}`];
        if (report.applied.length === 0) {
          lines.push(`schema version ${report.to}: up to date, nothing to apply`);
        } else {
          lines.push(`schema version ${report.from} -> ${report.to}: ${plural(report.applied.length, 'migration')} applied`);
          for (const m of report.applied) lines.push(`  ${String(m.version).padStart(3)}  ${m.name}`);
        }
        io.stdout(`${lines.join('\n')}\n`);
      } finally {
        await store.close();
      }
    });
}
