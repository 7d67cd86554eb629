//! The page's fixed parts: its style sheet and the few lines of script that sort tables.

pub(super) const CSS: &str = r#"
:root { --ink:#222; --muted:#666; --line:#e3e3e3; --pass:#2e7d4f; --fail:#c0392b; --invalid:#b7791f; --interrupted:#5f6b7a; --bg:#fafafa; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color:var(--ink); background:var(--bg); }
main { max-width: 1080px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.banner { border-radius: 8px; padding: 16px 20px; color: #fff; margin-bottom: 20px; }
.banner.pass { background: var(--pass); } .banner.fail { background: var(--fail); }
.banner.invalid { background: var(--invalid); } .banner.interrupted { background: var(--interrupted); }
.banner .verdict { font-size: 28px; font-weight: 700; letter-spacing: .04em; }
.banner .scenario { font-size: 16px; opacity: .95; margin-left: 12px; }
.banner ul { margin: 8px 0 0; padding-left: 20px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 16px 0; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.kpi .v { font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.kpi .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .05em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; background: #fff; font-size: 14px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-dir=asc]::after { content: " ▲"; font-size: 10px; }
table.sortable th[data-dir=desc]::after { content: " ▼"; font-size: 10px; }
.ok { color: var(--pass); font-weight: 600; } .bad { color: var(--fail); font-weight: 600; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 6px; margin: 12px 0; padding: 4px; }
.chart svg { width: 100%; height: auto; display: block; }
.note, .muted { color: var(--muted); }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
.wrap { overflow-x: auto; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
@media print {
  body { background: #fff; font-size: 12px; } main { max-width: none; padding: 0; }
  .chart, table, .banner, .kpis { break-inside: avoid; }
  .banner { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; }
}
"#;

/// Sorts a table by the clicked column (numbers by `data-v` or their text). Marks the page
/// as ready, so a test can tell the script ran without error.
pub(super) const SCRIPT: &str = r#"
document.querySelectorAll('table.sortable').forEach(function (t) {
  t.querySelectorAll('th').forEach(function (th, i) {
    th.addEventListener('click', function () {
      var body = t.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var dir = th.dataset.dir === 'asc' ? 'desc' : 'asc';
      t.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir;
      var key = function (r) { var c = r.cells[i], v = c.dataset.v !== undefined ? c.dataset.v : c.textContent, n = parseFloat(v); return isNaN(n) ? v : n; };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return dir === 'asc' ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
// Each time chart is drawn again by the chart script, with hover values and zoom; the
// static SVG stays where the script cannot run (print, a viewer without script).
document.querySelectorAll('.lc-live').forEach(function (h) {
  try {
    var spec = JSON.parse(h.getAttribute('data-chart'));
    h.textContent = '';
    LC.chart(h, spec);
  } catch (e) { /* the static chart stays */ }
});
document.documentElement.setAttribute('data-ready', '1');
"#;
