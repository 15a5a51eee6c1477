import type { Command } from 'commander';
import type { ReconcileReport } from '../../sync/reconcile.js';
import { type ConfigCliOptions, configOption, findSync, withApp } from '../app-options.js';
import { formatDuration, plural, toJson } from '../format.js';
import type { ProgramIo } from '../program.js';
import { startProgress } from '../progress.js';
import { reconcileResuming } from '../reconcile-run.js';
import { diffCount, reportText } from '../sync-view.js';
import { reportJson, sideNames } from '../../app/admin/shapes.js';
import { rateOption } from '../usage.js';

interface ReconcileCliOptions extends ConfigCliOptions {
  apply?: boolean;
  perSecond?: number;
  json?: boolean;
}

/**
 * `weir reconcile <sync> --config <file> [--apply]`: builds the app without running it, reads both
 * sides of the sync completely, page by page, and reports every difference; `--apply` repairs them
 * through the sync's own policies (a dry run writes nothing). A rate limit or an open circuit
 * pauses the run, which then resumes from its last page. Live counts on stderr; the report on
 * stdout (a table, or the contract's `Report` with `--json`). Exit 0 once the run is done, 1 when
 * it failed, 2 for an unknown sync (the known ones are listed).
 */
export function registerReconcile(program: Command, io: ProgramIo): void {
  program
    .command('reconcile')
    .description('compare both sides of a sync completely and report the differences; --apply repairs them')
    .argument('<sync>', 'the sync (its name in the config)')
    .addOption(configOption())
    .option('--apply', 'repair what differs, through the sync policies (default: a dry run that writes nothing)')
    .option('--per-second <n>', "reconciliation's own call budget per side (default unlimited)", rateOption)
    .option('--json', 'print the report as JSON (the Report shape of the admin API)')
    .action((name: string, opts: ReconcileCliOptions) =>
      withApp(opts, io, async (app) => {
        const sync = findSync(app, name);
        const names = sideNames(sync);
        let last: ReconcileReport | undefined;
        let pages = 0;
        const progress = startProgress({
          label: `reconcile ${sync.name}`,
          render: () => {
            if (last === undefined) return { text: 'reading the first pages…' };
            const { repairs } = last;
            return { text: `${plural(pages, 'page')} · ${last.compared} compared · ${diffCount(last)} diffs · ${repairs.attempted} repairs (${repairs.failed} failed)` };
          },
        });
        let report: ReconcileReport;
        try {
          report = await reconcileResuming(
            sync,
            {
              mode: opts.apply === true ? 'apply' : 'dry_run',
              ...(opts.perSecond === undefined ? {} : { perSecond: opts.perSecond }),
              onProgress: (r) => {
                last = r;
                pages++;
              },
            },
            {
              onWait: (ms, err) => {
                progress.clear();
                io.stderr(`weir: ${(err as { code?: string }).code ?? 'transient failure'}: resuming from the last page in ${formatDuration(ms)}\n`);
              },
            },
          );
        } finally {
          progress.stop();
        }
        io.stdout(opts.json === true ? toJson(reportJson(report, sync.name, names)) : `${reportText(sync.name, report, names)}\n`);
      }),
    );
}
