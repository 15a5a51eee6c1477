/**
 * The dashboard's sync views (browser JavaScript): Audit search, Conflicts, Escalations (resolve),
 * Reconciliations (start, reports).
 * @internal
 */
export const CLIENT_SYNC = String.raw`
var AUDIT = { before: null, rows: [] };

function outcomeTone(o) { return o === 'ok' ? 'ok' : o === 'duplicate_ignored' ? 'info' : o === 'http_error' ? 'warn' : 'bad'; }

function auditQuery() {
  var q = new URLSearchParams({ order: 'desc', limit: '50' });
  [['system', 'audit-system'], ['outcome', 'audit-outcome'], ['correlation_id', 'audit-correlation'], ['request_id', 'audit-request']].forEach(function (p) {
    var v = $(p[1]).value.trim();
    if (v) q.set(p[0], v);
  });
  if (AUDIT.before !== null) q.set('before', String(AUDIT.before));
  return q;
}

function renderAudit() {
  var filter = function (id, v) { return h('button', { type: 'button', class: 'link', text: v, title: 'Search for ' + v, onclick: function () { $(id).value = v; searchAudit(); } }); };
  put('audit-table', table([
    { title: 'Seq', cls: 'num', cell: function (e) { return String(e.seq); } },
    { title: 'Time', cell: function (e) { return when(e.ts); } },
    { title: 'Dir', cell: function (e) { return e.direction === 'outbound' ? '→ out' : '← in'; } },
    { title: 'System', cell: function (e) { return h('b', { text: e.system }); } },
    { title: 'Request', cell: function (e) { return h('span', { class: 'mono', text: e.method + ' ' + e.path }); } },
    { title: 'Status', cls: 'num', cell: function (e) { return e.status === null ? '–' : String(e.status); } },
    { title: 'Outcome', cell: function (e) { return pill(e.outcome, outcomeTone(e.outcome)); } },
    { title: 'Attempt', cls: 'num', cell: function (e) { return String(e.attempt); } },
    { title: 'Duration', cls: 'num', cell: function (e) { return duration(e.duration_ms); } },
    { title: 'Request id', cell: function (e) { return filter('audit-request', e.request_id); } },
    { title: 'Correlation', cell: function (e) { return e.correlation_id ? filter('audit-correlation', e.correlation_id) : '–'; } },
  ], AUDIT.rows, { empty: 'No audit entry matches.', row: function (e) { return { 'data-testid': 'audit-row', 'data-seq': e.seq }; } }));
}

async function loadAudit(more) {
  if (!more) { AUDIT.before = null; AUDIT.rows = []; }
  var out = await api('/audit?' + auditQuery().toString());
  AUDIT.rows = AUDIT.rows.concat(out.entries);
  AUDIT.before = out.next;
  $('audit-more').hidden = out.entries.length < 50;
  renderAudit();
}

function searchAudit() { loadAudit(false).catch(function (e) { if (e.message !== 'unauthorized') flash(e.message, 'bad'); }); }

VIEWS.audit = {
  auto: false,
  init: function () {
    $('audit-form').addEventListener('submit', function (ev) { ev.preventDefault(); searchAudit(); });
    $('audit-reset').addEventListener('click', function () { $('audit-form').reset(); searchAudit(); });
    $('audit-more').addEventListener('click', function () { loadAudit(true).catch(function (e) { flash(e.message, 'bad'); }); });
  },
  enter: function () {
    api('/connections').then(function (list) {
      var sel = $('audit-system');
      var have = Array.from(sel.options).map(function (o) { return o.value; });
      list.forEach(function (c) { if (have.indexOf(c.name) < 0) sel.appendChild(h('option', { value: c.name, text: c.name })); });
    }, function () {});
  },
  load: function () { return loadAudit(false); },
};

function sidesOf(row) {
  var s = S.syncs.filter(function (x) { return x.name === row.sync; })[0];
  return s ? s.sides : S.sides;
}

VIEWS.conflicts = {
  auto: true,
  load: async function () {
    var list = await api('/conflicts?limit=200');
    if (!changed('conflicts', list)) return;
    var L = label(S.sides.left), R = label(S.sides.right);
    var side = function (c, which, suffix) { return c[sidesOf(c)[which] + suffix]; };
    put('conflicts-table', table([
      { title: 'Detected', cell: function (c) { return when(c.detected_at); } },
      { title: 'Field', cell: function (c) { return h('b', { text: c.field }); } },
      { title: L + ' value', cell: function (c) { return value(side(c, 'left', '_value')); } },
      { title: R + ' value', cell: function (c) { return value(side(c, 'right', '_value')); } },
      { title: 'Baseline', cell: function (c) { return value(c.baseline); } },
      { title: 'Resolution', cell: function (c) { return pill(c.resolution === 'escalated' ? 'escalated' : 'by policy', c.resolution === 'escalated' ? 'warn' : 'ok'); } },
      { title: 'Policy', cell: function (c) { return h('span', { class: 'mono', text: c.policy }); } },
      { title: 'Final value', cell: function (c) { return 'final_value' in c ? value(c.final_value) : '–'; } },
      { title: L + ' id', cell: function (c) { return idText(side(c, 'left', '_id')); } },
      { title: R + ' id', cell: function (c) { return idText(side(c, 'right', '_id')); } },
    ], list, { empty: 'No conflict recorded.', row: function (c) { return { 'data-testid': 'conflict-row', 'data-id': c.id }; } }));
  },
};

function decision(r) {
  if (!r || !r.choose) return '';
  if (r.choose === 'value') return 'set ' + shown(r.value);
  if (r.choose === 'dismiss') return 'closed';
  return 'kept ' + label(r.choose);
}

VIEWS.escalations = {
  auto: true,
  init: function () { $('esc-state').addEventListener('change', function () { refresh(true); }); },
  load: async function () {
    var state = $('esc-state').value;
    var list = await api('/escalations' + (state ? '?state=' + state : ''));
    if (!changed('escalations:' + state, list)) return;
    var L = label(S.sides.left), R = label(S.sides.right);
    var side = function (e, which, suffix) { return e[sidesOf(e)[which] + suffix]; };
    put('escalations-table', table([
      { title: 'Created', cell: function (e) { return when(e.created_at); } },
      { title: 'Kind', cell: function (e) { return pill(e.kind, 'warn'); } },
      { title: 'Field', cell: function (e) { return e.field ? h('b', { text: e.field }) : 'whole record'; } },
      { title: L + ' value', cell: function (e) { var v = side(e, 'left', '_value'); return v === undefined ? '–' : value(v); } },
      { title: R + ' value', cell: function (e) { var v = side(e, 'right', '_value'); return v === undefined ? '–' : value(v); } },
      { title: L + ' id', cell: function (e) { return idText(side(e, 'left', '_id')); } },
      { title: R + ' id', cell: function (e) { return idText(side(e, 'right', '_id')); } },
      { title: 'State', cell: function (e) { return e.state === 'open' ? pill('open', 'warn') : [pill('resolved', 'ok'), ' ', decision(e.resolution)]; } },
      { title: '', cls: 'actions', cell: function (e) {
        if (e.state !== 'open') return when(e.resolved_at);
        var sd = sidesOf(e), id = encodeURIComponent(e.id);
        var resolve = function (name) { return function () { act('/escalations/' + id + '/resolve', { choose: name }, 'Resolved ' + e.kind + ': ' + decision({ choose: name })); }; };
        // A whole-record escalation (remote deleted, identity collision): closing it retires the link.
        if (!e.field) return h('button', { type: 'button', class: 'btn small', 'data-testid': 'resolve-dismiss', text: 'Close (retire link)', onclick: resolve('dismiss') });
        return [
          h('button', { type: 'button', class: 'btn small', 'data-testid': 'resolve-' + sd.left, text: 'Keep ' + label(sd.left), onclick: resolve(sd.left) }),
          h('button', { type: 'button', class: 'btn small', 'data-testid': 'resolve-' + sd.right, text: 'Keep ' + label(sd.right), onclick: resolve(sd.right) }),
        ];
      } },
    ], list, { empty: state === 'open' ? 'No open escalation: nothing waits for a decision.' : 'No escalation.', row: function (e) { return { 'data-testid': 'escalation-row', 'data-id': e.id, 'data-state': e.state }; } }));
  },
};

var RECON = { selected: null };

function reportView(r) {
  var sd = sidesOf(r);
  var kv = function (n, l) { return h('div', null, [h('b', { text: String(n) }), h('span', { text: l })]); };
  var diffs = Object.keys(r.diffs_by_class).map(function (k) { return kv(r.diffs_by_class[k], k.replace(/_/g, ' ')); });
  return [
    h('h2', null, ['Report', h('span', { class: 'id', text: r.id }), pill(r.mode === 'apply' ? 'apply' : 'dry run', 'info'), pill(r.state, r.state === 'done' ? 'ok' : r.state === 'running' ? 'info' : 'bad')]),
    r.error ? h('p', { class: 'error', text: r.error }) : null,
    h('div', { class: 'kv' }, [kv(r.compared, 'compared'), kv(r.in_sync, 'in sync'), kv(r.repairs.attempted, 'repairs attempted'), kv(r.repairs.succeeded, 'repairs succeeded'), kv(r.repairs.failed, 'repairs failed'), kv(r.escalations_raised, 'escalations raised'), kv(r.api_calls[sd.left], label(sd.left) + ' calls'), kv(r.api_calls[sd.right], label(sd.right) + ' calls')]),
    h('div', { class: 'kv' }, diffs),
    table([
      { title: 'Class', cell: function (i) { return pill(i.class.replace(/_/g, ' ')); } },
      { title: label(sd.left) + ' id', cell: function (i) { return idText(i[sd.left + '_id']); } },
      { title: label(sd.right) + ' id', cell: function (i) { return idText(i[sd.right + '_id']); } },
      { title: 'Field', cell: function (i) { return i.field || '–'; } },
      { title: 'Action', cell: function (i) { return h('span', { class: 'mono', text: i.action }); } },
    ], r.items, { empty: 'No difference found.' }),
  ];
}

async function startReconciliation(mode) {
  var body = { mode: mode };
  if (!$('recon-sync-label').hidden) body.sync = $('recon-sync').value;
  var out = await act('/reconciliations', body, (mode === 'apply' ? 'Apply' : 'Dry run') + ' started');
  if (out) { RECON.selected = out.id; S.seen = {}; refresh(true); }
}

VIEWS.reconciliations = {
  auto: true,
  init: function () {
    $('recon-dry-run').addEventListener('click', function () { startReconciliation('dry_run'); });
    $('recon-apply').addEventListener('click', function () { startReconciliation('apply'); });
  },
  enter: function () {
    var sel = clear($('recon-sync'));
    S.syncs.forEach(function (s) { sel.appendChild(h('option', { value: s.name, text: s.name })); });
    $('recon-sync-label').hidden = S.syncs.length < 2;
  },
  load: async function () {
    var runs = await api('/reconciliations');
    if (RECON.selected === null && runs.length > 0) RECON.selected = runs[0].id;
    if (changed('recon-list:' + RECON.selected, runs)) {
      put('recon-table', table([
        { title: 'Started', cell: function (r) { return when(r.started_at); } },
        { title: 'Sync', cell: function (r) { return r.sync; } },
        { title: 'Mode', cell: function (r) { return r.mode === 'apply' ? 'apply' : 'dry run'; } },
        { title: 'Trigger', cell: function (r) { return r.trigger; } },
        { title: 'State', cell: function (r) { return pill(r.state, r.state === 'done' ? 'ok' : r.state === 'running' ? 'info' : 'bad'); } },
        { title: 'Compared', cls: 'num', cell: function (r) { return String(r.compared); } },
        { title: 'Findings', cls: 'num', cell: function (r) { return String(r.findings); } },
        { title: 'Repairs', cls: 'num', cell: function (r) { return r.repairs.succeeded + ' / ' + r.repairs.attempted; } },
        { title: 'Finished', cell: function (r) { return when(r.finished_at); } },
      ], runs, { empty: 'No reconciliation yet: start a dry run to compare both systems.', row: function (r) {
        return { class: 'clickable' + (r.id === RECON.selected ? ' selected' : ''), 'data-testid': 'recon-row', 'data-id': r.id, 'data-state': r.state, onclick: function () { RECON.selected = r.id; S.seen = {}; refresh(true); } };
      } }));
    }
    var box = $('recon-report');
    if (RECON.selected === null) { box.hidden = true; return; }
    var report = await api('/reconciliations/' + encodeURIComponent(RECON.selected));
    box.hidden = false;
    if (changed('recon-report', report)) put('recon-report', reportView(report));
  },
};
`;
