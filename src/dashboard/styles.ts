/** The dashboard's stylesheet (no external fonts or images). @internal */
export const DASHBOARD_CSS = String.raw`
:root {
  --bg: #f4f6fa; --panel: #ffffff; --ink: #0f172a; --muted: #64748b; --line: #e2e8f0; --soft: #f8fafc;
  --accent: #2563eb; --accent-ink: #ffffff; --ok: #059669; --ok-bg: #ecfdf5; --warn: #b45309; --warn-bg: #fffbeb;
  --bad: #dc2626; --bad-bg: #fef2f2; --info-bg: #eff6ff; --radius: 10px;
  --shadow: 0 1px 2px rgba(15, 23, 42, .06), 0 1px 8px rgba(15, 23, 42, .04);
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif;
  font-size: 14px; color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; }
[hidden] { display: none !important; }
h1 { font-size: 20px; margin: 4px 0 6px; }
h2 { font-size: 15px; margin: 0 0 12px; display: flex; align-items: center; gap: 8px; }
.muted { color: var(--muted); margin: -4px 0 12px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }

.brand { display: flex; align-items: center; gap: 8px; font-weight: 700; font-size: 16px; letter-spacing: .2px; }
.logo { width: 18px; height: 18px; border-radius: 5px; background: linear-gradient(135deg, #2563eb, #7c3aed); display: inline-block; }
.app-name { font-weight: 500; color: var(--muted); margin-left: 4px; }

.login { min-height: 100vh; display: flex; align-items: center; justify-content: center; padding: 24px; }
.login-card { width: 360px; padding: 28px; display: flex; flex-direction: column; gap: 8px; }
.login-card label { font-weight: 600; font-size: 13px; margin-top: 4px; }
.login-card input { padding: 10px 12px; border: 1px solid var(--line); border-radius: 8px; font-size: 14px; }
.login-card input:focus { outline: 2px solid #bfdbfe; border-color: var(--accent); }
.error { color: var(--bad); background: var(--bad-bg); border-radius: 8px; padding: 8px 10px; margin: 4px 0; font-size: 13px; }

.topbar { display: flex; justify-content: space-between; align-items: center; padding: 12px 24px; background: var(--panel); border-bottom: 1px solid var(--line); }
.topbar-right { display: flex; align-items: center; gap: 12px; }
.status { font-size: 12px; color: var(--muted); display: inline-flex; align-items: center; gap: 6px; }
.status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--muted); }
.status.ok::before { background: var(--ok); }
.status.bad { color: var(--bad); }
.status.bad::before { background: var(--bad); }

.tabs { display: flex; gap: 4px; padding: 8px 24px 0; background: var(--panel); border-bottom: 1px solid var(--line); overflow-x: auto; }
.tab { border: 0; background: none; padding: 10px 14px; font: inherit; color: var(--muted); cursor: pointer; border-bottom: 2px solid transparent; white-space: nowrap; }
.tab:hover { color: var(--ink); }
.tab[aria-selected="true"] { color: var(--accent); border-bottom-color: var(--accent); font-weight: 600; }

main { padding: 20px 24px 40px; max-width: 1440px; margin: 0 auto; }
.view { display: flex; flex-direction: column; gap: 16px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: var(--radius); box-shadow: var(--shadow); padding: 16px 18px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }

.stats { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 16px; }
.stat { padding: 14px 16px; }
.stat-label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .5px; font-weight: 600; }
.stat-value { font-size: 28px; font-weight: 700; margin-top: 6px; font-variant-numeric: tabular-nums; }
.stat-sub { color: var(--muted); font-size: 12px; margin-top: 2px; }
.stat.warn .stat-value { color: var(--warn); }
.stat.bad .stat-value { color: var(--bad); }
.stat.ok .stat-value { color: var(--ok); }

.charts { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 16px; }
.chart { margin: 0; }
.chart figcaption { display: flex; justify-content: space-between; align-items: baseline; margin-bottom: 8px; }
.chart-title { font-weight: 600; }
.unit { color: var(--muted); font-size: 12px; }
.chart-svg { width: 100%; height: 200px; display: block; }
.chart-svg .grid { stroke: var(--line); stroke-width: 1; }
.chart-svg .axis { fill: var(--muted); font-size: 11px; }
.chart-svg .series { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
.chart-svg .area { opacity: .08; stroke: none; }
.chart-svg .empty { fill: var(--muted); font-size: 13px; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; margin-top: 6px; font-size: 12px; color: var(--muted); }
.legend-item { display: inline-flex; align-items: center; gap: 6px; }
.swatch { width: 16px; height: 0; border-top: 3px solid; display: inline-block; }
.swatch.dash { border-top-style: dashed; }

.table-wrap { overflow-x: auto; }
table.table { width: 100%; border-collapse: collapse; font-size: 13px; }
.table th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; padding: 8px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
.table td { padding: 8px 10px; border-bottom: 1px solid var(--line); vertical-align: middle; }
.table tbody tr:hover { background: var(--soft); }
.table tr.clickable { cursor: pointer; }
.table tr.selected { background: var(--info-bg); }
.table td.num, .table th.num { text-align: right; font-variant-numeric: tabular-nums; }
.table td.empty { text-align: center; color: var(--muted); padding: 24px; }
.table td.actions { white-space: nowrap; text-align: right; }
.cell-error { color: var(--bad); max-width: 420px; }
.value { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 1px 5px; word-break: break-all; }
.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; color: var(--muted); }
.link { color: var(--accent); cursor: pointer; text-decoration: none; background: none; border: 0; padding: 0; font: inherit; }
.link:hover { text-decoration: underline; }

.pill { display: inline-block; padding: 2px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--soft); color: var(--muted); border: 1px solid var(--line); white-space: nowrap; }
.pill.ok { background: var(--ok-bg); color: var(--ok); border-color: #a7f3d0; }
.pill.warn { background: var(--warn-bg); color: var(--warn); border-color: #fde68a; }
.pill.bad { background: var(--bad-bg); color: var(--bad); border-color: #fecaca; }
.pill.info { background: var(--info-bg); color: var(--accent); border-color: #bfdbfe; }
.count { font-size: 12px; font-weight: 600; color: var(--muted); background: var(--soft); border: 1px solid var(--line); border-radius: 999px; padding: 1px 8px; }

.btn { font: inherit; font-size: 13px; padding: 7px 12px; border-radius: 8px; border: 1px solid var(--line); background: var(--panel); color: var(--ink); cursor: pointer; }
.btn:hover { background: var(--soft); }
.btn:disabled { opacity: .5; cursor: default; }
.btn.primary { background: var(--accent); color: var(--accent-ink); border-color: var(--accent); }
.btn.primary:hover { background: #1d4ed8; }
.btn.danger { color: var(--bad); border-color: #fecaca; }
.btn.danger.confirm { background: var(--bad); color: #fff; border-color: var(--bad); }
.btn.ghost { border-color: transparent; color: var(--muted); }
.btn.small { padding: 4px 10px; font-size: 12px; }
.btn.wide { width: 100%; padding: 10px; margin-top: 8px; }
.actions .btn + .btn { margin-left: 6px; }

.filters { display: flex; flex-wrap: wrap; align-items: flex-end; gap: 12px; margin-bottom: 14px; }
.filters label { display: flex; flex-direction: column; gap: 4px; font-size: 12px; color: var(--muted); font-weight: 600; }
.filters input, .filters select { font: inherit; font-size: 13px; padding: 6px 8px; border: 1px solid var(--line); border-radius: 8px; background: var(--panel); min-width: 160px; }
.more { margin-top: 12px; text-align: center; }

.flash { position: fixed; right: 24px; bottom: 24px; padding: 10px 14px; border-radius: 8px; box-shadow: var(--shadow); background: var(--ink); color: #fff; font-size: 13px; z-index: 10; max-width: 480px; }
.flash.bad { background: var(--bad); }

.kv { display: grid; grid-template-columns: repeat(auto-fit, minmax(140px, 1fr)); gap: 10px; margin-bottom: 14px; }
.kv div { background: var(--soft); border: 1px solid var(--line); border-radius: 8px; padding: 8px 10px; }
.kv b { display: block; font-size: 18px; font-variant-numeric: tabular-nums; }
.kv span { color: var(--muted); font-size: 12px; }
.alert-item { display: flex; gap: 10px; align-items: center; padding: 8px 0; border-bottom: 1px solid var(--line); }
.alert-item:last-child { border-bottom: 0; }
.alert-time { color: var(--muted); font-size: 12px; margin-left: auto; }

@media (max-width: 1100px) { .stats { grid-template-columns: repeat(2, minmax(0, 1fr)); } .charts { grid-template-columns: 1fr; } }
`;
