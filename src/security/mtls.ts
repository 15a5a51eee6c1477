import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { inspect } from 'node:util';
import { InvalidOptionError } from '../errors.js';
import type { TlsMaterial, TlsSource } from '../http/auth.js';
import { type Clock, systemClock, type Timer } from '../internal/clock.js';
import { Emitter } from '../internal/events.js';
import { fn, integer } from '../internal/validate.js';
import { type CertificateInfo, checkMaterial, type PemInput, tlsError } from './mtls-check.js';
import type { Secret } from './secret.js';

export type { CertificateInfo } from './mtls-check.js';

/** Options shared by {@link tlsMaterial} and {@link tlsFiles}. */
export interface TlsCommonOptions {
  /** The passphrase of an encrypted private key. */
  passphrase?: Secret | string;
  /** The server name to verify (SNI), when it differs from the URL's host. */
  servername?: string;
  /** Verify the server's certificate. Default true; false only for a test bench, never in production. */
  rejectUnauthorized?: boolean;
  /** Warn (`onExpiryWarning`) this many ms before the client certificate expires. Default 14 days. */
  warnBeforeMs?: number;
  /** Used to check the certificate's validity window. Default: the system clock. */
  clock?: Clock;
}

/** Inline PEM material for {@link tlsMaterial}. `cert` and `key` come together (mTLS) or not at all (a private CA only). */
export interface TlsMaterialOptions extends TlsCommonOptions {
  cert?: PemInput;
  key?: PemInput | Secret;
  /** CA certificate(s) that sign the server's certificate. Default: Node's bundled roots. */
  ca?: PemInput | readonly PemInput[];
}

/** Files for {@link tlsFiles}, read at once (errors at start) and again on every change. */
export interface TlsFilesOptions extends TlsCommonOptions {
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** Watch the files' directories and reload on change (works with atomic renames and Kubernetes secret mounts). Default true. */
  watch?: boolean;
  /** Changes are gathered for this many ms before reloading, so a cert and key written one after the other load together. Default 250. */
  debounceMs?: number;
}

/** Emitted when the client certificate comes within `warnBeforeMs` of expiring (once per certificate). */
export interface CertificateExpiryWarning {
  readonly certificate: CertificateInfo;
  readonly remainingMs: number;
}

/**
 * A {@link TlsSource} whose material was validated: the certificate parses, the key opens (with the
 * passphrase) and matches it, the certificate is within its validity window, and every CA parses.
 * `util.inspect` and `JSON.stringify` of it, and of `current()`, never show the key or passphrase.
 */
export class CheckedTlsSource implements TlsSource {
  #material: TlsMaterial;
  #info: CertificateInfo | undefined;
  #warnedFor: string | undefined = undefined;
  readonly #warnBeforeMs: number;
  /** @internal */
  protected readonly clock: Clock;
  readonly #changes = new Emitter<void>();
  readonly #warnings = new Emitter<CertificateExpiryWarning>();
  /**
   * Fires once per certificate when it comes within `warnBeforeMs` of expiring, seen by a reload or
   * by {@link check}: call `check()` after subscribing (at start) and from a periodic health check.
   */
  readonly onExpiryWarning = this.#warnings.event;

  /** @internal */
  constructor(material: TlsMaterial, info: CertificateInfo | undefined, o: TlsCommonOptions, prefix: string) {
    this.clock = o.clock ?? systemClock;
    this.#warnBeforeMs = o.warnBeforeMs === undefined ? 14 * 86_400_000 : integer(o.warnBeforeMs, `${prefix}.warnBeforeMs`, 0);
    this.#material = material;
    this.#info = info;
  }

  /** The material to build a TLS connection from (frozen). */
  current(): TlsMaterial {
    return this.#material;
  }

  /** Subscribes to material changes; the connection rebuilds its dispatcher. */
  onChange(listener: () => void): { dispose(): void } {
    return this.#changes.event(listener);
  }

  /** The client certificate's public facts (subject, serial, validity), or undefined without one. */
  info(): CertificateInfo | undefined {
    return this.#info;
  }

  /** Emits the expiry warning when due (once per certificate) and returns it; call it from a health check. */
  check(): CertificateExpiryWarning | undefined {
    const info = this.#info;
    if (info === undefined || this.#warnedFor === info.fingerprint256) return undefined;
    const remainingMs = info.validTo - this.clock.now();
    if (remainingMs > this.#warnBeforeMs) return undefined;
    this.#warnedFor = info.fingerprint256;
    const warning = { certificate: info, remainingMs };
    this.#warnings.emit(warning);
    return warning;
  }

  /** @internal Swaps in validated material and tells the listeners. */
  protected swap(material: TlsMaterial, info: CertificateInfo | undefined): void {
    this.#material = material;
    this.#info = info;
    this.check();
    this.#changes.emit();
  }

  toJSON(): Record<string, unknown> {
    return { certificate: this.#info, servername: this.#material.servername };
  }
  [inspect.custom](): string {
    return `${this.constructor.name} ${inspect(this.toJSON())}`;
  }
}

/**
 * TLS material from inline PEM: an mTLS client certificate and key, a private CA, or both.
 * Validated at once. Import from `weir/security`.
 *
 * @throws WeirError `WEIR_TLS_MATERIAL` (`details.reason`: `invalid_cert`, `invalid_key`,
 *   `key_mismatch`, `expired`, `not_yet_valid`, `invalid_ca`); InvalidOptionError for a bad option.
 * @example
 * ```ts
 * const tls = tlsMaterial({ cert: process.env.CLIENT_CERT, key: secret('CLIENT_KEY'), ca: caPem });
 * const crm = connection({ name: 'crm', baseUrl, tls });
 * ```
 */
export function tlsMaterial(options: TlsMaterialOptions): CheckedTlsSource {
  const clock = options.clock ?? systemClock;
  const checked = checkMaterial(options, clock.now(), 'tlsMaterial', {});
  return new CheckedTlsSource(checked.material, checked.info, options, 'tlsMaterial');
}

/**
 * TLS material from files, reloaded without a restart when they change: the new files are read,
 * validated like the first ones, and swapped in (`onChange` fires, the connection rebuilds its
 * dispatcher); invalid or half-written files keep the previous material and fire `onError`. The
 * watchers never keep the process alive; `close()` stops them. Import from `weir/security`.
 *
 * @throws WeirError `WEIR_TLS_MATERIAL` at once when a file cannot be read (`reason: 'unreadable'`)
 *   or the material is invalid (see {@link tlsMaterial}); InvalidOptionError for a bad option.
 * @example
 * ```ts
 * const tls = tlsFiles({ certFile: '/etc/weir/tls/tls.crt', keyFile: '/etc/weir/tls/tls.key', caFile: '/etc/weir/tls/ca.crt' });
 * tls.onError((err) => log.error(err.message));
 * ```
 */
export function tlsFiles(options: TlsFilesOptions): TlsFileSource {
  return new TlsFileSource(options);
}

/** TLS material from files; create with {@link tlsFiles}. */
export class TlsFileSource extends CheckedTlsSource {
  readonly #o: TlsFilesOptions;
  readonly #files: { certFile?: string; keyFile?: string; caFile?: string };
  readonly #watchers: FSWatcher[] = [];
  readonly #debounceMs: number;
  #debounce: Timer | undefined = undefined;
  /** A digest of the files' contents, to tell a real change from a touch. */
  #raw: string;
  #reloading: Promise<boolean> | undefined = undefined;
  #again = false;
  #closed = false;
  readonly #errors = new Emitter<Error>();
  /** Fires when a reload triggered by a file change failed (the previous material stays in use). */
  readonly onError = this.#errors.event;

  constructor(o: TlsFilesOptions) {
    const prefix = 'tlsFiles';
    if (typeof o !== 'object' || o === null) throw new InvalidOptionError(prefix, 'an options object', o);
    const files: { certFile?: string; keyFile?: string; caFile?: string } = {};
    for (const name of ['certFile', 'keyFile', 'caFile'] as const) {
      const path = o[name];
      if (path === undefined) continue;
      if (typeof path !== 'string' || path === '') throw new InvalidOptionError(`${prefix}.${name}`, 'a file path', path);
      files[name] = resolve(path);
    }
    const debounceMs = o.debounceMs === undefined ? 250 : integer(o.debounceMs, `${prefix}.debounceMs`, 0);
    if (o.clock !== undefined) fn(o.clock.setTimer, `${prefix}.clock.setTimer`);
    const raw = readAll(files, (path) => readFileSync(path, 'utf8'));
    const checked = checkMaterial(materialOptions(o, raw), (o.clock ?? systemClock).now(), prefix, files);
    super(checked.material, checked.info, o, prefix);
    this.#o = o;
    this.#files = files;
    this.#debounceMs = debounceMs;
    this.#raw = digest(raw);
    if (o.watch ?? true) {
      try {
        for (const dir of new Set(Object.values(files).map((f) => dirname(f)))) {
          // The whole directory is watched: rotation tools replace files by rename or swap a symlinked
          // directory (Kubernetes), which a watch on the file itself would miss.
          const watcher = watch(dir, { persistent: false }, () => this.#schedule());
          watcher.on('error', (err) => this.#errors.emit(err));
          this.#watchers.push(watcher);
        }
      } catch (err) {
        this.close();
        throw err;
      }
    }
  }

  /**
   * Reads the files again now; swaps in and announces the material when it changed.
   * @returns true when the material changed.
   * @throws WeirError `WEIR_TLS_MATERIAL` when the new files are unreadable or invalid (the previous material stays).
   */
  reload(): Promise<boolean> {
    if (this.#reloading !== undefined) {
      this.#again = true;
      return this.#reloading;
    }
    const run = (async (): Promise<boolean> => {
      let changed = false;
      try {
        do {
          this.#again = false;
          changed = (await this.#reloadOnce()) || changed;
        } while (this.#again);
        return changed;
      } finally {
        this.#reloading = undefined;
      }
    })();
    this.#reloading = run;
    return run;
  }

  /** Stops watching (idempotent). The current material stays usable. */
  close(): void {
    this.#closed = true;
    this.#debounce?.close();
    this.#debounce = undefined;
    for (const w of this.#watchers.splice(0)) w.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #reloadOnce(): Promise<boolean> {
    const files = this.#files;
    const contents = await Promise.all(Object.entries(files).map(async ([name, path]) => [name, await readFile(path, 'utf8').catch((err: unknown) => err)] as const));
    const raw: Record<string, string> = {};
    for (const [name, content] of contents) {
      if (typeof content !== 'string') {
        const code = (content as { code?: unknown }).code;
        throw tlsError('unreadable', `${name} ${String(files[name as keyof typeof files])} could not be read${typeof code === 'string' ? ` (${code})` : ''}`, { option: name });
      }
      raw[name] = content;
    }
    const serialized = digest(raw);
    if (serialized === this.#raw) return false;
    const checked = checkMaterial(materialOptions(this.#o, raw), this.clock.now(), 'tlsFiles', files);
    this.#raw = serialized;
    this.swap(checked.material, checked.info);
    return true;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#debounce?.close();
    this.#debounce = this.clock.setTimer(this.#debounceMs, () => {
      this.#debounce = undefined;
      if (this.#closed) return;
      this.reload().catch((err: unknown) => this.#errors.emit(err as Error));
    });
    this.#debounce.unref();
  }
}

function readAll(files: { certFile?: string; keyFile?: string; caFile?: string }, read: (path: string) => string): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [name, path] of Object.entries(files)) {
    try {
      raw[name] = read(path);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw tlsError('unreadable', `${name} ${path} could not be read${typeof code === 'string' ? ` (${code})` : ''}`, { option: name });
    }
  }
  return raw;
}

function materialOptions(o: TlsFilesOptions, raw: Record<string, string>): TlsMaterialOptions {
  const { certFile: _c, keyFile: _k, caFile: _a, watch: _w, debounceMs: _d, ...common } = o;
  return { ...common, ...(raw.certFile === undefined ? {} : { cert: raw.certFile }), ...(raw.keyFile === undefined ? {} : { key: raw.keyFile }), ...(raw.caFile === undefined ? {} : { ca: raw.caFile }) };
}

function digest(raw: Record<string, string>): string {
  return createHash('sha256').update(JSON.stringify(raw)).digest('base64url');
}
