import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { WeirError } from '../../errors.js';
import { createRedactor } from '../../security/redact.js';
import type { DeadLetter, DeadLetterGroup } from '../../store/dead-letters.js';
import type { Store } from '../../store/types.js';
import { plural, toJson } from '../format.js';
import type { ProgramIo } from '../program.js';
import { startProgress } from '../progress.js';
import { type StoreCliOptions, openCliStore, storeOption } from '../store-options.js';
import { CliExit, intOption, rateOption, sinceOption, UsageError } from '../usage.js';
import { detailJson, detailText, groupLocally, groupTable, listTable, summaryJson } from './dlq-view.js';

interface ListOptions extends StoreCliOptions {
  topic?: string;
  since?: number;
  group?: boolean;
  limit: number;
  json?: boolean;
}
interface SelectOptions extends StoreCliOptions {
  all?: boolean;
  topic?: string;
  json?: boolean;
}
interface ReplayCliOptions extends SelectOptions {
  perSecond: number;
}
interface DiscardOptions extends SelectOptions {
  yes?: boolean;
}

/** Ids per store call in replay and discard (and per progress step). */
const CHUNK = 100;
/** Page size when listing a whole selection. */
const PAGE = 500;

/** Runs `fn` with a store opened for the command, closing it afterwards. */
async function withStore<T>(opts: StoreCliOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const { store } = await openCliStore(opts);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * `weir dlq list|show|replay|discard`: dead letters from the store, without a running app.
 * Replay puts messages back under their own ids (rate-limited with `--per-second`); running
 * workers pick them up. Output is plain text (no colours) or `--json`.
 */
export function registerDlq(program: Command, io: ProgramIo): void {
  const dlq = program.command('dlq').description('inspect, replay and discard dead letters');

  dlq
    .command('list')
    .description('list dead letters, newest first (or grouped by error signature with --group)')
    .addOption(storeOption())
    .option('--topic <topic>', 'only this topic')
    .option('--since <time>', "only dead-lettered since an ISO time or a duration back ('2h', '7d')", (v) => sinceOption(v))
    .option('--group', 'group by topic and error signature, with counts')
    .option('--limit <n>', 'at most this many rows (1 to 1000)', intOption(1, 1000), 50)
    .option('--json', 'print JSON')
    .action((opts: ListOptions) => withStore(opts, (store) => list(store, opts, io)));

  dlq
    .command('show')
    .description('show one dead letter: payload preview, headers, error, stack and attempt history (secrets redacted)')
    .argument('<id>', 'the message id')
    .addOption(storeOption())
    .option('--json', 'print JSON (the whole payload, redacted)')
    .action((id: string, opts: StoreCliOptions & { json?: boolean }) =>
      withStore(opts, async (store) => {
        const d = await store.deadLetters.get(id);
        if (d === null) throw new WeirError('WEIR_NOT_FOUND', `No dead letter with id ${id}. List them with \`weir dlq list\`.`, { details: { id } });
        const redactor = createRedactor();
        io.stdout(opts.json === true ? toJson(detailJson(d, redactor)) : `${detailText(d, redactor)}\n`);
      }),
    );

  dlq
    .command('replay')
    .description('put dead letters back in the queue under their own ids, spread at --per-second')
    .argument('[ids...]', 'message ids (or use --all)')
    .addOption(storeOption())
    .option('--all', 'every dead letter (of --topic, if given)')
    .option('--topic <topic>', 'with --all: only this topic')
    .option('--per-second <n>', 'at most this many replayed messages become due per second', rateOption, 10)
    .option('--json', 'print {replayed, notReplayed} as JSON')
    .action((ids: string[], opts: ReplayCliOptions) =>
      withStore(opts, async (store) => {
        const selected = await select(store, ids, opts);
        const spacingMs = 1000 / opts.perSecond;
        const start = Date.now();
        const done = await inChunks(selected, 'replay', (chunk, doneSoFar) =>
          store.deadLetters.replay(chunk, { now: start + doneSoFar * spacingMs, spacingMs }),
        );
        report(io, opts, 'replayed', selected, done, ids.length > 0);
      }),
    );

  dlq
    .command('discard')
    .description('delete dead letters (a blocked key moves on)')
    .argument('[ids...]', 'message ids (or use --all)')
    .addOption(storeOption())
    .option('--all', 'every dead letter (of --topic, if given)')
    .option('--topic <topic>', 'with --all: only this topic')
    .option('--yes', 'do not ask for confirmation (required with --all when not on a terminal)')
    .option('--json', 'print {discarded, notDiscarded} as JSON')
    .action((ids: string[], opts: DiscardOptions) =>
      withStore(opts, async (store) => {
        if (opts.all === true && opts.yes !== true && !interactive()) {
          throw new UsageError('--yes', 'confirmation', undefined, 'Discarding with --all deletes every selected dead letter for good; add --yes when not running on a terminal.');
        }
        const selected = await select(store, ids, opts);
        if (opts.all === true && opts.yes !== true && selected.length > 0) {
          const what = `${plural(selected.length, 'dead letter')}${opts.topic === undefined ? '' : ` of topic ${opts.topic}`}`;
          if (!(await confirm(`Discard ${what} for good? [y/N] `))) throw new WeirError('WEIR_CANCELLED', 'Nothing discarded.');
        }
        const done = await inChunks(selected, 'discard', (chunk) => store.deadLetters.discard(chunk));
        report(io, opts, 'discarded', selected, done, ids.length > 0);
      }),
    );
}

async function list(store: Store, opts: ListOptions, io: ProgramIo): Promise<void> {
  const filter = { ...(opts.topic === undefined ? {} : { topic: opts.topic }), ...(opts.since === undefined ? {} : { since: opts.since }) };
  if (opts.group === true) {
    let groups: readonly DeadLetterGroup[];
    if (opts.since === undefined) groups = await store.deadLetters.groups(filter);
    else groups = groupLocally(await all(store, filter));
    const shown = groups.slice(0, opts.limit);
    if (opts.json === true) {
      io.stdout(toJson({ groups: shown, total: groups.reduce((n, g) => n + g.count, 0) }));
      return;
    }
    io.stdout(shown.length === 0 ? 'No dead letters.\n' : `${groupTable(shown)}\n`);
    if (groups.length > shown.length) io.stdout(`(${shown.length} of ${groups.length} groups; raise --limit for more)\n`);
    return;
  }
  const [items, total] = await Promise.all([store.deadLetters.list({ ...filter, limit: opts.limit }), store.deadLetters.count(filter)]);
  const redactor = createRedactor();
  if (opts.json === true) {
    io.stdout(toJson({ total, deadLetters: items.map((d) => summaryJson(d, redactor)) }));
    return;
  }
  io.stdout(items.length === 0 ? 'No dead letters.\n' : `${listTable(items, redactor)}\n`);
  if (total > items.length) io.stdout(`(${items.length} of ${total}, newest first; narrow with --topic/--since or raise --limit)\n`);
}

/** Every dead letter matching `filter`, newest first. */
async function all(store: Store, filter: { topic?: string; since?: number }): Promise<DeadLetter[]> {
  const out: DeadLetter[] = [];
  let beforeSeq: number | undefined;
  for (;;) {
    const page = await store.deadLetters.list({ ...filter, limit: PAGE, ...(beforeSeq === undefined ? {} : { beforeSeq }) });
    out.push(...page);
    if (page.length < PAGE) return out;
    beforeSeq = page[page.length - 1]?.seq;
  }
}

/** The ids a replay or discard applies to: the given ids, or with `--all` every dead letter (of `--topic`), oldest first. */
async function select(store: Store, ids: readonly string[], opts: SelectOptions): Promise<string[]> {
  if (ids.length > 0 && opts.all === true) throw new UsageError('--all', 'either ids or --all', ids.join(' '), 'Pass message ids, or --all (with --topic to narrow it), not both.');
  if (ids.length === 0 && opts.all !== true) throw new UsageError('<ids...>', 'one or more message ids, or --all', '', 'Pass the ids from `weir dlq list`, or --all (with --topic to narrow it).');
  if (ids.length > 0 && opts.topic !== undefined) throw new UsageError('--topic', '--topic only with --all', opts.topic, 'Ids select exactly; drop --topic or use --all --topic.');
  if (ids.length > 0) return [...new Set(ids)];
  return (await all(store, opts.topic === undefined ? {} : { topic: opts.topic })).map((d) => d.id).toReversed();
}

/** Applies `fn` to `ids` a chunk at a time with a progress bar (live on a terminal, plain lines elsewhere), on stderr. */
async function inChunks(
  ids: readonly string[],
  label: string,
  fn: (chunk: readonly string[], doneSoFar: number) => Promise<readonly string[]>,
): Promise<string[]> {
  const done: string[] = [];
  let processed = 0;
  const progress = startProgress({ label, render: () => ({ fraction: ids.length === 0 ? 1 : processed / ids.length, text: `${processed}/${ids.length}` }) });
  try {
    for (let i = 0; i < ids.length; i += CHUNK) {
      done.push(...(await fn(ids.slice(i, i + CHUNK), done.length)));
      processed = Math.min(ids.length, i + CHUNK);
    }
  } finally {
    progress.stop();
  }
  return done;
}

function report(io: ProgramIo, opts: SelectOptions, verb: 'replayed' | 'discarded', selected: readonly string[], done: readonly string[], explicit: boolean): void {
  const doneSet = new Set(done);
  const missed = selected.filter((id) => !doneSet.has(id));
  if (opts.json === true) {
    const key = verb === 'replayed' ? 'notReplayed' : 'notDiscarded';
    io.stdout(toJson({ [verb]: done, [key]: missed }));
  } else {
    io.stdout(`${verb} ${plural(done.length, 'dead letter')}\n`);
    if (missed.length > 0) io.stdout(`not dead letters (unknown ids, or already replayed or discarded): ${missed.join(' ')}\n`);
  }
  // Ids the user named that were not dead letters make the command fail (after doing the rest).
  if (explicit && missed.length > 0) throw new CliExit(1);
}

function interactive(): boolean {
  return process.stdin.isTTY === true && process.stderr.isTTY === true;
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
