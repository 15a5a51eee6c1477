import { dashboardAsset } from '../../dashboard/assets.js';
import type { App } from '../app.js';
import { json } from '../serve.js';
import { listDeadLetters, getDeadLetter, replayDeadLetter, discardDeadLetter, listQueues, listSagas, getSaga } from './queue-routes.js';
import { AdminReconciliations } from './reconciliations.js';
import { errorResponse, type AdminHandler } from './respond.js';
import { listAlerts, listAudit, listConnections, listSeries, listTasks, overview } from './status-routes.js';
import { getEscalation, listConflicts, listEscalations, listSyncs, resolveEscalation } from './sync-routes.js';

interface Route {
  readonly method: 'GET' | 'POST';
  /** Segments; `:name` captures one. */
  readonly segments: readonly string[];
  readonly handler: AdminHandler;
}

function route(method: Route['method'], path: string, handler: AdminHandler): Route {
  return { method, segments: path.split('/').filter(Boolean), handler };
}

function match(r: Route, segments: readonly string[]): Record<string, string> | null {
  if (r.segments.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const want = r.segments[i] as string;
    const got = segments[i] as string;
    if (want.startsWith(':')) params[want.slice(1)] = got;
    else if (want !== got) return null;
  }
  return params;
}

function segmentsOf(pathname: string): string[] | null {
  try {
    return pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return null;
  }
}

/**
 * The admin API and dashboard of a running app, as a Web `Request → Response` function. `/healthz`
 * and the dashboard's static files (`/`, `/dashboard.css`, `/dashboard.js`) are open; every other
 * route needs `Authorization: Bearer <admin token>` (401 otherwise). See docs/app.md "Admin API".
 */
export function adminFetch(app: App): (request: Request) => Promise<Response> {
  const reconciliations = new AdminReconciliations(app);
  const routes: readonly Route[] = [
    route('GET', '/metrics', async () => new Response(await app.metrics.text(), { headers: { 'content-type': app.metrics.contentType, 'cache-control': 'no-store' } })),
    route('GET', '/overview', overview),
    route('GET', '/audit', listAudit),
    route('GET', '/conflicts', listConflicts),
    route('GET', '/escalations', listEscalations),
    route('GET', '/escalations/:id', getEscalation),
    route('POST', '/escalations/:id/resolve', resolveEscalation),
    route('POST', '/reconciliations', reconciliations.start),
    route('GET', '/reconciliations', reconciliations.list),
    route('GET', '/reconciliations/:id', reconciliations.get),
    route('GET', '/dlq', listDeadLetters),
    route('GET', '/dlq/:id', getDeadLetter),
    route('POST', '/dlq/:id/replay', replayDeadLetter),
    route('POST', '/dlq/:id/discard', discardDeadLetter),
    route('GET', '/queues', listQueues),
    route('GET', '/sagas', listSagas),
    route('GET', '/sagas/:id', getSaga),
    route('GET', '/connections', listConnections),
    route('GET', '/series', listSeries),
    route('GET', '/alerts', listAlerts),
    route('GET', '/syncs', listSyncs),
    route('GET', '/tasks', listTasks),
  ];
  return async function admin(request) {
    const url = new URL(request.url);
    const method = request.method === 'HEAD' ? 'GET' : request.method;
    if (url.pathname === '/healthz') return json(200, { ok: true, name: app.name });
    if (method === 'GET') {
      const asset = dashboardAsset(url.pathname, app.name);
      if (asset !== null) return asset;
    }
    const auth = request.headers.get('authorization') ?? '';
    const token = /^bearer /i.test(auth) ? auth.slice(7).trim() : '';
    if (!(await app.checkAdminToken(token))) return json(401, { error: 'unauthorized', detail: 'send Authorization: Bearer <admin token>' }, { 'www-authenticate': 'Bearer' });
    const segments = segmentsOf(url.pathname);
    if (segments === null) return json(400, { error: 'bad_request', detail: 'the path is not valid percent-encoding' });
    const matched = routes.map((r) => ({ r, params: match(r, segments) })).filter((m) => m.params !== null);
    if (matched.length === 0) return json(404, { error: 'not_found', detail: `no route ${url.pathname}` });
    const hit = matched.find((m) => m.r.method === method);
    if (hit === undefined) return json(405, { error: 'method_not_allowed', detail: `${request.method} ${url.pathname}` }, { allow: [...new Set(matched.map((m) => m.r.method))].join(', ') });
    try {
      const out = await hit.r.handler({ app, request, url, params: hit.params as Record<string, string> });
      return out instanceof Response ? out : json(200, out);
    } catch (err) {
      const res = errorResponse(err);
      if (res.status >= 500) app.log.error('admin request failed', { path: url.pathname, error: err instanceof Error ? err.message : String(err) });
      return res;
    }
  };
}
