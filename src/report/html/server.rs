//! "The server's view": per `[[prometheus.scrape]]`, the target's own p99 and request rate
//! beside loadctl's, over time (both p99 lines, both rates), and the table of the two views
//! with the count gap: time lost in front of the service shows as a client p99 far above
//! the server's.

use std::fmt::Write as _;

use super::data::ReportData;
use super::esc;
use super::svg::{palette, time_chart, Bands, Line};

pub(super) fn section(o: &mut String, d: &ReportData<'_>) {
    let s = d.summary;
    if s.prometheus.is_empty() {
        return;
    }
    o.push_str("<h2 id=\"server\">The server's view</h2>\n");
    let w = Bands {
        warmup_s: s.warmup_s,
        faults: Vec::new(),
    };
    let x = |idx: i64| idx as f64 + s.warmup_s;
    let client_p99: Vec<(f64, f64)> = d
        .series
        .iter()
        .filter(|r| r.idx >= 0)
        .filter_map(|r| Some((x(r.idx), r.all.p99_ms?)))
        .collect();
    let client_rps: Vec<(f64, f64)> = d
        .series
        .iter()
        .filter(|r| r.idx >= 0)
        .map(|r| (x(r.idx), r.all.requests as f64))
        .collect();
    for p in &s.prometheus {
        let server = |f: fn(&crate::summary::prometheus::ServerPoint) -> Option<f64>| {
            p.series
                .iter()
                .filter_map(|pt| Some((pt.t_s + s.warmup_s, f(pt)?)))
                .collect::<Vec<_>>()
        };
        let lat = [
            Line {
                label: "client p99 (loadctl)".into(),
                color: palette::RED,
                points: client_p99.clone(),
                dashed: false,
            },
            Line {
                label: format!("server p99 ({})", p.name),
                color: palette::BLUE,
                points: server(|pt| pt.p99_ms),
                dashed: false,
            },
        ];
        let _ = writeln!(
            o,
            "<div class=\"chart\">{}</div>",
            time_chart(&format!("p99: loadctl and {}", p.name), "ms", &w, &lat)
        );
        let rates = [
            Line {
                label: "client (loadctl) requests/s".into(),
                color: palette::RED,
                points: client_rps.clone(),
                dashed: false,
            },
            Line {
                label: format!("server ({}) requests/s", p.name),
                color: palette::BLUE,
                points: server(|pt| pt.rps),
                dashed: false,
            },
        ];
        let _ = writeln!(
            o,
            "<div class=\"chart\">{}</div>",
            time_chart(
                &format!("Requests per second: loadctl and {}", p.name),
                "requests/s",
                &w,
                &rates
            )
        );
        let f = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.2}"));
        let _ = writeln!(
            o,
            "<table class=\"server\"><thead><tr><th>{}</th><th class=\"n\">server</th><th class=\"n\">client (loadctl)</th></tr></thead><tbody>\
             <tr><td>requests/s</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td></tr>\
             <tr><td>p99 ms</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td></tr>\
             <tr><td>requests counted</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></tbody></table>\
             <p class=\"note\">{} ({} scrapes, {} failed){}</p>",
            esc(&p.name),
            f(p.server_rps),
            p.client_rps,
            f(p.server_latency_ms.map(|l| l.p99)),
            p.client_p99_ms,
            f(p.server_requests),
            p.client_answered,
            esc(&p.url),
            p.scrapes,
            p.errors,
            p.count_gap.map_or(String::new(), |g| format!("; count gap {:.2}%", g * 100.0))
        );
    }
}
