import type { Command } from 'commander';
import { WeirError } from '../../errors.js';
import { Secret } from '../../security/secret.js';
import { type StoredApiKeyInfo, storedApiKeys } from '../../server/api-key-store.js';
import type { Store } from '../../store/types.js';
import { formatDuration, formatTable, formatTime, toJson } from '../format.js';
import type { ProgramIo } from '../program.js';
import { type StoreCliOptions, openCliStore, storeOption } from '../store-options.js';
import { durationOption, UsageError } from '../usage.js';

interface KeyOptions extends StoreCliOptions {
  pepperEnv?: string;
  json?: boolean;
}

interface RotateOptions extends KeyOptions {
  grace: number;
  client?: string;
  scope?: string[];
  expiresIn?: number;
  prefix?: string;
}

async function withRing<T>(ring: string, opts: KeyOptions, fn: (keys: ReturnType<typeof storedApiKeys>) => Promise<T>): Promise<T> {
  let pepper: Secret | undefined;
  if (opts.pepperEnv !== undefined) {
    const value = process.env[opts.pepperEnv];
    if (value === undefined || value === '') throw new UsageError('--pepper-env', 'the name of a set environment variable', opts.pepperEnv, `${opts.pepperEnv} is not set.`);
    pepper = Secret.of(opts.pepperEnv, value);
  }
  const { store } = await openCliStore(opts);
  try {
    return await fn(storedApiKeys(store as Store, ring, pepper === undefined ? {} : { pepper }));
  } catch (err) {
    // A bad ring name is a usage error.
    if ((err as { option?: unknown }).option === 'storedApiKeys.ring') throw new UsageError('<ring>', 'a ring name of a-z, 0-9, _ . - (at most 64)', ring, '');
    throw err;
  } finally {
    await store.close();
  }
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function keysTable(keys: readonly StoredApiKeyInfo[]): string {
  return formatTable(keys, [
    { header: 'ID', value: (k) => k.id },
    { header: 'CLIENT', value: (k) => k.clientId, max: 24 },
    { header: 'SCOPES', value: (k) => (k.scopes ?? []).join(' ') || '-', max: 40 },
    { header: 'CREATED', value: (k) => formatTime(k.createdAt) },
    { header: 'EXPIRES', value: (k) => formatTime(k.expiresAt) },
    { header: 'STATE', value: (k) => k.state },
  ]);
}

/** The options every `keys` command takes. */
function common(c: Command): Command {
  return c.addOption(storeOption()).option('--pepper-env <VAR>', 'hash with the pepper in this environment variable (as the app does)').option('--json', 'print JSON');
}

/**
 * `weir keys rotate|list|revoke <ring>`: API-key rings kept in the store (`storedApiKeys` of
 * `weir/server`, the ring an app's `requireApiKey()` checks). `rotate` generates a key, keeps only
 * its hash, prints the key once on stdout (so `KEY=$(weir keys rotate partners)` works; the rest
 * goes to stderr), and lets the keys active until then expire after `--grace`. `list` never shows
 * a key or its hash.
 */
export function registerKeys(program: Command, io: ProgramIo): void {
  const keys = program.command('keys').description('rotate, list and revoke the API keys an app accepts (kept hashed in the store)');

  common(
    keys
      .command('rotate')
      .description('create a new key for a ring (shown once); the previous keys expire after the grace period')
      .argument('<ring>', 'the ring (e.g. partners, admin)')
      .option('--grace <duration>', 'how long the previous keys stay valid (0: revoke at once)', durationOption('--grace'), 86_400_000)
      .option('--client <id>', 'owner of the new key (default: the owner of the current key, else the ring name)')
      .option('--scope <scope>', 'a scope of the new key; repeat for several (default: those of the current key)', collect)
      .option('--expires-in <duration>', 'lifetime of the new key (default: until the next rotation)', durationOption('--expires-in', 1))
      .option('--prefix <prefix>', 'prefix of the generated key (default wk)'),
  ).action((ring: string, opts: RotateOptions) =>
    withRing(ring, opts, async (ringKeys) => {
      const r = await ringKeys.rotate({
        graceMs: opts.grace,
        ...(opts.client === undefined ? {} : { clientId: opts.client }),
        ...(opts.scope === undefined ? {} : { scopes: opts.scope }),
        ...(opts.expiresIn === undefined ? {} : { expiresInMs: opts.expiresIn }),
        ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
      });
      if (opts.json === true) {
        io.stdout(toJson({ ring: r.ring, id: r.id, key: r.key.reveal(), createdAt: r.createdAt, expiresAt: r.expiresAt ?? null, previous: r.previous }));
        return;
      }
      io.stdout(`${r.key.reveal()}\n`);
      io.stderr(`weir: new key ${r.id} in ring ${r.ring}${r.expiresAt === undefined ? '' : `, expires ${formatTime(r.expiresAt)}`}.\n`);
      io.stderr('weir: the key above is shown once; only its hash is stored.\n');
      for (const p of r.previous) {
        io.stderr(`weir: previous key ${p.id} ${p.expiresAt <= r.createdAt ? 'stopped now' : `stays valid for ${formatDuration(p.expiresAt - r.createdAt)}, until ${formatTime(p.expiresAt)}`}.\n`);
      }
    }),
  );

  common(keys.command('list').description("list a ring's keys: ids, owners, creation, expiry and state (never a key)").argument('<ring>', 'the ring')).action(
    (ring: string, opts: KeyOptions) =>
      withRing(ring, opts, async (ringKeys) => {
        const list = await ringKeys.list();
        if (opts.json === true) return void io.stdout(toJson({ ring, keys: list }));
        io.stdout(list.length === 0 ? `No keys in ring ${ring}. Create one with \`weir keys rotate ${ring}\`.\n` : `${keysTable(list)}\n`);
      }),
  );

  common(keys.command('revoke').description('revoke one key of a ring at once').argument('<ring>', 'the ring').argument('<id>', 'the key id (from keys list)')).action(
    (ring: string, id: string, opts: KeyOptions) =>
      withRing(ring, opts, async (ringKeys) => {
        if (!(await ringKeys.revoke(id))) throw new WeirError('WEIR_NOT_FOUND', `Ring ${ring} has no unrevoked key ${id}. List them with \`weir keys list ${ring}\`.`, { details: { ring, id } });
        io.stdout(opts.json === true ? toJson({ ring, revoked: id }) : `revoked ${id} in ring ${ring}\n`);
      }),
  );
}
