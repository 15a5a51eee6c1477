import { InvalidOptionError } from '../errors.js';
import { ForbiddenError, missingScopes, UnauthenticatedError } from './auth-errors.js';
import { beforeOnly, type Middleware } from './compose.js';

/** Scopes per route: `'POST /orders'`, `'GET /orders/:id'`, `'/health'` (any method), `*` matches one segment, `**` the rest. */
export type RouteScopes = Readonly<Record<string, string | readonly string[]>>;

export interface RequireScopesOptions {
  /** What a route not in the map gets: `'deny'` (default: least privilege) or `'allow'`. */
  unmatched?: 'deny' | 'allow';
}

interface Rule {
  readonly method: string | undefined;
  readonly segments: readonly string[];
  readonly scopes: readonly string[];
  readonly specificity: number;
}

function compile(pattern: string, scopes: string | readonly string[]): Rule {
  const m = /^(?:([A-Z]+)\s+)?(\/\S*)$/.exec(pattern.trim());
  if (m === null) throw new InvalidOptionError(`requireScopes['${pattern}']`, "'METHOD /path' or '/path'", pattern);
  const list = typeof scopes === 'string' ? scopes.split(' ').filter((s) => s !== '') : [...scopes];
  const segments = (m[2] as string).split('/').filter((s) => s !== '');
  const literal = segments.filter((s) => !s.startsWith(':') && s !== '*' && s !== '**').length;
  return { method: m[1], segments, scopes: list, specificity: literal * 4 + segments.length * 2 + (m[1] === undefined ? 0 : 1) };
}

function matches(rule: Rule, method: string, parts: readonly string[]): boolean {
  if (rule.method !== undefined && rule.method !== method && !(rule.method === 'GET' && method === 'HEAD')) return false;
  for (let i = 0; i < rule.segments.length; i++) {
    const s = rule.segments[i] as string;
    if (s === '**') return true;
    const p = parts[i];
    if (p === undefined) return false;
    if (s !== '*' && !s.startsWith(':') && s !== p) return false;
  }
  return parts.length === rule.segments.length;
}

/**
 * A least-privilege map from route to required scopes, checked against `ctx.client.scopes` (so it
 * runs after `requireJwt`, `requireApiKey` or `requireClientCertificate`). The most specific
 * matching pattern wins; a route not in the map is refused (403) unless `unmatched: 'allow'`.
 * No client → 401. Import from `weir/server`.
 *
 * @throws InvalidOptionError for a malformed pattern.
 * @example
 * ```ts
 * requireScopes({ 'GET /orders/**': 'orders:read', 'POST /orders': ['orders:write'], 'GET /health': [] })
 * ```
 */
export function requireScopes(map: RouteScopes, options: RequireScopesOptions = {}): Middleware {
  if (typeof map !== 'object' || map === null) throw new InvalidOptionError('requireScopes', 'a map of route pattern to scopes', map);
  const rules = Object.entries(map)
    .map(([pattern, scopes]) => compile(pattern, scopes))
    .toSorted((a, b) => b.specificity - a.specificity);
  const allowUnmatched = options.unmatched === 'allow';

  return beforeOnly(async function requireScopesMiddleware(ctx, next) {
    const parts = ctx.path.split('/').filter((s) => s !== '');
    const rule = rules.find((r) => matches(r, ctx.method, parts));
    if (rule === undefined) {
      if (allowUnmatched) return next();
      throw new ForbiddenError('no_route_policy', 'No scope policy covers this route.');
    }
    if (rule.scopes.length === 0) return next();
    const client = ctx.client;
    if (client === undefined) throw new UnauthenticatedError('missing', 'Credentials are required for this route.');
    const missing = missingScopes(client.scopes, rule.scopes);
    if (missing.length > 0) throw new ForbiddenError('insufficient_scope', `Missing scope(s): ${missing.join(' ')}.`, missing);
    return next();
  });
}
