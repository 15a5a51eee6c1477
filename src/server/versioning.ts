import { InvalidOptionError } from '../errors.js';
import { type Clock, systemClock } from '../internal/clock.js';
import { beforeOnly, type Middleware } from './compose.js';
import { HttpError } from './problem.js';

/** The life of one API version. Times are epoch ms or Dates. */
export interface ApiVersionInfo {
  /** From this time the version is deprecated (`Deprecation` header, RFC 9745; may be in the future). */
  deprecatedAt?: number | Date;
  /** From this time the version is gone: 410 (`Sunset` header before that, RFC 8594). */
  sunsetAt?: number | Date;
  /** A page about the deprecation and the migration (`Link: <…>; rel="deprecation"`). */
  link?: string;
}

export interface VersioningOptions {
  /** The versions served, by name (`'2024-06-01'`, `'v2'`). */
  versions: Readonly<Record<string, ApiVersionInfo>>;
  /** The version of a request that names none. Default: refuse it (400). */
  defaultVersion?: string;
  /** Read the version from this request header. Default `'api-version'`. */
  header?: string;
  /** Read the version from the first path segment (`/v2/orders`) before the header. Default false. */
  path?: boolean;
  clock?: Clock;
}

const ms = (t: number | Date | undefined): number | undefined => (t === undefined ? undefined : typeof t === 'number' ? t : t.getTime());

/**
 * API versioning by header (`Api-Version: 2024-06-01`) or path (`/v2/…`): sets `ctx.apiVersion`,
 * refuses an unknown version (400, `WEIR_VERSION_UNSUPPORTED`, with the supported list) and a
 * sunset one (410), and marks deprecated versions on every response with `Deprecation`
 * (`@<epoch seconds>`), `Sunset` (an HTTP-date) and `Link` headers. Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * versioning({ versions: { v1: { deprecatedAt: Date.parse('2026-01-01'), sunsetAt: Date.parse('2026-07-01'), link: 'https://api.example.com/migrate' }, v2: {} }, path: true })
 * ```
 */
export function versioning(options: VersioningOptions): Middleware {
  if (typeof options?.versions !== 'object' || options.versions === null || Object.keys(options.versions).length === 0) {
    throw new InvalidOptionError('versioning.versions', 'a non-empty map of versions', options?.versions);
  }
  const versions = new Map(Object.entries(options.versions));
  const fallback = options.defaultVersion;
  if (fallback !== undefined && !versions.has(fallback)) throw new InvalidOptionError('versioning.defaultVersion', 'one of the versions', fallback);
  const header = (options.header ?? 'api-version').toLowerCase();
  const byPath = options.path === true;
  const clock = options.clock ?? systemClock;
  const supported = [...versions.keys()];

  return beforeOnly(async function versioningMiddleware(ctx, next) {
    let name: string | undefined;
    if (byPath) {
      const first = ctx.path.split('/')[1];
      if (first !== undefined && versions.has(first)) name = first;
    }
    name ??= ctx.header(header)?.trim() ?? fallback;
    if (!byPath) ctx.headers.append('vary', header);
    if (name === undefined || !versions.has(name)) {
      throw new HttpError('WEIR_VERSION_UNSUPPORTED', 400, name === undefined ? 'An API version is required.' : `API version ${name} is not supported.`, {
        extensions: { supported },
      });
    }
    const info = versions.get(name) as ApiVersionInfo;
    const now = clock.now();
    const sunset = ms(info.sunsetAt);
    if (sunset !== undefined && now >= sunset) {
      throw new HttpError('WEIR_VERSION_UNSUPPORTED', 410, `API version ${name} was retired.`, { title: 'Gone', extensions: { supported, sunset: new Date(sunset).toISOString() } });
    }
    ctx.apiVersion = name;
    ctx.headers.set(header, name);
    const deprecated = ms(info.deprecatedAt);
    if (deprecated !== undefined) ctx.headers.set('deprecation', `@${Math.floor(deprecated / 1000)}`);
    if (sunset !== undefined) ctx.headers.set('sunset', new Date(sunset).toUTCString());
    if (info.link !== undefined && deprecated !== undefined) ctx.headers.append('link', `<${info.link}>; rel="deprecation"; type="text/html"`);
    return next();
  });
}
