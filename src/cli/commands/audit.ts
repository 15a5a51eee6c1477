import { type Command, InvalidArgumentError } from 'commander';
import { toAuditJson } from '../../observability/audit.js';
import { createRedactor } from '../../security/redact.js';
import type { AuditQuery, AuditRecord } from '../../store/audit.js';
import { formatTable, formatTime } from '../format.js';
import type { ProgramIo } from '../program.js';
import { type StoreCliOptions, openCliStore, storeOption } from '../store-options.js';
import { intOption, sinceOption } from '../usage.js';

interface AuditOptions extends StoreCliOptions {
  system?: string;
  outcome?: string;
  correlation?: string;
  direction?: 'inbound' | 'outbound';
  since?: number;
  after?: number;
  limit: number;
  json?: boolean;
}

/**
 * `weir audit`: queries the audit trail in the store. Newest first, or oldest first after
 * `--after <seq>` (to tail: pass the last seq seen). `--json` prints JSON lines in the admin API's
 * snake_case `AuditEntry` shape (`toAuditJson`).
 */
export function registerAudit(program: Command, io: ProgramIo): void {
  program
    .command('audit')
    .description('query the audit trail (one entry per inbound request and per outbound attempt)')
    .addOption(storeOption())
    .option('--system <name>', 'only this system (connection name)')
    .option('--outcome <outcome>', 'only this outcome (e.g. ok, http_error, timeout, rejected)')
    .option('--correlation <id>', 'only this correlation id')
    .option('--direction <dir>', 'only inbound or outbound', direction)
    .option('--since <time>', "only since an ISO time or a duration back ('30m', '2h', '7d')", (v) => sinceOption(v))
    .option('--after <seq>', 'only entries after this seq, oldest first (for tailing)', intOption(0, Number.MAX_SAFE_INTEGER))
    .option('--limit <n>', 'at most this many entries (1 to 1000)', intOption(1, 1000), 100)
    .option('--json', 'print JSON lines in the AuditEntry shape of the admin API')
    .action(async (opts: AuditOptions) => {
      const { store } = await openCliStore(opts);
      try {
        const query: AuditQuery = {
          limit: opts.limit,
          ...(opts.system === undefined ? {} : { system: opts.system }),
          ...(opts.outcome === undefined ? {} : { outcome: opts.outcome }),
          ...(opts.correlation === undefined ? {} : { correlationId: opts.correlation }),
          ...(opts.direction === undefined ? {} : { direction: opts.direction }),
          ...(opts.since === undefined ? {} : { since: opts.since }),
          ...(opts.after === undefined ? {} : { afterSeq: opts.after }),
        };
        const entries = await store.audit.list(query);
        if (opts.json === true) {
          io.stdout(entries.map((e) => `${JSON.stringify(toAuditJson(e))}\n`).join(''));
          return;
        }
        io.stdout(entries.length === 0 ? 'No audit entries.\n' : `${auditTable(entries)}\n`);
        if (entries.length === opts.limit) {
          const last = entries[entries.length - 1] as AuditRecord;
          const more = opts.after === undefined ? `--limit or page back` : `--after ${last.seq}`;
          io.stdout(`(${entries.length} entries, the limit; for more use ${more})\n`);
        }
      } finally {
        await store.close();
      }
    });
}

function direction(value: string): 'inbound' | 'outbound' {
  if (value === 'inbound' || value === 'outbound') return value;
  throw new InvalidArgumentError("expected 'inbound' or 'outbound'.");
}

function auditTable(entries: readonly AuditRecord[]): string {
  const redactor = createRedactor();
  return formatTable(entries, [
    { header: 'SEQ', value: (e) => String(e.seq), right: true },
    { header: 'TIME', value: (e) => formatTime(e.ts) },
    { header: 'DIR', value: (e) => (e.direction === 'inbound' ? 'in' : 'out') },
    { header: 'SYSTEM', value: (e) => e.system, max: 16 },
    { header: 'METHOD', value: (e) => e.method },
    { header: 'PATH', value: (e) => redactor.text(e.path), max: 40 },
    { header: 'STATUS', value: (e) => (e.status === null ? '-' : String(e.status)), right: true },
    { header: 'OUTCOME', value: (e) => e.outcome },
    { header: 'ATT', value: (e) => String(e.attempt), right: true },
    { header: 'MS', value: (e) => String(Math.round(e.durationMs)), right: true },
    { header: 'CORRELATION', value: (e) => e.correlationId ?? '-', max: 36 },
  ]);
}
