/**
 * The dashboard's operational views (browser JavaScript): Overview, Connections, Queues & dead
 * letters, Sagas.
 * @internal
 */
export const CLIENT_OPS = String.raw`
function setCard(id, val, sub, tone) {
  var el = $(id);
  el.className = 'card stat' + (tone ? ' ' + tone : '');
  el.querySelector('[data-role=value]').textContent = String(val);
  el.querySelector('[data-role=sub]').textContent = sub || ' ';
}

function alertTone(a) { return a.state === 'firing' ? 'bad' : 'ok'; }

VIEWS.overview = {
  auto: true,
  load: async function () {
    var r = await Promise.all([api('/overview'), api('/series'), api('/alerts'), api('/syncs')]);
    var o = r[0], series = r[1], alerts = r[2], syncs = r[3];
    setCard('card-queue-depth', o.queue_depth, o.oldest_ready_age_ms === null ? 'nothing waiting' : 'oldest waiting ' + duration(o.oldest_ready_age_ms), o.queue_depth > 1000 ? 'warn' : '');
    setCard('card-dead-letters', o.dead_letters, o.dead_letters === 0 ? 'none' : 'replay or discard them', o.dead_letters > 0 ? 'warn' : 'ok');
    setCard('card-escalations', o.escalations_open, o.escalations_open === 0 ? 'no decision waiting' : 'waiting for a person', o.escalations_open > 0 ? 'warn' : 'ok');
    setCard('card-sync-lag', duration(o.sync_lag_ms), o.syncs.length + ' sync' + (o.syncs.length === 1 ? '' : 's'), o.sync_lag_ms > 120000 ? 'bad' : '');
    setCard('card-alerts', o.alerts_active, o.breakers_open > 0 ? o.breakers_open + ' breaker(s) open' : 'all breakers closed', o.alerts_active > 0 ? 'bad' : 'ok');
    drawTraffic(series);
    if (changed('overview-syncs', syncs)) {
      put('overview-syncs', table([
        { title: 'Sync', cell: function (s) { return h('b', { text: s.name }); } },
        { title: 'Lag', cls: 'num', cell: function (s) { return duration(s.lag_ms); } },
        { title: 'Pending', cls: 'num', cell: function (s) { return String(s.pending); } },
        { title: 'Escalations', cls: 'num', cell: function (s) { return String(s.escalations_open); } },
        { title: 'Clock skew', cell: function (s) {
          return Object.keys(s.skew).map(function (k) { var e = s.skew[k]; return label(k) + ' ' + (e.samples ? (e.offset_ms >= 0 ? '+' : '') + duration(e.offset_ms) + ' ±' + duration(e.uncertainty_ms) : 'n/a'); }).join(' · ');
        } },
      ], syncs, { empty: 'No sync registered.' }));
    }
    if (changed('overview-alerts', alerts)) {
      var items = alerts.active.length ? alerts.active : alerts.recent.slice(0, 6);
      put('overview-alerts', items.length === 0 ? h('p', { class: 'muted', text: 'No alert has fired.' }) : items.map(function (a) {
        return h('div', { class: 'alert-item', 'data-testid': 'alert-item' }, [pill(a.state, alertTone(a)), h('b', { text: a.name }), a.system ? pill(a.system) : null, h('span', { class: 'alert-time', text: when(a.at) })]);
      }));
    }
  },
};

function breakerPill(state) {
  if (state === null) return pill('none');
  return pill(state, state === 'closed' ? 'ok' : state === 'open' || state === 'isolated' ? 'bad' : 'warn');
}

VIEWS.connections = {
  auto: true,
  load: async function () {
    var list = await api('/connections');
    if (!changed('connections', list)) return;
    put('connections-table', table([
      { title: 'Name', cell: function (c) { return h('b', { text: c.name }); } },
      { title: 'Base URL', cell: function (c) { return h('span', { class: 'mono', text: c.base_url }); } },
      { title: 'Breaker', cell: function (c) { return breakerPill(c.breaker); } },
      { title: 'Rate limit', cell: function (c) { var l = c.rate_limit; return l.limit === null ? (l.per_second === null ? '–' : l.per_second + '/s local') : l.remaining + ' / ' + l.limit + ' left'; } },
      { title: 'Resets', cell: function (c) { return when(c.rate_limit.reset_at); } },
      { title: 'Held until', cell: function (c) { return c.held_until === null ? '–' : [pill('held', 'warn'), ' ', when(c.held_until), c.hold_source ? ' (' + c.hold_source + ')' : '']; } },
      { title: 'Bulkhead', cell: function (c) { return c.bulkhead === null ? '–' : c.bulkhead.running + ' running · ' + c.bulkhead.queued + ' queued'; } },
      { title: 'Retry budget', cell: function (c) { return c.retry_budget === null ? '–' : c.retry_budget.retries + ' of ' + c.retry_budget.allowed + ' retries (' + c.retry_budget.calls + ' calls)'; } },
    ], list, { empty: 'No connection registered.', row: function (c) { return { 'data-testid': 'connection-row', 'data-name': c.name }; } }));
  },
};

VIEWS.queues = {
  auto: true,
  load: async function () {
    var r = await Promise.all([api('/queues'), api('/dlq?limit=200')]);
    var q = r[0], d = r[1];
    if (changed('queues', q)) {
      var n = function (k) { return { title: k, cls: 'num', cell: function (t) { return String(t[k]); } }; };
      put('queues-table', table([
        { title: 'Topic', cell: function (t) { return h('span', { class: 'mono', text: t.topic }); } },
        n('ready'), n('scheduled'), n('active'), n('waiting'), n('blocked'), n('dead'), n('done'),
        { title: 'Oldest ready', cls: 'num', cell: function (t) { return duration(t.oldest_ready_age_ms); } },
        { title: 'Hold', cell: function (t) { var hd = q.holds.filter(function (x) { return x.topic === t.topic; })[0]; return hd ? pill(hd.paused ? 'paused' : 'held until ' + when(hd.until), 'warn') : ''; } },
      ], q.topics, { empty: 'No topic yet.' }));
    }
    if (changed('dlq', d)) {
      $('dlq-count').textContent = String(d.count);
      put('dlq-groups', d.groups.length < 2 ? null : h('p', { class: 'muted', text: d.groups.map(function (g) { return g.count + ' × ' + g.topic + ': ' + (g.code || g.message); }).join(' · ') }));
      put('dlq-table', table([
        { title: 'Dead at', cell: function (m) { return when(m.dead_at); } },
        { title: 'Topic', cell: function (m) { return h('span', { class: 'mono', text: m.topic }); } },
        { title: 'Key', cell: function (m) { return idText(m.key); } },
        { title: 'Error', cell: function (m) { return h('div', { class: 'cell-error' }, [m.error.code ? h('b', { text: m.error.code + ' ' }) : null, m.error.message]); } },
        { title: 'Payload', cell: function (m) { return h('span', { class: 'value', text: m.payload_preview }); } },
        { title: 'Attempts', cls: 'num', cell: function (m) { return String(m.attempts); } },
        { title: 'Replays', cls: 'num', cell: function (m) { return String(m.replays); } },
        { title: '', cls: 'actions', cell: function (m) {
          var id = encodeURIComponent(m.id);
          return [
            h('button', { type: 'button', class: 'btn small', 'data-testid': 'dlq-replay', text: 'Replay', onclick: function () { act('/dlq/' + id + '/replay', {}, 'Replayed ' + m.id); } }),
            confirmButton('Discard', { 'data-testid': 'dlq-discard' }, function () { act('/dlq/' + id + '/discard', {}, 'Discarded ' + m.id); }),
          ];
        } },
      ], d.items, { empty: 'No dead letters.', row: function (m) { return { 'data-testid': 'dlq-row', 'data-id': m.id }; } }));
    }
  },
};

function sagaTone(s) { return s === 'completed' ? 'ok' : s === 'running' ? 'info' : s === 'compensated' || s === 'compensating' || s === 'paused' ? 'warn' : 'bad'; }

VIEWS.sagas = {
  auto: true,
  load: async function () {
    var runs = await api('/sagas?limit=200');
    if (!changed('sagas', runs)) return;
    put('sagas-table', table([
      { title: 'Started', cell: function (r) { return when(r.created_at); } },
      { title: 'Saga', cell: function (r) { return h('b', { text: r.name }); } },
      { title: 'Run', cell: function (r) { return idText(r.id); } },
      { title: 'State', cell: function (r) { return pill(r.state, sagaTone(r.state)); } },
      { title: 'Step', cell: function (r) { return r.step === null ? '–' : r.step + ' (#' + (r.step_index + 1) + ')'; } },
      { title: 'Error', cell: function (r) { var e = r.compensation_error || r.error; return e ? h('div', { class: 'cell-error', text: (e.code ? e.code + ' ' : '') + e.message }) : '–'; } },
      { title: 'Finished', cell: function (r) { return when(r.finished_at); } },
    ], runs, { empty: 'No saga run yet.', row: function (r) { return { 'data-testid': 'saga-row', 'data-id': r.id }; } }));
  },
};
`;
