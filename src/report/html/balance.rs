//! `[balance]` on the page: each backend's share of the answers over time (under the
//! replicas chart, on the same time axis), with a fair share drawn dashed, and the table
//! of backends, new replicas and the affinity check. From the summary alone, so
//! `loadctl report DIR` draws it again.

use std::fmt::Write as _;

use super::svg::{palette, time_chart, Bands, Line};
use crate::report::escape::esc;
use crate::summary::balance::BalanceSummary;

/// Backends drawn as their own line; the rest are summed into one.
const LINES: usize = 20;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// Share of each second's answers per backend, in percent, and the fair share.
pub fn share_chart(o: &mut String, b: &BalanceSummary, bands: &Bands) {
    if !b.known || b.seconds.is_empty() {
        return;
    }
    let x = |t: i64| t as f64 + bands.warmup_s;
    let share = |s: &crate::summary::balance::BalanceSecond, k: usize| {
        let total: u64 = s.counts.iter().sum();
        let n = if k == LINES {
            s.counts.iter().skip(LINES).sum::<u64>()
        } else {
            s.counts.get(k).copied().unwrap_or(0)
        };
        (total > 0).then(|| 100.0 * n as f64 / total as f64)
    };
    let mut lines: Vec<Line> = b
        .backends
        .iter()
        .take(LINES)
        .enumerate()
        .map(|(k, be)| Line {
            label: be.name.clone(),
            color: palette::CYCLE[k % palette::CYCLE.len()],
            points: b
                .seconds
                .iter()
                .filter_map(|s| Some((x(s.t), share(s, k)?)))
                .collect(),
            dashed: false,
        })
        .collect();
    if b.backends.len() > LINES {
        lines.push(Line {
            label: format!("{} more", b.backends.len() - LINES),
            color: palette::GREY,
            points: b
                .seconds
                .iter()
                .filter_map(|s| Some((x(s.t), share(s, LINES)?)))
                .collect(),
            dashed: false,
        });
    }
    lines.push(Line {
        label: format!("fair share (over {})", b.fair_over),
        color: palette::GREY,
        points: b
            .seconds
            .iter()
            .filter(|s| s.in_service > 0)
            .map(|s| (x(s.t), 100.0 / f64::from(s.in_service)))
            .collect(),
        dashed: true,
    });
    let svg = time_chart(
        "Share of answers per backend",
        "% of answers",
        bands,
        &lines,
    );
    let _ = write!(
        o,
        r#"<div class="chart" title="{}">{svg}</div>"#,
        esc("Backend shares over time")
    );
}

/// The table of backends, the new replicas and the affinity check.
pub fn section(page: &mut String, b: &BalanceSummary) {
    let mut o = String::new();
    let _ = write!(
        o,
        "<p>Backend named by the {}; a fair share is counted over the {}.",
        esc(&b.source),
        esc(&b.fair_over)
    );
    if b.known {
        let _ = write!(
            o,
            " Imbalance <b>{}</b> (busiest backend over its fair share), cv {}, per second p50 {} and max {}.",
            opt(b.imbalance, 2),
            opt(b.cv, 2),
            opt(b.imbalance_per_second.map(|p| p.p50), 2),
            opt(b.imbalance_per_second.map(|p| p.max), 2)
        );
    }
    o.push_str("</p>");
    for n in &b.notes {
        let _ = write!(o, "<p class=\"note\">{}</p>", esc(n));
    }
    o.push_str("<table><thead><tr><th>backend</th><th>requests</th><th>share</th><th>ratio to fair</th><th>errors</th><th>p50</th><th>p99</th></tr></thead><tbody>");
    for be in &b.backends {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td>{} ms</td><td>{} ms</td></tr>",
            esc(&be.name),
            be.requests,
            be.share * 100.0,
            opt(be.ratio, 2),
            be.errors,
            opt(be.p50_ms, 2),
            opt(be.p99_ms, 2)
        );
    }
    o.push_str("</tbody></table>");
    if !b.new_replicas.is_empty() {
        let _ = write!(o, "<p>Replicas that became Ready during the run (fair share within {:.0}%):</p><table><thead><tr><th>pod</th><th>Ready at</th><th>first request after</th><th>fair share after</th></tr></thead><tbody>", b.band * 100.0);
        let after = |v: Option<f64>| v.map_or("<b>never</b>".into(), |s| format!("{s:.0} s"));
        for r in &b.new_replicas {
            let _ = write!(
                o,
                "<tr><td><code>{}</code></td><td>{:.0} s</td><td>{}</td><td>{}</td></tr>",
                esc(&r.pod),
                r.ready_s,
                after(r.first_request_s),
                after(r.fair_share_s)
            );
        }
        o.push_str("</tbody></table>");
    }
    if let Some(a) = &b.affinity {
        let _ = write!(
            o,
            "<p>Affinity <code>{}</code>: {} clients, <b>{} violations</b> (a client answered by a second backend while its first still served others).</p>",
            esc(&a.mode),
            a.clients,
            a.violations
        );
        if !a.examples.is_empty() {
            o.push_str("<ul>");
            for e in &a.examples {
                let _ = write!(o, "<li><code>{}</code></li>", esc(e));
            }
            o.push_str("</ul>");
        }
    }
    let _ = write!(page, "<h2>{}</h2>\n{o}\n", esc("Which backend served"));
}
