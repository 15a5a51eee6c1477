/**
 * The dashboard's line charts (browser JavaScript): inline SVG, one path per series, nice y-axis
 * steps, clock-time x-axis, a legend. Fed by `GET /series`.
 * @internal
 */
export const CLIENT_CHARTS = String.raw`
var SVGNS = 'http://www.w3.org/2000/svg';
var PALETTE = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#65a30d', '#dc2626'];

function sv(tag, attrs, text) {
  var el = document.createElementNS(SVGNS, tag);
  Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
  if (text !== undefined) el.textContent = text;
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  var p = Math.pow(10, Math.floor(Math.log10(v)));
  var m = v / p;
  // Maxima whose quarters read well (0.25, 0.5, 1, 1.5, 2, 2.5 × p).
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 4 ? 4 : m <= 6 ? 6 : m <= 8 ? 8 : 10) * p;
}

function tick(v) {
  if (v === 0) return '0';
  if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
  if (v >= 10) return String(Math.round(v));
  return String(Math.round(v * 100) / 100);
}

/** Draws series [{ name, color, dash, area, points: [[t, v]] }] into svg, with its legend. */
function lineChart(svg, legend, o) {
  // Drawn at the element's own width, so text keeps its size whatever the layout.
  var W = Math.max(280, Math.round(svg.getBoundingClientRect().width) || 640), H = 200, L = 44, R = 12, T = 10, B = 26;
  clear(svg);
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  var all = [];
  o.series.forEach(function (s) { s.points.forEach(function (p) { all.push(p); }); });
  var t1 = o.now;
  var first = all.length ? Math.min.apply(null, all.map(function (p) { return p[0]; })) : t1 - 60000;
  var t0 = Math.max(first, t1 - 600000);
  if (t1 - t0 < o.minSpanMs) t1 = t0 + o.minSpanMs;
  var ymax = niceMax(Math.max.apply(null, [0].concat(all.map(function (p) { return p[1]; }))) * 1.05);
  var x = function (t) { return L + ((t - t0) / (t1 - t0)) * (W - L - R); };
  var y = function (v) { return T + (1 - v / ymax) * (H - T - B); };
  for (var i = 0; i <= 4; i++) {
    var v = (ymax * i) / 4;
    svg.appendChild(sv('line', { class: 'grid', x1: L, x2: W - R, y1: y(v), y2: y(v) }));
    svg.appendChild(sv('text', { class: 'axis', x: L - 8, y: y(v) + 4, 'text-anchor': 'end' }, tick(v)));
  }
  for (var j = 0; j <= 4; j++) {
    var t = t0 + ((t1 - t0) * j) / 4;
    svg.appendChild(sv('text', { class: 'axis', x: x(t), y: H - 8, 'text-anchor': j === 0 ? 'start' : j === 4 ? 'end' : 'middle' }, clock(t)));
  }
  if (all.length === 0) svg.appendChild(sv('text', { class: 'empty', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, o.empty || 'No data yet'));
  o.series.forEach(function (s) {
    var pts = s.points.slice().sort(function (a, b) { return a[0] - b[0]; });
    if (pts.length === 0) return;
    var d = pts.map(function (p, k) { return (k ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1); }).join(' ');
    if (s.area && pts.length > 1) {
      var base = y(0).toFixed(1);
      svg.appendChild(sv('path', { class: 'area', fill: s.color, d: d + ' L' + x(pts[pts.length - 1][0]).toFixed(1) + ' ' + base + ' L' + x(pts[0][0]).toFixed(1) + ' ' + base + ' Z' }));
    }
    svg.appendChild(sv('path', { class: 'series', d: d, stroke: s.color, 'stroke-dasharray': s.dash ? '5 4' : 'none', 'data-series': s.name, 'data-points': pts.length }));
    var last = pts[pts.length - 1];
    svg.appendChild(sv('circle', { class: 'dot', cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1), r: 3, fill: s.color }));
  });
  clear(legend);
  o.series.forEach(function (s) {
    var swatch = h('span', { class: 'swatch' + (s.dash ? ' dash' : '') });
    swatch.style.borderTopColor = s.color; // CSSOM, not a style attribute: allowed by the CSP
    append(legend, h('span', { class: 'legend-item' }, [swatch, s.name]));
  });
}

/** Throughput, errors and latency per system from a GET /series answer. */
function drawTraffic(data) {
  var systems = Array.from(new Set(data.points.map(function (p) { return p.system; }))).sort();
  var tp = [], er = [], lat = [];
  systems.forEach(function (sys, i) {
    var color = PALETTE[i % PALETTE.length];
    var pts = data.points.filter(function (p) { return p.system === sys; });
    // The current bucket is partial: its rate is over the time elapsed in it.
    var secs = function (p) { return Math.max(1000, Math.min(data.bucket_ms, data.now - p.t)) / 1000; };
    tp.push({ name: sys, color: color, area: true, points: pts.map(function (p) { return [p.t, p.requests / secs(p)]; }) });
    er.push({ name: sys, color: color, points: pts.map(function (p) { return [p.t, p.errors / secs(p)]; }) });
    lat.push({ name: sys + ' p95', color: color, points: pts.filter(function (p) { return p.p95_ms !== null; }).map(function (p) { return [p.t, p.p95_ms]; }) });
    lat.push({ name: sys + ' p50', color: color, dash: true, points: pts.filter(function (p) { return p.p50_ms !== null; }).map(function (p) { return [p.t, p.p50_ms]; }) });
  });
  lineChart($('chart-throughput'), $('legend-throughput'), { series: tp, now: data.now, minSpanMs: 4 * data.bucket_ms, empty: 'No outbound traffic yet' });
  lineChart($('chart-errors'), $('legend-errors'), { series: er, now: data.now, minSpanMs: 4 * data.bucket_ms, empty: 'No outbound traffic yet' });
  lineChart($('chart-latency'), $('legend-latency'), { series: lat, now: data.now, minSpanMs: 4 * data.bucket_ms, empty: 'No outbound traffic yet' });
}
`;
