import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Option } from 'commander';
import { WeirError } from '../errors.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { UsageError } from './usage.js';

/** The store options every store command accepts (`--store <url>`). */
export interface StoreCliOptions {
  store?: string;
}

/** Where a store URL came from, so an error names what the user typed. */
export type StoreUrlSource = '--store' | 'WEIR_STORE_URL' | 'WEIR_DATA_DIR' | 'default';

/** A validated store location. */
export interface StoreLocation {
  readonly url: string;
  readonly source: StoreUrlSource;
  readonly dialect: 'sqlite' | 'postgres';
  /** The SQLite file (absolute), or undefined for PostgreSQL and `:memory:`. */
  readonly file: string | undefined;
  /** The URL with any password hidden, for output. */
  readonly display: string;
}

/** Options of {@link openCliStore}. */
export interface OpenCliStoreOptions {
  /**
   * `true` (for `weir migrate`): create a missing SQLite file and its directory, and leave migrating
   * to the caller. `false` (default): refuse a store that does not exist or has no schema yet, with a
   * hint to run `weir migrate`; never change the schema.
   */
  create?: boolean;
  /** Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Base of relative paths. Default `process.cwd()`. */
  cwd?: string;
}

const HINT = 'Use sqlite:<path> (e.g. sqlite:./.weir/weir.db) or postgres://user:password@host:5432/db.';

/** The `--store <url>` option, to add to a command with `.addOption(storeOption())`. */
export function storeOption(): Option {
  return new Option(
    '--store <url>',
    'the store: sqlite:<path> or postgres://… (default: $WEIR_STORE_URL, else sqlite:$WEIR_DATA_DIR/weir.db, else sqlite:./.weir/weir.db)',
  );
}

/**
 * Resolves and validates the store URL: `--store`, else `WEIR_STORE_URL`, else
 * `sqlite:<WEIR_DATA_DIR or ./.weir>/weir.db`.
 * @throws UsageError naming `--store` or `WEIR_STORE_URL` (or `WEIR_DATA_DIR`) with what to do.
 */
export function resolveStoreLocation(options: StoreCliOptions, env: OpenCliStoreOptions['env'] = process.env, cwd = process.cwd()): StoreLocation {
  const envUrl = env.WEIR_STORE_URL?.trim();
  const dataDir = env.WEIR_DATA_DIR?.trim();
  if (options.store !== undefined) return validate(options.store, '--store', cwd);
  if (envUrl !== undefined && envUrl !== '') return validate(envUrl, 'WEIR_STORE_URL', cwd);
  if (dataDir !== undefined && dataDir !== '') return validate(`sqlite:${resolve(cwd, dataDir, 'weir.db')}`, 'WEIR_DATA_DIR', cwd);
  return validate(`sqlite:${resolve(cwd, '.weir', 'weir.db')}`, 'default', cwd);
}

function validate(raw: string, source: StoreUrlSource, cwd: string): StoreLocation {
  const url = raw.trim();
  const name = source === 'default' ? '--store' : source;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=[./]|:memory:)/, '');
    if (path === '') throw new UsageError(name, "'sqlite:<path>'", raw, `The SQLite URL has no file path. ${HINT}`);
    if (path === ':memory:') throw new UsageError(name, 'a store that outlives the command', raw, `An in-memory store is gone when the command ends. ${HINT}`);
    const file = resolve(cwd, path);
    return { url: `sqlite:${file}`, source, dialect: 'sqlite', file, display: `sqlite:${file}` };
  }
  if (/^postgres(ql)?:\/\//i.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(name, 'a valid postgres:// URL', hidePassword(url), `The URL cannot be parsed. ${HINT}`);
    }
    if (parsed.hostname === '' && !parsed.searchParams.has('host')) {
      throw new UsageError(name, 'a postgres:// URL with a host', hidePassword(url), `Add the host. ${HINT}`);
    }
    return { url, source, dialect: 'postgres', file: undefined, display: hidePassword(url) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  const what = scheme === undefined ? 'The value has no scheme.' : `The scheme '${scheme}:' is not supported.`;
  throw new UsageError(name, "'sqlite:<path>' or 'postgres://…'", hidePassword(url), `${what} ${HINT}`);
}

function hidePassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

/**
 * Opens the store for a CLI command (resolved by {@link resolveStoreLocation}). Commands that only
 * read or operate on data open with `create: false`: a missing SQLite file or an empty schema is a
 * failure with a hint to run `weir migrate`, and the schema is never changed by them.
 * Reused by every store command (`migrate`, `dlq`, `audit`, and later `start`, `reconcile`, `escalations`).
 * @throws UsageError for a bad URL (exit 2); WeirError `WEIR_STORE` when the store is missing or cannot be opened (exit 1).
 * @example
 * ```ts
 * const { store, location } = await openCliStore(opts);
 * try { … } finally { await store.close(); }
 * ```
 */
export async function openCliStore(options: StoreCliOptions, open: OpenCliStoreOptions = {}): Promise<{ store: Store; location: StoreLocation }> {
  const location = resolveStoreLocation(options, open.env ?? process.env, open.cwd ?? process.cwd());
  const create = open.create === true;
  if (location.file !== undefined) {
    if (create) mkdirSync(dirname(location.file), { recursive: true });
    else if (!existsSync(location.file)) throw missing(location, 'does not exist');
  }
  let store: Store;
  try {
    store = await openStore(location.url, { migrate: false });
  } catch (err) {
    throw unreachable(location, err);
  }
  if (!create) {
    let version: number;
    try {
      version = await store.version();
    } catch (err) {
      await store.close();
      throw unreachable(location, err);
    }
    if (version === 0) {
      await store.close();
      throw missing(location, 'has no Weir schema yet');
    }
  }
  return { store, location };
}

function unreachable(location: StoreLocation, err: unknown): WeirError {
  return new WeirError('WEIR_STORE', `Cannot open the store ${location.display} (from ${sourceName(location)}): ${(err as Error).message}`, {
    cause: err,
    details: { store: location.display },
  });
}

function missing(location: StoreLocation, what: string): WeirError {
  return new WeirError(
    'WEIR_STORE',
    `The store ${location.display} (from ${sourceName(location)}) ${what}. Run \`weir migrate\` to create it, or point --store / WEIR_STORE_URL at an existing store.`,
    { details: { store: location.display } },
  );
}

function sourceName(location: StoreLocation): string {
  return location.source === 'default' ? 'the default location' : location.source;
}
