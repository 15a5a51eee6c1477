/**
 * The dashboard script's core (browser JavaScript, no framework): DOM helpers, the admin API client
 * (Bearer token kept in sessionStorage), sign-in, tabs and the 2-second refresh. Views register in
 * `VIEWS`. Everything from the API is written with `textContent`, never as HTML.
 * @internal
 */
export const CLIENT_CORE = String.raw`
var TOKEN_KEY = 'weir.admin.token';
var REFRESH_MS = 2000;
var S = { token: null, tab: 'overview', sides: { left: 'left', right: 'right' }, syncs: [], seen: {}, timer: 0, busy: false, flashTimer: 0 };
var VIEWS = {};

function $(id) { return document.getElementById(id); }

function append(el, children) {
  if (children === undefined || children === null || children === false) return el;
  if (!Array.isArray(children)) children = [children];
  children.forEach(function (c) {
    if (c === undefined || c === null || c === false) return;
    el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  });
  return el;
}

/** Builds an element: props 'text', 'class', 'on<event>' handlers, other attributes. */
function h(tag, props, children) {
  var el = document.createElement(tag);
  if (props) Object.keys(props).forEach(function (k) {
    var v = props[k];
    if (v === undefined || v === null || v === false) return;
    if (k === 'text') el.textContent = String(v);
    else if (k === 'class') el.className = v;
    else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  });
  return append(el, children);
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
function put(id, node) { append(clear($(id)), node); }

/** True when data differs from what was last rendered under key (so tables are rebuilt only on change). */
function changed(key, data) {
  var s = JSON.stringify(data);
  if (S.seen[key] === s) return false;
  S.seen[key] = s;
  return true;
}

function pad(n) { return (n < 10 ? '0' : '') + n; }
function toMs(t) { return typeof t === 'number' ? t : Date.parse(t); }
function clock(t) { var d = new Date(toMs(t)); return pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()); }
function when(t) {
  if (t === null || t === undefined) return '–';
  var d = new Date(toMs(t));
  var today = new Date();
  var day = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
  return (d.toDateString() === today.toDateString() ? '' : day + ' ') + clock(d.getTime());
}
function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + ' s';
  if (ms < 3600000) return Math.round(ms / 60000) + ' min';
  return (ms / 3600000).toFixed(1) + ' h';
}
function shown(v) { return typeof v === 'string' ? v : JSON.stringify(v === undefined ? null : v); }
function value(v) { return h('span', { class: 'value', text: shown(v) }); }
function idText(v) { return v === null || v === undefined ? '–' : h('span', { class: 'id', text: v, title: v }); }
function pill(text, tone) { return h('span', { class: 'pill' + (tone ? ' ' + tone : ''), text: text }); }
function label(side) { return side.length <= 4 ? side.toUpperCase() : side.charAt(0).toUpperCase() + side.slice(1); }

/** A table: columns [{ title, cell(row), cls }], opts { empty, row(row) → props }. */
function table(columns, rows, opts) {
  opts = opts || {};
  var head = h('tr', null, columns.map(function (c) { return h('th', { class: c.cls, text: c.title }); }));
  var body = rows.length === 0
    ? [h('tr', null, h('td', { class: 'empty', colspan: columns.length, text: opts.empty || 'Nothing to show.' }))]
    : rows.map(function (r) {
        return h('tr', opts.row ? opts.row(r) : null, columns.map(function (c) { return h('td', { class: c.cls }, c.cell(r)); }));
      });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table' }, [h('thead', null, head), h('tbody', null, body)]));
}

async function api(path, method, body) {
  var init = { method: method || 'GET', headers: { authorization: 'Bearer ' + S.token }, cache: 'no-store' };
  if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
  var res = await fetch(path, init);
  var data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) { signOut('The admin token is no longer accepted. Sign in again.'); throw new Error('unauthorized'); }
  if (!res.ok) throw new Error((data && data.detail) || ('HTTP ' + res.status));
  return data;
}

function flash(message, tone) {
  var el = $('flash');
  el.textContent = message;
  el.className = 'flash' + (tone === 'bad' ? ' bad' : '');
  el.hidden = false;
  clearTimeout(S.flashTimer);
  S.flashTimer = setTimeout(function () { el.hidden = true; }, 4000);
}

/** Runs a POST action, reports it, and refreshes the current view. */
async function act(path, body, done) {
  try {
    var out = await api(path, 'POST', body === undefined ? {} : body);
    flash(done);
    S.seen = {};
    await refresh(true);
    return out;
  } catch (e) {
    if (e.message !== 'unauthorized') flash(e.message, 'bad');
    return null;
  }
}

/** A destructive button: the first click asks, the second acts. */
function confirmButton(text, props, run) {
  var armed = false;
  var b = h('button', Object.assign({ type: 'button', class: 'btn small danger', text: text }, props));
  b.addEventListener('click', function () {
    if (!armed) { armed = true; b.textContent = 'Confirm'; b.classList.add('confirm'); setTimeout(function () { armed = false; b.textContent = text; b.classList.remove('confirm'); }, 4000); return; }
    b.disabled = true;
    run();
  });
  return b;
}

function setStatus(ok, text) {
  var el = $('status');
  el.className = 'status ' + (ok ? 'ok' : 'bad');
  el.textContent = text;
}

async function refresh(force) {
  if (S.busy && !force) return;
  var view = VIEWS[S.tab];
  if (!view || !S.token) return;
  S.busy = true;
  try {
    await view.load();
    setStatus(true, 'Live · updated ' + clock(Date.now()));
  } catch (e) {
    if (e.message !== 'unauthorized') setStatus(false, 'Error: ' + e.message);
  } finally {
    S.busy = false;
  }
}

function show(tab) {
  if (!VIEWS[tab]) tab = 'overview';
  S.tab = tab;
  $('flash').hidden = true;
  document.querySelectorAll('[data-tab]').forEach(function (b) { b.setAttribute('aria-selected', String(b.getAttribute('data-tab') === tab)); });
  document.querySelectorAll('[data-view]').forEach(function (v) { v.hidden = v.getAttribute('data-view') !== tab; });
  if (location.hash !== '#' + tab) history.replaceState(null, '', '#' + tab);
  if (VIEWS[tab].enter) VIEWS[tab].enter();
  refresh(true);
}

async function tokenWorks(token) {
  var res = await fetch('/overview', { headers: { authorization: 'Bearer ' + token }, cache: 'no-store' });
  if (res.status === 401) return false;
  if (!res.ok) throw new Error('the admin API answered HTTP ' + res.status);
  return true;
}

async function start() {
  $('login').hidden = true;
  $('app').hidden = false;
  S.seen = {};
  try {
    S.syncs = await api('/syncs');
    if (S.syncs.length > 0) S.sides = S.syncs[0].sides;
  } catch (e) { S.syncs = []; }
  show((location.hash || '#overview').slice(1));
  clearInterval(S.timer);
  S.timer = setInterval(function () { if (!document.hidden && VIEWS[S.tab] && VIEWS[S.tab].auto) refresh(false); }, REFRESH_MS);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  S.token = null;
  clearInterval(S.timer);
  $('app').hidden = true;
  $('login').hidden = false;
  var err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('token').value = '';
  $('token').focus();
}

async function signIn(event) {
  event.preventDefault();
  var token = $('token').value.trim();
  var err = $('login-error');
  var button = $('login-submit');
  if (token === '') { err.textContent = 'Enter the admin token.'; err.hidden = false; return; }
  button.disabled = true;
  try {
    if (!(await tokenWorks(token))) {
      err.textContent = 'Wrong token: the admin API refused it.';
      err.hidden = false;
      $('token').select();
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    S.token = token;
    err.hidden = true;
    await start();
  } catch (e) {
    err.textContent = 'The admin API did not answer: ' + e.message;
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
}

function boot() {
  $('login-form').addEventListener('submit', signIn);
  $('logout').addEventListener('click', function () { signOut(''); });
  document.querySelectorAll('[data-tab]').forEach(function (b) { b.addEventListener('click', function () { show(b.getAttribute('data-tab')); }); });
  Object.keys(VIEWS).forEach(function (k) { if (VIEWS[k].init) VIEWS[k].init(); });
  var saved = sessionStorage.getItem(TOKEN_KEY);
  if (!saved) return signOut('');
  tokenWorks(saved).then(function (ok) {
    if (!ok) return signOut('The saved admin token is no longer accepted. Sign in again.');
    S.token = saved;
    start();
  }, function (e) { signOut('The admin API did not answer: ' + e.message); });
}
`;
