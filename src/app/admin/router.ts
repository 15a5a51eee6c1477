import type { App } from '../app.js';
import { json } from '../serve.js';

/** The admin API and dashboard of a running app, as a Web `Request → Response` function. */
export function adminFetch(app: App): (request: Request) => Promise<Response> {
  return async (request) => {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') return json(200, { ok: true });
    const auth = request.headers.get('authorization') ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!app.checkAdminToken(token)) return json(401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer' });
    if (url.pathname === '/metrics') return new Response(await app.metrics.text(), { headers: { 'content-type': app.metrics.contentType } });
    return json(404, { error: 'not_found' });
  };
}
