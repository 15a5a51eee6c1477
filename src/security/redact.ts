import { InvalidOptionError } from '../errors.js';
import { isSecret, type Secret } from './secret.js';

/**
 * Redaction by default, for every audit entry, log line and error Weir writes: sensitive headers,
 * JSON fields named like secrets or at configured paths, URL query values, and the literal values of
 * known secrets anywhere in text. Import from `weir/security`.
 */

/** What replaces a redacted value. */
export const REDACTED = '[REDACTED]';

/** A name rule: a string matches case-insensitively and exactly; a RegExp is tested as given. */
export type NameRule = string | RegExp;

/** Header names that are always sensitive. */
export const SENSITIVE_HEADERS: readonly string[] = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key'];
/** Any header, JSON key or query key matching this is sensitive. */
export const SENSITIVE_NAME = /token|secret|password|passwd|api[-_]?key|private[-_]?key|signature|credential|session|hmac/i;
/** Query keys that are sensitive in URLs, besides those matching {@link SENSITIVE_NAME}. */
export const SENSITIVE_QUERY_KEYS: readonly string[] = ['token', 'key', 'secret', 'signature', 'sig', 'password', 'code', 'apikey', 'auth'];
/** Rate-limit headers name quota units (`x-ratelimit-remaining-tokens`), not secrets: never redacted by name. */
const NEVER_SENSITIVE = /^(x-)?rate-?limit/i;

export interface RedactOptions {
  /** More sensitive names (headers and JSON keys), besides the defaults. */
  names?: readonly NameRule[];
  /** Names never redacted by name, even when they match a default rule (e.g. `'max_tokens'`). */
  allow?: readonly NameRule[];
  /** Default {@link REDACTED}. */
  replacement?: string;
}

export interface RedactJsonOptions extends RedactOptions {
  /** Paths to redact whatever their names: `'card.number'`, `'items[*].token'`, `'data[0].pin'`, `'*.ssn'`. */
  paths?: readonly string[];
}

export interface RedactUrlOptions {
  /** More sensitive query keys, besides {@link SENSITIVE_QUERY_KEYS} and {@link SENSITIVE_NAME}. */
  queryKeys?: readonly NameRule[];
  /** Default {@link REDACTED}. */
  replacement?: string;
}

/** Response or request headers in any common shape. */
export type HeadersInput =
  | Headers
  | Readonly<Record<string, string | readonly string[] | number | undefined>>
  | Iterable<readonly [string, string]>;

type Segment = string | number | '*';
interface Rules {
  names: readonly NameRule[];
  allow: readonly NameRule[];
  queryKeys: readonly NameRule[];
  paths: readonly Segment[][];
  replacement: string;
  text: (s: string) => string;
}

function rules(o: RedactJsonOptions & RedactUrlOptions, text: (s: string) => string = (s) => s, option = 'redact'): Rules {
  return {
    names: o.names ?? [],
    allow: o.allow ?? [],
    queryKeys: o.queryKeys ?? [],
    paths: (o.paths ?? []).map((p) => parsePath(p, `${option}.paths`)),
    replacement: o.replacement ?? REDACTED,
    text,
  };
}

function matches(name: string, list: readonly NameRule[]): boolean {
  const lower = name.toLowerCase();
  return list.some((r) => (typeof r === 'string' ? r.toLowerCase() === lower : r.test(name)));
}

/** True when a header or field name is sensitive by the default rules (plus `names`, minus `allow`). */
export function isSensitiveName(name: string, o: Pick<RedactOptions, 'names' | 'allow'> = {}): boolean {
  if (matches(name, o.allow ?? [])) return false;
  if (matches(name, SENSITIVE_HEADERS) || matches(name, o.names ?? [])) return true;
  return !NEVER_SENSITIVE.test(name) && SENSITIVE_NAME.test(name);
}

/**
 * Redacts headers: sensitive ones are replaced (an `Authorization` keeps its scheme: `Bearer [REDACTED]`).
 * Repeated headers come back as arrays. The input is not changed.
 * @example `redactHeaders(req.headers)` → `{ authorization: 'Bearer [REDACTED]', accept: 'application/json' }`
 */
export function redactHeaders(headers: HeadersInput, o: RedactOptions = {}): Record<string, string | string[]> {
  return headersWith(headers, rules(o));
}

function headersWith(headers: HeadersInput, r: Rules): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const add = (name: string, value: string) => {
    const v = redactHeaderValue(name, value, r);
    const prev = out[name];
    out[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  };
  const entries: Iterable<readonly [string, unknown]> =
    Symbol.iterator in headers ? (headers as Iterable<readonly [string, string]>) : Object.entries(headers);
  for (const [name, value] of entries) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) add(name, String(v));
  }
  return out;
}

function redactHeaderValue(name: string, value: string, r: Rules): string {
  if (!isSensitiveName(name, r)) return r.text(value);
  const lower = name.toLowerCase();
  if (lower === 'authorization' || lower === 'proxy-authorization') {
    const scheme = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +\S/.exec(value)?.[1];
    if (scheme !== undefined) return `${scheme} ${r.replacement}`;
  }
  return r.replacement;
}

/**
 * A deep copy of a JSON-like value with sensitive fields replaced: keys named like secrets, and
 * the given `paths`. Objects with `toJSON` (a `Date`, a {@link Secret}) are converted first, as
 * `JSON.stringify` would; cycles become `'[Circular]'`. The input is not changed.
 * @throws {InvalidOptionError} when a path cannot be parsed.
 * @example `redactJson(body, { paths: ['card.number', 'items[*].token'] })`
 */
export function redactJson(value: unknown, o: RedactJsonOptions = {}): unknown {
  return jsonWith(value, rules(o, undefined, 'redactJson'));
}

function jsonWith(root: unknown, r: Rules): unknown {
  const seen = new Set<object>();
  const walk = (input: unknown, active: readonly Segment[][]): unknown => {
    let value = input;
    if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      value = (value as { toJSON: () => unknown }).toJSON();
    }
    if (typeof value === 'string') return r.text(value);
    if (typeof value !== 'object' || value === null) return value;
    if (seen.has(value)) return '[Circular]';
    seen.add(value);
    const child = (key: string | number, v: unknown): unknown => {
      const next = active.filter((p) => p[0] === '*' || String(p[0]) === String(key)).map((p) => p.slice(1));
      const hit = next.some((p) => p.length === 0) || (typeof key === 'string' && isSensitiveName(key, r));
      return hit && v !== undefined && v !== null ? r.replacement : walk(v, next);
    };
    let out: unknown;
    if (Array.isArray(value)) out = value.map((v, i) => child(i, v));
    else {
      const obj: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) obj[r.text(k)] = child(k, v);
      out = obj;
    }
    seen.delete(value); // shared (non-cyclic) references are copied each time
    return out;
  };
  return walk(root, r.paths);
}

function parsePath(path: string, option: string): Segment[] {
  const invalid = () => new InvalidOptionError(option, "a path such as 'card.number' or 'items[*].token'", path);
  if (typeof path !== 'string' || path.startsWith('.')) throw invalid();
  const segments: Segment[] = [];
  const re = /\.?([^.[\]]+)|\[(\*|\d+)\]/gy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(path)) !== null) {
    end = re.lastIndex;
    if (m[1] !== undefined) segments.push(m[1] === '*' ? '*' : m[1]);
    else segments.push(m[2] === '*' ? '*' : Number(m[2]));
  }
  if (segments.length === 0 || end !== path.length) throw invalid();
  return segments;
}

/**
 * A URL with sensitive query (and fragment) values replaced, and any user:password removed.
 * Sensitive keys: {@link SENSITIVE_QUERY_KEYS}, anything matching {@link SENSITIVE_NAME}, and `queryKeys`.
 * Relative URLs work too; everything else is kept as written.
 * @example `redactUrl('https://api.example.com/v1?access_token=abc&page=2')` → `'https://api.example.com/v1?access_token=[REDACTED]&page=2'`
 */
export function redactUrl(url: string | URL, o: RedactUrlOptions = {}): string {
  return urlWith(url, rules(o));
}

function urlWith(url: string | URL, r: Rules): string {
  const text = String(url);
  const hashAt = text.indexOf('#');
  const beforeHash = hashAt < 0 ? text : text.slice(0, hashAt);
  const queryAt = beforeHash.indexOf('?');
  let base = queryAt < 0 ? beforeHash : beforeHash.slice(0, queryAt);
  base = base.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#@]*@/, `$1${r.replacement}@`);
  const query = queryAt < 0 ? undefined : params(beforeHash.slice(queryAt + 1), r);
  const fragment = hashAt < 0 ? undefined : text.slice(hashAt + 1);
  const frag = fragment !== undefined && fragment.includes('=') ? params(fragment, r) : fragment;
  return r.text(`${base}${query === undefined ? '' : `?${query}`}${frag === undefined ? '' : `#${frag}`}`);
}

function params(query: string, r: Rules): string {
  return query
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq < 0) return part;
      const rawKey = part.slice(0, eq);
      return isSensitiveQueryKey(decode(rawKey), r) ? `${rawKey}=${r.replacement}` : part;
    })
    .join('&');
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function isSensitiveQueryKey(key: string, r: Pick<Rules, 'queryKeys'>): boolean {
  return matches(key, SENSITIVE_QUERY_KEYS) || SENSITIVE_NAME.test(key) || matches(key, r.queryKeys);
}

export interface RedactorOptions extends RedactJsonOptions, RedactUrlOptions {
  /** Secrets whose literal values are replaced anywhere in text. More can be added with `addSecret`. */
  secrets?: ReadonlyArray<Secret | string>;
}

/** One configured redactor for headers, bodies, URLs, free text and errors. */
export interface Redactor {
  headers(headers: HeadersInput): Record<string, string | string[]>;
  json(value: unknown): unknown;
  url(url: string | URL): string;
  /**
   * Free text (a log line, an error message): known secret values (also URL- and JSON-escaped) become
   * `[secret NAME]`, `Bearer`/`Basic` credentials and sensitive query values in URLs become `[REDACTED]`.
   */
  text(text: string): string;
  /** A plain, redacted view of an error for logs: name, code, message and stack, each through `text`. */
  error(error: unknown): { name: string; code?: string; message: string; stack?: string };
  /** Registers a secret whose literal value must never appear in output. */
  addSecret(secret: Secret | string): void;
}

/**
 * Creates a {@link Redactor} combining the header, JSON and URL rules with literal replacement of
 * known secret values.
 * @throws {InvalidOptionError} when a path cannot be parsed.
 * @example
 * ```ts
 * const redactor = createRedactor({ paths: ['card.number'], secrets: [apiKey] });
 * audit.write({ headers: redactor.headers(req.headers), body: redactor.json(body), url: redactor.url(req.url) });
 * ```
 */
export function createRedactor(o: RedactorOptions = {}): Redactor {
  const literals = new Map<string, string>(); // variant → marker
  let pattern: RegExp | undefined;
  const r = rules(o, (s) => text(s), 'createRedactor');

  function addSecret(s: Secret | string): void {
    const value = isSecret(s) ? s.reveal() : s;
    if (typeof value !== 'string' || value === '') throw new InvalidOptionError('redactor.addSecret', 'a Secret or a non-empty string', '<redacted>');
    const marker = isSecret(s) ? s.toString() : r.replacement;
    for (const variant of [value, encodeURIComponent(value), JSON.stringify(value).slice(1, -1)]) literals.set(variant, marker);
    const sorted = [...literals.keys()].toSorted((a, b) => b.length - a.length);
    pattern = new RegExp(sorted.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  }

  function text(s: string): string {
    let out = pattern === undefined ? s : s.replace(pattern, (m) => literals.get(m) ?? r.replacement);
    out = out.replace(/\b(Bearer|Basic)(\s+)[A-Za-z0-9\-._~+/]{8,}=*/gi, `$1$2${r.replacement}`);
    return out.replace(/([?&#])([^=&#\s?]+)=([^&#\s]*)/g, (m, sep: string, key: string) =>
      isSensitiveQueryKey(decode(key), r) ? `${sep}${key}=${r.replacement}` : m,
    );
  }

  for (const s of o.secrets ?? []) addSecret(s);
  return {
    headers: (headers) => headersWith(headers, r),
    json: (value) => jsonWith(value, r),
    url: (url) => urlWith(url, r),
    text,
    error(error) {
      const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as Record<string, unknown>;
      const code = typeof e.code === 'string' ? { code: e.code } : {};
      const stack = typeof e.stack === 'string' ? { stack: text(e.stack) } : {};
      return { name: text(String(e.name ?? 'Error')), ...code, message: text(String(e.message ?? '')), ...stack };
    },
    addSecret,
  };
}
