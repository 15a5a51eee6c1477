import { createHash } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import { fn } from '../internal/validate.js';
import { beforeOnly, type Middleware } from './compose.js';
import type { ServerContext } from './context.js';
import { HttpError } from './problem.js';

/** A strong ETag for a version number: `7` → `"7"`. */
export function versionTag(version: number | bigint | string): string {
  return `"${String(version).replace(/["\\]/g, '')}"`;
}

/** A strong ETag for bytes: the quoted base64url SHA-256 (first 27 characters: 160 bits). */
export function contentTag(bytes: Uint8Array): string {
  return `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"`;
}

/** The entity-tags of an `If-Match`/`If-None-Match` value; `['*']` for `*`; `undefined` when malformed. */
export function parseEntityTags(value: string): string[] | undefined {
  const v = value.trim();
  if (v === '*') return ['*'];
  const tags: string[] = [];
  const re = /\s*((?:W\/)?"[\x21\x23-\x7e\x80-\xff]*")\s*(,|$)/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while (end < v.length && (m = re.exec(v)) !== null) {
    tags.push(m[1] as string);
    end = re.lastIndex;
    if (m[2] === '') break;
  }
  return end === v.length && tags.length > 0 ? tags : undefined;
}

const isWeak = (tag: string): boolean => tag.startsWith('W/');
const opaque = (tag: string): string => (isWeak(tag) ? tag.slice(2) : tag);

/**
 * Strong ETags on GET/HEAD 200 responses that have none (a hash of the body), and `If-None-Match`
 * answered with 304 (weak comparison, RFC 9110 §13.1.2). Import from `weir/server`.
 * @example `app.use(weir(etag()))`
 */
export function etag(): Middleware {
  return async function etagMiddleware(ctx, next) {
    await next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return;
    const res = ctx.res;
    if (res === undefined || res.status !== 200) return;
    let tag = res.headers.get('etag');
    if (tag === null) {
      const bytes = new Uint8Array(await res.arrayBuffer());
      tag = contentTag(bytes);
      const headers = new Headers(res.headers);
      headers.set('etag', tag);
      ctx.res = new Response(ctx.method === 'HEAD' ? null : bytes, { status: 200, headers });
    }
    const inm = ctx.header('if-none-match');
    if (inm === undefined) return;
    const tags = parseEntityTags(inm);
    if (tags !== undefined && (tags[0] === '*' || tags.some((t) => opaque(t) === opaque(tag)))) {
      const headers = new Headers({ etag: tag });
      for (const name of ['cache-control', 'content-location', 'date', 'expires', 'vary']) {
        const v = res.headers.get(name);
        if (v !== null) headers.set(name, v);
      }
      ctx.res = new Response(null, { status: 304, headers });
    }
  };
}

export interface IfMatchOptions {
  /**
   * The resource's current version: a version number (its tag is `"<n>"`), a strong ETag, or
   * `undefined` when the resource does not exist.
   */
  current: (ctx: ServerContext) => number | string | undefined | Promise<number | string | undefined>;
  /** Methods that must carry `If-Match`. Default `['PUT', 'PATCH', 'DELETE']`. */
  methods?: readonly string[];
  /** A missing `If-Match` is refused with 428. Default true; false lets it through unchecked. */
  required?: boolean;
}

const kExpected = Symbol('weir.ifMatch.expected');

/** The version (number or ETag) the request's `If-Match` matched, for a conditional write (`UPDATE … WHERE version = ?`). */
export function expectedVersion(ctx: ServerContext): number | string | undefined {
  return ctx.vars.get(kExpected) as number | string | undefined;
}

/** The 412 to throw when a conditional write found the version changed meanwhile. */
export function preconditionFailed(current?: number | string): HttpError {
  const tag = current === undefined ? undefined : typeof current === 'number' ? versionTag(current) : current;
  return new HttpError('WEIR_PRECONDITION_FAILED', 412, 'The resource changed since the version in If-Match.', tag === undefined ? {} : { headers: { etag: tag }, extensions: { currentEtag: tag } });
}

/**
 * Optimistic concurrency: a write must name the version it read (`If-Match: "7"`). Missing where
 * required → 428 (`WEIR_PRECONDITION_REQUIRED`); stale or malformed → 412
 * (`WEIR_PRECONDITION_FAILED`, with the current ETag). Strong comparison (a weak tag never
 * matches). Then do the write conditionally on {@link expectedVersion}, and throw
 * {@link preconditionFailed} if it changed in between. Import from `weir/server`.
 *
 * @throws InvalidOptionError naming the option.
 * @example
 * ```ts
 * ifMatch({ current: async (ctx) => (await db.order(ctx.url.pathname))?.version })
 * ```
 */
export function ifMatch(options: IfMatchOptions): Middleware {
  const current = fn<IfMatchOptions['current']>(options?.current, 'ifMatch.current');
  const methods = new Set((options.methods ?? ['PUT', 'PATCH', 'DELETE']).map((m) => m.toUpperCase()));
  if (options.required !== undefined && typeof options.required !== 'boolean') throw new InvalidOptionError('ifMatch.required', 'a boolean', options.required);
  const required = options.required ?? true;

  return beforeOnly(async function ifMatchMiddleware(ctx, next) {
    if (!methods.has(ctx.method)) return next();
    const header = ctx.header('if-match');
    if (header === undefined) {
      if (required) throw new HttpError('WEIR_PRECONDITION_REQUIRED', 428, 'This request must carry If-Match with the version it read.');
      return next();
    }
    const version = await current(ctx);
    const tag = version === undefined ? undefined : typeof version === 'number' ? versionTag(version) : version;
    const tags = parseEntityTags(header);
    const ok = tags !== undefined && tag !== undefined && !isWeak(tag) && (tags[0] === '*' || tags.some((t) => !isWeak(t) && t === tag));
    if (!ok) throw preconditionFailed(version);
    ctx.vars.set(kExpected, version);
    return next();
  });
}
