import { CLIENT_CHARTS } from './client-charts.js';
import { CLIENT_CORE } from './client-core.js';
import { CLIENT_OPS } from './client-ops.js';
import { CLIENT_SYNC } from './client-sync.js';
import { dashboardPage } from './page.js';
import { DASHBOARD_CSS } from './styles.js';

/** The whole dashboard script: one strict-mode function, no globals, started on DOMContentLoaded. @internal */
export const DASHBOARD_JS = `(function () {
'use strict';
${CLIENT_CORE}
${CLIENT_CHARTS}
${CLIENT_OPS}
${CLIENT_SYNC}
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot); else boot();
})();
`;

/**
 * Same-origin only: no inline script or style, no external request. Data reaches the page through
 * `fetch` with the Bearer token; nothing from the API is ever parsed as HTML.
 */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-cache',
};

function asset(body: string, type: string): Response {
  return new Response(body, { status: 200, headers: { 'content-type': `${type}; charset=utf-8`, ...SECURITY_HEADERS } });
}

/**
 * The dashboard's static files, served without authentication (the page asks for the admin token
 * and sends it as a Bearer token to the admin API): `/` (HTML), `/dashboard.css`, `/dashboard.js`.
 * @returns the response, or null when `pathname` is not a dashboard file.
 * @internal
 */
export function dashboardAsset(pathname: string, appName: string): Response | null {
  if (pathname === '/' || pathname === '/index.html') return asset(dashboardPage(appName), 'text/html');
  if (pathname === '/dashboard.css') return asset(DASHBOARD_CSS, 'text/css');
  if (pathname === '/dashboard.js') return asset(DASHBOARD_JS, 'text/javascript');
  return null;
}
