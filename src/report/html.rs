//! `report.html`: one self-contained page per run: CSS inlined, charts inlined as SVG
//! (see [`super::charts`]), a few lines of script for sortable tables, and no network
//! access of any kind, so it opens offline, as a CI artifact or attached to a mail.
//!
//! Top to bottom, in the order a reviewer asks: did it pass and why not (banner), what ran
//! (facts), the SLOs, the charts, verification, the per-request table, the baseline
//! comparison. [`Extensions`] is where later capabilities add to the page (the Kubernetes
//! watcher puts replicas over time under the RPS chart) without this module knowing them.

use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;

use super::charts::{palette, spectrum_chart, time_chart, Bands, Line};
use super::hlog::Planned;
use super::summary::{Status, Summary};
use super::{esc, write_atomic};
use crate::metrics::aggregate::SeriesRow;
use crate::metrics::{ms, ErrorKind};

/// A piece of page another module contributes.
#[derive(Debug, Clone, Default)]
pub struct Fragment {
    pub title: String,
    /// Trusted HTML (an inline SVG chart, a table).
    pub html: String,
}

/// Where other capabilities extend the page.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// Shown right under the RPS chart, on the same time axis: Kubernetes replicas over time.
    pub under_rps: Vec<Fragment>,
    /// Sections after the charts (delivery latency and loss of a chat run, and the like).
    pub sections: Vec<Fragment>,
}

/// What the page is made from: all of it is in `summary.json` and `histograms.hlog`.
pub struct ReportData<'a> {
    pub summary: &'a Summary,
    pub series: &'a [SeriesRow],
    pub planned: &'a Planned,
    /// Latency of the measured window, all requests, and per request name.
    pub latency: &'a Histogram<u64>,
    pub endpoint_latency: Vec<&'a Histogram<u64>>,
    pub extensions: Extensions,
}

const CSS: &str = r#"
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
const SCRIPT: &str = r#"
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
document.documentElement.setAttribute('data-ready', '1');
"#;

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

fn pct(v: f64) -> String {
    format!("{:.3}%", v * 100.0)
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Invalid => "invalid",
        Status::Interrupted => "interrupted",
    }
}

pub fn render(d: &ReportData<'_>) -> String {
    let s = d.summary;
    let mut o = String::with_capacity(256 * 1024);
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · {} · loadctl</title>
<style>{CSS}</style></head><body><main>
"#,
        esc(&s.scenario),
        s.status.label()
    );
    banner(&mut o, s);
    facts(&mut o, s);
    slo_table(&mut o, s);
    charts(&mut o, d);
    if let Some(k) = &s.kube {
        let f = super::kube::section(k);
        let _ = write!(o, "<h2>{}</h2>\n{}\n", esc(&f.title), f.html);
    }
    for f in &d.extensions.sections {
        let _ = write!(o, "<h2>{}</h2>\n{}\n", esc(&f.title), f.html);
    }
    websocket(&mut o, s);
    verification(&mut o, s);
    endpoints(&mut o, s);
    baseline(&mut o, s);
    let _ = write!(
        o,
        r#"<footer>loadctl {} · files beside this one: <code>summary.json</code>, <code>summary.csv</code>, <code>timeseries.csv</code>, <code>histograms.hlog</code>, <code>junit.xml</code> · <code>loadctl report DIR</code> re-renders them</footer>
</main><script>{SCRIPT}</script></body></html>
"#,
        esc(&s.loadctl_version)
    );
    o
}

fn banner(o: &mut String, s: &Summary) {
    let _ = write!(
        o,
        r#"<section class="banner {}" id="verdict"><span class="verdict">{}</span><span class="scenario">{}</span>"#,
        status_class(s.status),
        s.status.label(),
        esc(&s.scenario)
    );
    if s.reasons.is_empty() {
        let met = s.slo.len();
        let checks = s.verify.len();
        let _ = write!(
            o,
            "<ul><li>{met} SLO{} met{}; the generator held the planned load.</li></ul>",
            if met == 1 { "" } else { "s" },
            if checks > 0 {
                format!(
                    ", {checks} verification check{} passed",
                    if checks == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    } else {
        o.push_str("<ul>");
        for r in &s.reasons {
            let _ = write!(o, "<li>{}</li>", esc(r));
        }
        o.push_str("</ul>");
    }
    o.push_str("</section>\n");
}

fn kpi(o: &mut String, k: &str, v: &str) {
    let _ = write!(
        o,
        r#"<div class="kpi"><div class="v">{}</div><div class="k">{}</div></div>"#,
        esc(v),
        esc(k)
    );
}

fn facts(o: &mut String, s: &Summary) {
    let t = &s.totals;
    o.push_str(r#"<div class="kpis">"#);
    kpi(o, "requests", &t.requests.to_string());
    kpi(o, "req/s", &format!("{:.1}", t.rps));
    kpi(o, "p99", &format!("{:.2} ms", s.latency_ms.p99));
    kpi(o, "error rate", &pct(t.error_rate));
    kpi(o, "availability", &pct(t.availability));
    kpi(o, "dropped", &t.dropped.to_string());
    o.push_str("</div>\n<h2>Run</h2>\n<dl class=\"facts\">");
    let l = &s.load;
    let plan = match l.model.as_str() {
        "connections" => format!(
            "connections model: {} WebSocket connections at {:.0}/s, then held",
            l.connections.unwrap_or(0),
            l.peak_rate.unwrap_or(0.0)
        ),
        "open" => format!(
            "open model, peak {:.0}/s{}, up to {} connections, {} in flight",
            l.peak_rate.unwrap_or(0.0),
            l.planned_requests
                .map_or(String::new(), |n| format!(", {n} planned in the window")),
            l.connections.unwrap_or(0),
            l.max_in_flight.unwrap_or(0)
        ),
        _ => format!(
            "closed model, {} virtual users{}{}",
            l.vus.unwrap_or(0),
            l.iterations
                .map_or(String::new(), |n| format!(", {n} iterations")),
            l.think_time_ms
                .filter(|t| *t > 0.0)
                .map_or(String::new(), |t| format!(", think time {t:.0} ms"))
        ),
    };
    let facts = [
        ("scenario", format!("{} — {}", s.scenario, s.description)),
        ("target", s.target.clone()),
        ("started", s.started_at.clone()),
        (
            "duration",
            format!("{:.1} s measured + {:.1} s warmup", s.duration_s, s.warmup_s),
        ),
        ("load", plan),
        ("timeout", format!("{:.0} ms", l.timeout_ms)),
        (
            "generator",
            format!(
                "{} threads · send lag p99 {:.3} ms (max {:.3}) · queue wait p99 {:.3} ms · peak in flight {}",
                s.generator.threads,
                s.generator.send_lag_p99_ms,
                s.generator.send_lag_max_ms,
                s.generator.queue_wait_p99_ms,
                s.generator.peak_in_flight
            ),
        ),
        ("loadctl", s.loadctl_version.clone()),
    ];
    for (k, v) in facts {
        let _ = write!(o, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    for n in &s.notes {
        let _ = write!(o, "<dt>note</dt><dd>{}</dd>", esc(n));
    }
    o.push_str("</dl>\n");
}

fn slo_table(o: &mut String, s: &Summary) {
    o.push_str("<h2>SLOs</h2>\n");
    if s.slo.is_empty() {
        o.push_str(
            r#"<p class="muted">No SLOs: the run passes when at least one request succeeds.</p>"#,
        );
        return;
    }
    o.push_str(r#"<table id="slo"><thead><tr><th>objective</th><th>scope</th><th class="n">threshold</th><th class="n">observed</th><th>result</th></tr></thead><tbody>"#);
    for r in &s.slo {
        let observed = r
            .observed
            .map_or("no data".into(), |v| format!("{v:.3} {}", r.unit));
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td></tr>"#,
            esc(&r.metric),
            esc(r.scope.as_deref().unwrap_or("all")),
            esc(&r.threshold),
            esc(&observed),
            if r.pass { "ok" } else { "bad" },
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    o.push_str("</tbody></table>\n");
}

fn chart(o: &mut String, svg: &str) {
    let _ = write!(o, r#"<div class="chart">{svg}</div>"#);
}

fn charts(o: &mut String, d: &ReportData<'_>) {
    let s = d.summary;
    let w = &Bands {
        warmup_s: s.warmup_s,
        faults: s.kube.as_ref().map(|k| k.windows()).unwrap_or_default(),
    };
    let x = |idx: i64| idx as f64 + w.warmup_s;
    o.push_str("<h2>Over time</h2>\n");

    let flow = !s.load.flow_steps.is_empty();
    let chat = s.load.model == "connections";
    let mut rps = if flow || chat {
        // Planned counts iterations; show each step's completions beside it.
        s.endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Line {
                label: format!("{} completed/s", e.name),
                color: palette::CYCLE[i % palette::CYCLE.len()],
                points: d
                    .series
                    .iter()
                    .map(|r| {
                        (
                            x(r.idx),
                            r.endpoints.get(i).map_or(0, |e| e.requests) as f64,
                        )
                    })
                    .collect(),
                dashed: false,
            })
            .collect()
    } else {
        vec![Line {
            label: "achieved (completed/s)".into(),
            color: palette::BLUE,
            points: d
                .series
                .iter()
                .map(|r| (x(r.idx), r.all.requests as f64))
                .collect(),
            dashed: false,
        }]
    };
    if !d.planned.is_empty() {
        rps.insert(
            0,
            Line {
                label: if flow {
                    "planned iterations/s"
                } else {
                    "planned"
                }
                .into(),
                color: palette::GREY,
                points: d.planned.iter().map(|&(i, n)| (x(i), n)).collect(),
                dashed: true,
            },
        );
    }
    chart(
        o,
        &time_chart(
            if chat {
                "Connections opened and messages published and delivered per second"
            } else if flow {
                "Iterations planned and steps completed per second"
            } else {
                "Requests per second: planned and achieved"
            },
            "per second",
            w,
            &rps,
        ),
    );
    if let Some(k) = &s.kube {
        let end = d
            .series
            .last()
            .map_or(s.warmup_s + s.duration_s, |r| x(r.idx) + 1.0);
        let f = super::kube::replicas_chart(k, w, end);
        let _ = write!(
            o,
            r#"<div class="chart" title="{}">{}</div>"#,
            esc(&f.title),
            f.html
        );
    }
    for f in &d.extensions.under_rps {
        let _ = write!(
            o,
            r#"<div class="chart" title="{}">{}</div>"#,
            esc(&f.title),
            f.html
        );
    }

    let pick = |f: fn(&SeriesRow) -> Option<f64>| -> Vec<(f64, f64)> {
        d.series
            .iter()
            .filter_map(|r| f(r).map(|v| (x(r.idx), v)))
            .collect()
    };
    let mut lat = vec![
        Line {
            label: "p50".into(),
            color: palette::GREEN,
            points: pick(|r| r.all.p50_ms),
            dashed: false,
        },
        Line {
            label: "p95".into(),
            color: palette::ORANGE,
            points: pick(|r| r.all.p95_ms),
            dashed: false,
        },
        Line {
            label: "p99".into(),
            color: palette::RED,
            points: pick(|r| r.all.p99_ms),
            dashed: false,
        },
    ];
    let (x0, x1) = (
        d.series.first().map_or(0.0, |r| x(r.idx)),
        d.series.last().map_or(1.0, |r| x(r.idx)),
    );
    let highest = lat
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    for r in s.slo.iter().filter(|r| r.scope.is_none() && r.unit == "ms") {
        if let Some(t) = threshold_value(&r.threshold) {
            // A threshold far above every value would flatten the lines it judges: name it
            // in the legend instead of scaling the chart to it.
            let far = highest > 0.0 && t > 3.0 * highest;
            lat.push(Line {
                label: if far {
                    format!("SLO {} {} (far above the chart)", r.metric, r.threshold)
                } else {
                    format!("SLO {} {}", r.metric, r.threshold)
                },
                color: palette::PURPLE,
                points: if far {
                    Vec::new()
                } else {
                    vec![(x0, t), (x1, t)]
                },
                dashed: true,
            });
        }
    }
    let from = match s.load.model.as_str() {
        "open" => "from intended start",
        "connections" => "from intended connect and publish times",
        _ => "closed model, from the send",
    };
    chart(
        o,
        &time_chart(&format!("Latency, all requests ({from})"), "ms", w, &lat),
    );

    let kinds: Vec<(usize, ErrorKind)> = ErrorKind::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| d.series.iter().any(|r| r.errors_by_kind[*i] > 0))
        .map(|(i, k)| (i, *k))
        .collect();
    if kinds.is_empty() {
        o.push_str(r#"<p class="note" id="no-errors">No errors during the run.</p>"#);
    } else {
        let lines: Vec<Line> = kinds
            .iter()
            .enumerate()
            .map(|(c, (i, k))| Line {
                label: k.name().into(),
                color: palette::CYCLE[(c + 6) % palette::CYCLE.len()],
                points: d
                    .series
                    .iter()
                    .map(|r| (x(r.idx), r.errors_by_kind[*i] as f64))
                    .collect(),
                dashed: false,
            })
            .collect();
        chart(
            o,
            &time_chart("Errors per second by kind", "errors/s", w, &lines),
        );
    }

    if d.summary.endpoints.len() > 1 {
        let lines: Vec<Line> = d
            .summary
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Line {
                label: format!("{} p99", e.name),
                color: palette::CYCLE[i % palette::CYCLE.len()],
                points: d
                    .series
                    .iter()
                    .filter_map(|r| {
                        r.endpoints
                            .get(i)
                            .and_then(|e| e.p99_ms)
                            .map(|v| (x(r.idx), v))
                    })
                    .collect(),
                dashed: false,
            })
            .collect();
        chart(
            o,
            &time_chart(
                "p99 latency per request name (per step, in a flow)",
                "ms",
                w,
                &lines,
            ),
        );
    }

    o.push_str("<h2>Latency distribution</h2>\n");
    let spectrum = |h: &Histogram<u64>| -> Vec<(f64, f64)> {
        if h.is_empty() {
            return Vec::new();
        }
        let mut pts: Vec<(f64, f64)> = Vec::new();
        for v in h.iter_quantiles(2) {
            let p = v.quantile_iterated_to() * 100.0;
            if p >= 99.9999 {
                break;
            }
            pts.push((p, ms(h.highest_equivalent(v.value_iterated_to()))));
        }
        pts.push((99.9999, ms(h.max())));
        pts
    };
    let mut lines = vec![Line {
        label: "all".into(),
        color: palette::INK,
        points: spectrum(d.latency),
        dashed: false,
    }];
    if d.endpoint_latency.len() > 1 {
        for (i, (h, e)) in d.endpoint_latency.iter().zip(&s.endpoints).enumerate() {
            lines.push(Line {
                label: e.name.clone(),
                color: palette::CYCLE[i % palette::CYCLE.len()],
                points: spectrum(h),
                dashed: false,
            });
        }
    }
    chart(
        o,
        &spectrum_chart("Latency by percentile (HDR, measured window)", &lines),
    );

    o.push_str("<h2>Generator health</h2>\n");
    let gen = vec![
        Line {
            label: "send lag p99 (ms)".into(),
            color: palette::ORANGE,
            points: pick(|r| r.send_lag_p99_ms),
            dashed: false,
        },
        Line {
            label: format!("tolerance {:.1} ms", s.generator.max_send_lag_p99_ms),
            color: palette::PURPLE,
            points: vec![
                (x0, s.generator.max_send_lag_p99_ms),
                (x1, s.generator.max_send_lag_p99_ms),
            ],
            dashed: true,
        },
    ];
    chart(
        o,
        &time_chart("Send lag: the generator's own lateness", "ms", w, &gen),
    );
    let flight = vec![
        Line {
            label: "in flight".into(),
            color: palette::TEAL,
            points: d
                .series
                .iter()
                .map(|r| (x(r.idx), r.in_flight as f64))
                .collect(),
            dashed: false,
        },
        Line {
            label: "dropped/s".into(),
            color: palette::RED,
            points: d
                .series
                .iter()
                .map(|r| (x(r.idx), r.all.dropped as f64))
                .collect(),
            dashed: false,
        },
    ];
    chart(
        o,
        &time_chart("In flight and dropped", "requests", w, &flight),
    );
}

/// `< 100ms` → 100.0 (ms); only latency thresholds are drawn.
fn threshold_value(expr: &str) -> Option<f64> {
    let t = expr.trim_start_matches(['<', '>', '=', ' ']);
    let (num, unit) = t.split_at(t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))?);
    let n: f64 = num.replace('_', "").parse().ok()?;
    match unit.trim() {
        "ms" => Some(n),
        "s" => Some(n * 1000.0),
        "us" | "µs" => Some(n / 1000.0),
        _ => None,
    }
}

fn websocket(o: &mut String, s: &Summary) {
    let Some(w) = &s.ws else { return };
    o.push_str(r#"<h2>Chat delivery</h2><table id="ws"><tbody>"#);
    let disconnects: Vec<String> = w
        .disconnects
        .iter()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    let rows = [
        (
            "connections",
            format!("{} of {} connected and joined", w.connected, w.connections),
        ),
        ("groups", format!("{} × {} members", w.groups, w.members)),
        ("messages published", w.published.to_string()),
        (
            "deliveries",
            format!("{} of {} expected", w.delivered, w.expected),
        ),
        ("lost", format!("{} ({})", w.lost, pct(w.loss_rate))),
        ("duplicates", w.duplicates.to_string()),
        ("out of order", w.out_of_order.to_string()),
        (
            "disconnects by close code",
            if disconnects.is_empty() {
                "none".into()
            } else {
                disconnects.join(", ")
            },
        ),
    ];
    for (k, v) in rows {
        let _ = write!(o, "<tr><th>{k}</th><td class=\"n\">{}</td></tr>", esc(&v));
    }
    o.push_str("</tbody></table><p class=\"muted\">Latencies: the <code>connect</code>, <code>delivery</code> (publish → each member) and <code>fanout</code> (publish → last member) rows of the per-request table and charts.</p>\n");
}

fn verification(o: &mut String, s: &Summary) {
    if s.verify.is_empty() {
        return;
    }
    o.push_str(r#"<h2>Verification after the load</h2><table id="verify"><thead><tr><th>request</th><th>check</th><th>observed</th><th>result</th></tr></thead><tbody>"#);
    for c in &s.verify {
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class="{}">{}</td></tr>"#,
            esc(&c.name),
            esc(&c.check),
            esc(&c.observed),
            if c.pass { "ok" } else { "bad" },
            if c.pass { "PASS" } else { "FAIL" }
        );
    }
    o.push_str("</tbody></table>\n");
}

fn endpoints(o: &mut String, s: &Summary) {
    o.push_str(r#"<h2>Per request</h2><p class="muted">Click a column to sort.</p><div class="wrap"><table class="sortable" id="endpoints"><thead><tr><th>name</th><th>request</th><th class="n">requests</th><th class="n">req/s</th><th class="n">ok</th><th class="n">errors</th><th class="n">p50 ms</th><th class="n">p95 ms</th><th class="n">p99 ms</th><th class="n">max ms</th><th>errors by kind</th><th>outcomes</th><th>status codes</th></tr></thead><tbody>"#);
    for e in &s.endpoints {
        let l = &e.latency_ms;
        let kinds: Vec<String> = e
            .errors_by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let mut outcomes: Vec<String> = e
            .outcomes
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if e.skipped > 0 {
            outcomes.push(format!("skipped {}", e.skipped));
        }
        let codes: Vec<String> = e
            .status_codes
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td><code>{} {}</code></td><td class="n">{}</td><td class="n">{:.1}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&e.name),
            esc(&e.method),
            esc(&e.path),
            e.requests,
            e.rps,
            e.ok,
            e.errors,
            f3(l.p50),
            f3(l.p95),
            f3(l.p99),
            f3(l.max),
            esc(&kinds.join(", ")),
            esc(&outcomes.join(", ")),
            esc(&codes.join(", "))
        );
    }
    o.push_str("</tbody></table></div>\n");
}

fn baseline(o: &mut String, s: &Summary) {
    let Some(c) = &s.baseline else { return };
    let _ = write!(
        o,
        r#"<h2>Against the baseline</h2><p>Baseline {} · {} regression{}</p><div class="wrap"><table class="sortable" id="baseline"><thead><tr><th>scope</th><th>metric</th><th class="n">baseline</th><th class="n">this run</th><th class="n">change</th><th class="n">tolerance</th><th>result</th></tr></thead><tbody>"#,
        esc(&c.base),
        c.regressions,
        if c.regressions == 1 { "" } else { "s" }
    );
    for r in &c.rows {
        let change = r
            .delta_pct
            .map_or(format!("{:+.3}", r.delta), |p| format!("{p:+.1}%"));
        let result = match (&r.limit, r.regression) {
            (_, true) => r#"<td class="bad">REGRESSION</td>"#,
            (Some(_), false) => r#"<td class="ok">ok</td>"#,
            (None, false) => "<td class=\"muted\">—</td>",
        };
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td>{} ({})</td><td class="n">{:.3}</td><td class="n">{:.3}</td><td class="n" data-v="{}">{}</td><td class="n">{}</td>{result}</tr>"#,
            esc(&r.scope),
            esc(&r.metric),
            esc(&r.unit),
            r.base,
            r.new,
            r.delta_pct.unwrap_or(r.delta),
            esc(&change),
            esc(r.limit.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</tbody></table></div>\n");
}

pub fn write(dir: &Path, d: &ReportData<'_>) -> anyhow::Result<()> {
    write_atomic(&dir.join("report.html"), render(d).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_thresholds_in_ms() {
        assert_eq!(threshold_value("< 100ms"), Some(100.0));
        assert_eq!(threshold_value("<= 1.5s"), Some(1500.0));
        assert_eq!(threshold_value(">= 99.9%"), None);
    }
}
