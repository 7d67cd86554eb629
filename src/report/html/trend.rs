//! `trend.html`: one chart per metric over the recorded runs (x: the run's place in the
//! series), each segment's mean drawn dashed, the change points as vertical lines and the
//! SLO threshold as a line; then the change points and the runs, each linking to its
//! report while its folder is still there. Self-contained, as `report.html` is.

use std::fmt::Write as _;

use super::page;
use super::svg::{palette, xy_chart, Line};
use crate::history::trend::{short, MetricTrend, Trend};
use crate::report::escape::esc;

fn chart(m: &MetricTrend) -> String {
    let points: Vec<(f64, f64)> = m
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| Some((i as f64 + 1.0, (*v)?)))
        .collect();
    let top = points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let mut lines = vec![Line {
        label: m.metric.clone(),
        color: palette::BLUE,
        points: points.clone(),
        dashed: false,
    }];
    // Segment means as steps.
    let mut bounds: Vec<usize> = m.changes.iter().map(|c| c.at).collect();
    bounds.insert(0, 0);
    bounds.push(m.values.len());
    let mut steps = Vec::new();
    for w in bounds.windows(2) {
        let seg: Vec<f64> = m.values[w[0]..w[1]].iter().flatten().copied().collect();
        if seg.is_empty() {
            continue;
        }
        let mean = seg.iter().sum::<f64>() / seg.len() as f64;
        steps.push((w[0] as f64 + 0.5, mean));
        steps.push((w[1] as f64 + 0.5, mean));
    }
    lines.push(Line {
        label: "segment mean".into(),
        color: palette::GREY,
        points: steps,
        dashed: true,
    });
    for c in &m.changes {
        let x = c.at as f64 + 0.5;
        lines.push(Line {
            label: format!(
                "{} at run {} (p = {:.3})",
                if c.regression { "regression" } else { "change" },
                c.run_id,
                c.p_value
            ),
            color: if c.regression {
                palette::RED
            } else {
                palette::GREEN
            },
            points: vec![(x, 0.0), (x, top.max(m.threshold.unwrap_or(0.0)))],
            dashed: true,
        });
    }
    if let Some(t) = m.threshold {
        lines.push(Line {
            label: "SLO".into(),
            color: palette::ORANGE,
            points: vec![(1.0, t), (m.values.len().max(1) as f64, t)],
            dashed: true,
        });
    }
    xy_chart(&m.metric, "run (oldest first)", &m.metric, &lines)
}

pub fn render(t: &Trend) -> String {
    let mut o = String::with_capacity(128 * 1024);
    let verdict = if t.gate.failed { "FAIL" } else { "PASS" };
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} trend · {verdict} · loadctl</title>
<style>{}</style></head><body><main>
<h1>{} · trend of {} runs ({})</h1>
<div class="banner {}">gate {verdict}</div>
"#,
        esc(&t.scenario),
        page::CSS,
        esc(&t.scenario),
        t.runs.len(),
        esc(&t.scope),
        if t.gate.failed { "fail" } else { "pass" },
    );
    if !t.gate.reasons.is_empty() {
        o.push_str("<ul>");
        for r in &t.gate.reasons {
            let _ = write!(o, "<li>{}</li>", esc(r));
        }
        o.push_str("</ul>");
    }
    let _ = write!(
        o,
        "<p>Change points by E-divisive means with a permutation test: α = {}, {} permutations, segments of at least {} runs. A regression moves a metric in its bad direction by at least its minimum change.</p>",
        t.alpha, t.permutations, t.min_segment
    );
    for m in &t.metrics {
        let _ = write!(
            o,
            "<h2>{}</h2><div class=\"chart\">{}</div>",
            esc(&m.metric),
            chart(m)
        );
        if !m.changes.is_empty() {
            o.push_str("<table><thead><tr><th>run</th><th>started</th><th>before</th><th>after</th><th>change</th><th>p</th><th></th></tr></thead><tbody>");
            for c in &m.changes {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:+.1}%</td><td>{:.3}</td><td>{}</td></tr>",
                    c.run_id,
                    esc(&c.started_at),
                    short(c.before),
                    short(c.after),
                    c.relative * 100.0,
                    c.p_value,
                    if c.regression { "<b>regression</b>" } else if c.improvement { "improvement" } else { "below the minimum change" }
                );
            }
            o.push_str("</tbody></table>");
        }
    }
    o.push_str("<h2>Runs</h2><table><thead><tr><th>#</th><th>run</th><th>started</th><th>status</th><th>labels</th></tr></thead><tbody>");
    for (i, r) in t.runs.iter().enumerate() {
        let report = r
            .folder
            .as_ref()
            .map(|f| std::path::Path::new(f).join("report.html"))
            .filter(|p| p.is_file());
        let started = match report {
            Some(p) => format!(
                "<a href=\"file://{}\">{}</a>",
                esc(&p.display().to_string()),
                esc(&r.started_at)
            ),
            None => esc(&r.started_at),
        };
        let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{started}</td><td>{}</td><td><code>{}</code></td></tr>",
            i + 1,
            r.id,
            esc(&r.status),
            esc(&labels.join(" "))
        );
    }
    o.push_str("</tbody></table></main></body></html>\n");
    o
}
