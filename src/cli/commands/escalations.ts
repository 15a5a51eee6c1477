import { type Command, InvalidArgumentError } from 'commander';
import type { App } from '../../app/app.js';
import { WeirError } from '../../errors.js';
import type { SyncEscalationRecord, SyncEscalationState } from '../../store/sync.js';
import type { Sync } from '../../sync/define.js';
import type { EscalationChoice } from '../../sync/resolve.js';
import { type ConfigCliOptions, configOption, findSync, withApp } from '../app-options.js';
import { toJson } from '../format.js';
import type { ProgramIo } from '../program.js';
import { escalationTable } from '../sync-view.js';
import { escalationJson, sideNames, sideOf } from '../../app/admin/shapes.js';
import { intOption, UsageError } from '../usage.js';

interface ListOptions extends ConfigCliOptions {
  state?: SyncEscalationState;
  sync?: string;
  limit: number;
  json?: boolean;
}

interface ResolveOptions extends ConfigCliOptions {
  choose: string;
  value?: string;
  valueJson?: unknown;
  json?: boolean;
}

function state(value: string): SyncEscalationState {
  if (value === 'open' || value === 'resolved') return value;
  throw new InvalidArgumentError("expected 'open' or 'resolved'.");
}

function jsonValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    throw new InvalidArgumentError('expected a JSON value (e.g. true, 42, "text", {"a":1}).');
  }
}

/** The syncs to look in: the named one, or all of them. */
function syncsOf(app: App, name: string | undefined): Sync[] {
  return name === undefined ? [...app.syncs.values()] : [findSync(app, name, '--sync')];
}

/** The choice as the sync reads it: a side's name (`crm`), `left`/`right`, `value` (with a value) or `dismiss`. */
function choice(sync: Sync, opts: ResolveOptions): EscalationChoice {
  const names = sideNames(sync);
  const hasValue = opts.value !== undefined || opts.valueJson !== undefined;
  if (opts.value !== undefined && opts.valueJson !== undefined) throw new UsageError('--value', 'either --value or --value-json', opts.value, 'Not both.');
  if (opts.choose === 'value') {
    if (!hasValue) throw new UsageError('--value', 'a value with --choose value', undefined, 'Pass --value <text> or --value-json <json>.');
    return { choose: 'value', value: opts.value ?? opts.valueJson };
  }
  if (hasValue) throw new UsageError('--value', 'no value unless --choose value', opts.value ?? '<json>', 'A value is only taken with --choose value.');
  const side = sideOf(names, opts.choose) ?? (opts.choose === 'left' || opts.choose === 'right' ? opts.choose : undefined);
  if (side !== undefined) return { choose: side };
  if (opts.choose === 'dismiss') return { choose: 'dismiss' };
  throw new UsageError('--choose', `${names.left}, ${names.right}, value or dismiss`, opts.choose, `Choose a side (${names.left} or ${names.right}), a value, or dismiss.`);
}

/**
 * `weir escalations list|resolve`: the decisions a sync left to a person. `list` reads them from
 * the store; `resolve <id> --choose crm|esp|value` writes the chosen value to the side(s) that
 * differ (through the sync's policies: a user's unsubscribe is never overwritten), unfreezes the
 * field and re-queues both records for a running `weir start` to sync.
 */
export function registerEscalations(program: Command, io: ProgramIo): void {
  const cmd = program.command('escalations').description('list and resolve the decisions syncs left to a person');

  cmd
    .command('list')
    .description('list escalations, oldest first')
    .addOption(configOption())
    .option('--state <state>', 'open or resolved (default: both)', state)
    .option('--sync <name>', 'only this sync (default: every sync of the app)')
    .option('--limit <n>', 'at most this many per sync (1 to 1000)', intOption(1, 1000), 100)
    .option('--json', 'print JSON: an array in the Escalation shape of the admin API')
    .action((opts: ListOptions) =>
      withApp(opts, io, async (app) => {
        const found: Array<{ sync: Sync; items: readonly SyncEscalationRecord[] }> = [];
        for (const sync of syncsOf(app, opts.sync)) {
          found.push({ sync, items: await sync.escalations.list({ limit: opts.limit, ...(opts.state === undefined ? {} : { state: opts.state }) }) });
        }
        if (opts.json === true) {
          io.stdout(toJson(found.flatMap(({ sync, items }) => items.map((e) => escalationJson(e, sideNames(sync))))));
          return;
        }
        const total = found.reduce((n, f) => n + f.items.length, 0);
        if (total === 0) return void io.stdout(`No ${opts.state ?? ''}${opts.state === undefined ? '' : ' '}escalations.\n`);
        for (const { sync, items } of found) {
          if (items.length === 0) continue;
          if (found.length > 1) io.stdout(`sync ${sync.name}\n`);
          io.stdout(`${escalationTable(items, sideNames(sync))}\n`);
        }
      }),
    );

  cmd
    .command('resolve')
    .description('resolve an escalation: keep one side, or set a value')
    .argument('<id>', 'the escalation id')
    .requiredOption('--choose <choice>', 'a side (e.g. crm or esp), value (with --value), or dismiss')
    .option('--value <text>', 'the value to set, as text (with --choose value)')
    .option('--value-json <json>', 'the value to set, as JSON: true, 42, "text" (with --choose value)', jsonValue)
    .addOption(configOption())
    .option('--json', 'print the resolved escalation as JSON')
    .action((id: string, opts: ResolveOptions) =>
      withApp(opts, io, async (app) => {
        let sync: Sync | undefined;
        for (const s of app.syncs.values()) {
          if ((await s.escalations.get(id))?.sync === s.name) sync = s;
        }
        if (sync === undefined) throw new WeirError('WEIR_NOT_FOUND', `No escalation ${id} in this app. List them with \`weir escalations list\`.`, { details: { id } });
        const names = sideNames(sync);
        const resolved = await sync.escalations.resolve(id, choice(sync, opts));
        if (opts.json === true) return void io.stdout(toJson(escalationJson(resolved, names)));
        const r = (resolved.resolution ?? {}) as { value?: unknown; written?: string[]; link?: string };
        const what = resolved.field === null ? `the ${resolved.kind} of ${resolved.leftId ?? resolved.rightId ?? '?'}` : `${resolved.field} of ${resolved.leftId ?? '?'}`;
        const written = (r.written ?? []).map((s) => (s === 'left' ? names.left : s === 'right' ? names.right : s));
        const effect =
          r.link === 'tombstoned'
            ? 'the link is retired; nothing is recreated'
            : written.length > 0
              ? `${JSON.stringify(r.value)} written to ${written.join(' and ')}`
              : 'nothing written (the sides already agree, or a policy keeps them)';
        io.stdout(`resolved ${id} (${resolved.kind}, ${what}): ${effect}\n`);
      }),
    );
}
