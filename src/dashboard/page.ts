/** Escapes text for HTML content and attribute values. */
function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const TABS: readonly (readonly [id: string, label: string])[] = [
  ['overview', 'Overview'],
  ['connections', 'Connections'],
  ['queues', 'Queues & dead letters'],
  ['audit', 'Audit'],
  ['conflicts', 'Conflicts'],
  ['escalations', 'Escalations'],
  ['reconciliations', 'Reconciliations'],
  ['sagas', 'Sagas'],
];

function card(id: string, label: string): string {
  return `<div class="card stat" id="${id}" data-testid="${id}"><div class="stat-label">${label}</div><div class="stat-value" data-role="value">–</div><div class="stat-sub" data-role="sub">&nbsp;</div></div>`;
}

function chart(id: string, title: string, unit: string): string {
  return `<figure class="card chart"><figcaption><span class="chart-title">${title}</span><span class="unit">${unit}</span></figcaption>
<svg id="chart-${id}" data-testid="chart-${id}" class="chart-svg" viewBox="0 0 640 200" role="img" aria-label="${title}"></svg>
<div class="legend" id="legend-${id}"></div></figure>`;
}

const VIEWS = `
<section class="view" id="view-overview" data-view="overview">
  <div class="stats">
    ${card('card-queue-depth', 'Queue depth')}${card('card-dead-letters', 'Dead letters')}${card('card-escalations', 'Open escalations')}${card('card-sync-lag', 'Sync lag')}${card('card-alerts', 'Active alerts')}
  </div>
  <div class="charts">
    ${chart('throughput', 'Throughput', 'requests / s per system')}${chart('errors', 'Errors', '5xx, 429 and failed attempts / s')}${chart('latency', 'Latency', 'p95 solid, p50 dashed (ms)')}
  </div>
  <div class="grid2">
    <div class="card"><h2>Syncs</h2><div id="overview-syncs"></div></div>
    <div class="card"><h2>Alerts</h2><div id="overview-alerts" data-testid="alerts-list"></div></div>
  </div>
</section>
<section class="view" id="view-connections" data-view="connections" hidden>
  <div class="card"><h2>Connections</h2><p class="muted">Protection state of each remote system, refreshed every 2 s.</p><div id="connections-table"></div></div>
</section>
<section class="view" id="view-queues" data-view="queues" hidden>
  <div class="card"><h2>Queues</h2><div id="queues-table"></div></div>
  <div class="card"><h2>Dead letters <span class="count" id="dlq-count"></span></h2><div id="dlq-groups"></div><div id="dlq-table"></div></div>
</section>
<section class="view" id="view-audit" data-view="audit" hidden>
  <div class="card">
    <h2>Audit trail</h2>
    <form id="audit-form" class="filters" data-testid="audit-form">
      <label>System <select id="audit-system" data-testid="audit-system"><option value="">any</option></select></label>
      <label>Outcome <select id="audit-outcome" data-testid="audit-outcome"><option value="">any</option><option>ok</option><option>http_error</option><option>timeout</option><option>network_error</option><option>rejected</option><option>duplicate_ignored</option></select></label>
      <label>Correlation id <input id="audit-correlation" data-testid="audit-correlation" placeholder="message or run id"></label>
      <label>Request id <input id="audit-request" data-testid="audit-request" placeholder="X-Request-Id or event id"></label>
      <button type="submit" class="btn primary" id="audit-search" data-testid="audit-search">Search</button>
      <button type="button" class="btn" id="audit-reset">Reset</button>
    </form>
    <div id="audit-table"></div>
    <div class="more"><button type="button" class="btn" id="audit-more" data-testid="audit-more" hidden>Older entries</button></div>
  </div>
</section>
<section class="view" id="view-conflicts" data-view="conflicts" hidden>
  <div class="card"><h2>Conflicts</h2><p class="muted">Both sides changed a field since the last sync; each row shows both values, the baseline and the policy that decided.</p><div id="conflicts-table"></div></div>
</section>
<section class="view" id="view-escalations" data-view="escalations" hidden>
  <div class="card">
    <h2>Escalations</h2>
    <div class="filters"><label>State <select id="esc-state" data-testid="esc-state"><option value="open">open</option><option value="resolved">resolved</option><option value="">all</option></select></label></div>
    <div id="escalations-table"></div>
  </div>
</section>
<section class="view" id="view-reconciliations" data-view="reconciliations" hidden>
  <div class="card">
    <h2>Reconciliations</h2>
    <div class="filters">
      <label id="recon-sync-label" hidden>Sync <select id="recon-sync" data-testid="recon-sync"></select></label>
      <button type="button" class="btn" id="recon-dry-run" data-testid="recon-dry-run">Start dry run</button>
      <button type="button" class="btn primary" id="recon-apply" data-testid="recon-apply">Start apply</button>
    </div>
    <div id="recon-table"></div>
  </div>
  <div class="card" id="recon-report" data-testid="recon-report" hidden></div>
</section>
<section class="view" id="view-sagas" data-view="sagas" hidden>
  <div class="card"><h2>Sagas</h2><div id="sagas-table"></div></div>
</section>`;

/** The dashboard's HTML shell (static; the script fills it through the admin API). @internal */
export function dashboardPage(appName: string): string {
  const name = escapeHtml(appName);
  const tabs = TABS.map(([id, label], i) => `<button type="button" role="tab" class="tab" id="tab-${id}" data-tab="${id}" data-testid="tab-${id}" aria-selected="${i === 0}">${label}</button>`).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${name} · Weir</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<div id="login" class="login" data-testid="login">
  <form id="login-form" class="card login-card" autocomplete="off">
    <div class="brand"><span class="logo" aria-hidden="true"></span>Weir</div>
    <h1>${name}</h1>
    <p class="muted">Enter the admin token to open the dashboard.</p>
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" data-testid="token-input" autofocus>
    <p id="login-error" class="error" role="alert" data-testid="login-error" hidden></p>
    <button id="login-submit" type="submit" class="btn primary wide" data-testid="login-submit">Sign in</button>
  </form>
</div>
<div id="app" data-testid="app" hidden>
  <header class="topbar">
    <div class="brand"><span class="logo" aria-hidden="true"></span>Weir <span class="app-name">${name}</span></div>
    <div class="topbar-right"><span id="status" class="status" data-testid="status">connecting…</span><button type="button" class="btn ghost" id="logout" data-testid="logout">Sign out</button></div>
  </header>
  <nav class="tabs" role="tablist">${tabs}</nav>
  <div id="flash" class="flash" role="status" data-testid="flash" hidden></div>
  <main>${VIEWS}</main>
</div>
</body>
</html>`;
}
