//! A capacity search's `report.html`: the answer and why (banner), the throughput–latency
//! curve (offered rate on x; p50/p95/p99 with the SLO thresholds and the capacity marked,
//! then achieved against offered), and the step table linking each step's own report.

use std::fmt::Write as _;

use super::svg::{palette, xy_chart, Line};
use super::{esc, page};
use crate::summary::capacity::{CapacityResult, Step};
use crate::summary::Status;

pub fn render(r: &CapacityResult) -> String {
    let thresholds_ms = thresholds(r);
    let mut o = String::with_capacity(64 * 1024);
    let class = match r.status {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Invalid => "invalid",
        Status::Interrupted => "interrupted",
    };
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · capacity · loadctl</title>
<style>{}</style></head><body><main>
<section class="banner {class}" id="verdict"><span class="verdict">{}</span><span class="scenario">{} · capacity search</span><ul><li>{}</li>"#,
        esc(&r.scenario),
        page::CSS,
        r.status.label(),
        esc(&r.scenario),
        esc(&headline(r)),
    );
    for reason in &r.reasons {
        let _ = write!(o, "<li>{}</li>", esc(reason));
    }
    o.push_str("</ul></section>\n");
    let _ = writeln!(
        o,
        "<dl class=\"facts\"><dt>target</dt><dd>{}</dd><dt>started</dt><dd>{}</dd><dt>bound</dt><dd><code>{}</code></dd><dt>precision</dt><dd>{:.1}%</dd>{}</dl>",
        esc(&r.target),
        esc(&r.started_at),
        esc(&r.bound),
        r.precision * 100.0,
        r.require.as_ref().map_or(String::new(), |q| format!(
            "<dt>requirement</dt><dd>{} — {}</dd>",
            esc(&q.expr),
            if q.met { "<span class=\"ok\">met</span>" } else { "<span class=\"bad\">not met</span>" }
        ))
    );
    curves(&mut o, r, &thresholds_ms);
    steps(&mut o, r);
    for i in &r.inversions {
        let _ = write!(o, "<p class=\"bad\">inversion: {}</p>", esc(i));
    }
    o.push_str("<footer>loadctl · <code>capacity.json</code> beside this page; each step's folder holds its own run's reports</footer>\n</main></body></html>\n");
    o
}

/// The latency SLOs the steps were judged by (those any step failed name them), in ms.
fn thresholds(r: &CapacityResult) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for f in r.steps.iter().flat_map(|s| s.failing.iter()) {
        if let Some(ms) = super::charts::threshold_value(&f.threshold) {
            if !out.iter().any(|(n, _)| *n == f.name) {
                out.push((f.name.clone(), ms));
            }
        }
    }
    out
}

fn curves(o: &mut String, r: &CapacityResult, thresholds_ms: &[(String, f64)]) {
    let mut all: Vec<&Step> = r.steps.iter().chain(r.hold.iter()).collect();
    all.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    if all.is_empty() {
        return;
    }
    let pts = |f: fn(&Step) -> f64| all.iter().map(|s| (s.rate, f(s))).collect::<Vec<_>>();
    let (x0, x1) = (all[0].rate, all[all.len() - 1].rate);
    let mut lat = vec![
        Line {
            label: "p50".into(),
            color: palette::BLUE,
            points: pts(|s| s.p50_ms),
            dashed: false,
        },
        Line {
            label: "p95".into(),
            color: palette::ORANGE,
            points: pts(|s| s.p95_ms),
            dashed: false,
        },
        Line {
            label: "p99".into(),
            color: palette::RED,
            points: pts(|s| s.p99_ms),
            dashed: false,
        },
    ];
    for (i, (name, ms)) in thresholds_ms.iter().enumerate() {
        lat.push(Line {
            label: format!("SLO {name}"),
            color: palette::CYCLE[(i + 3) % palette::CYCLE.len()],
            points: vec![(x0, *ms), (x1, *ms)],
            dashed: true,
        });
    }
    let top = all.iter().map(|s| s.p99_ms).fold(0.0f64, f64::max);
    if let Some(c) = r.capacity_rps {
        lat.push(Line {
            label: format!("capacity {c:.0}/s"),
            color: palette::GREEN,
            points: vec![(c, 0.0), (c, top.max(1.0))],
            dashed: true,
        });
    }
    let chart = xy_chart(
        "Latency against offered rate",
        &format!("offered {} per second", r.unit),
        "latency (ms)",
        &lat,
    );
    let _ = writeln!(
        o,
        "<h2>Throughput and latency</h2><div class=\"chart\">{chart}</div>"
    );
    let rates = vec![
        Line {
            label: "achieved".into(),
            color: palette::BLUE,
            points: pts(|s| s.achieved_rps),
            dashed: false,
        },
        Line {
            label: "offered".into(),
            color: palette::GREY,
            points: pts(|s| s.rate),
            dashed: true,
        },
    ];
    let chart = xy_chart(
        "Achieved against offered rate",
        &format!("offered {} per second", r.unit),
        "completed per second",
        &rates,
    );
    let _ = writeln!(o, "<div class=\"chart\">{chart}</div>");
}

fn steps(o: &mut String, r: &CapacityResult) {
    o.push_str("<h2>Steps</h2><div class=\"wrap\"><table id=\"steps\"><thead><tr><th class=\"n\">#</th><th>phase</th><th class=\"n\">rate</th><th class=\"n\">achieved</th><th>verdict</th><th class=\"n\">p50 ms</th><th class=\"n\">p95 ms</th><th class=\"n\">p99 ms</th><th class=\"n\">errors</th><th>why</th><th>replicas</th><th>run</th></tr></thead><tbody>");
    for s in r.steps.iter().chain(r.hold.iter()) {
        let why: Vec<String> = s
            .failing
            .iter()
            .map(|f| {
                format!(
                    "{} {} (observed {})",
                    f.name,
                    f.threshold,
                    f.observed
                        .map_or("no data".into(), |v| format!("{v:.3} {}", f.unit))
                )
            })
            .chain(
                s.stopped_early
                    .iter()
                    .map(|_| format!("stopped early after {:.1} s", s.judged_s)),
            )
            .collect();
        let replicas: Vec<String> = s
            .replicas
            .iter()
            .map(|(h, r)| {
                format!(
                    "{h}: {} ready / {} desired{}",
                    r.ready,
                    r.desired,
                    if r.desired >= r.max_replicas {
                        " (max)"
                    } else {
                        ""
                    }
                )
            })
            .collect();
        let _ = write!(
            o,
            "<tr><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{:.0}</td><td class=\"n\">{:.1}</td><td class=\"{}\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:.3}%</td><td>{}</td><td>{}</td><td><a href=\"{}/report.html\">{}</a></td></tr>",
            s.index,
            esc(&s.phase),
            s.rate,
            s.achieved_rps,
            if s.pass { "ok" } else { "bad" },
            if s.pass { "PASS" } else { s.status.label() },
            s.p50_ms,
            s.p95_ms,
            s.p99_ms,
            s.error_rate * 100.0,
            esc(&why.join("; ")),
            esc(&replicas.join(", ")),
            esc(&s.dir),
            esc(&s.dir),
        );
    }
    o.push_str("</tbody></table></div>\n");
}

/// The answer in one sentence.
pub fn headline(r: &CapacityResult) -> String {
    let unit = &r.unit;
    let at = |c: f64| {
        let mut s = format!("{c:.0} {unit}/s");
        if !r.replicas_at_capacity.is_empty() {
            let reps: Vec<String> = r
                .replicas_at_capacity
                .iter()
                .map(|(h, x)| {
                    format!(
                        "{} replicas of {h}{}",
                        x.ready,
                        if x.desired >= x.max_replicas {
                            ", at maxReplicas"
                        } else {
                            ""
                        }
                    )
                })
                .collect();
            s.push_str(&format!(" with autoscaling ({})", reps.join(", ")));
        }
        s
    };
    match (r.capacity_rps, r.bound.as_str()) {
        (Some(c), "generator") => format!(
            "capacity ≥ {} (generator-bound: loadctl could not hold more)",
            at(c)
        ),
        (Some(c), "max") => format!(
            "capacity ≥ {} (the highest rate allowed, max, passed)",
            at(c)
        ),
        (Some(c), "interrupted") => format!("interrupted; {} passed so far", at(c)),
        (Some(c), b) => match r.bracket {
            Some([lo, hi]) => format!(
                "capacity {} (bounded by {b}: {lo:.0} passed, {hi:.0} failed; precision {:.1}%)",
                at(c),
                r.precision * 100.0
            ),
            None => format!("capacity {} (bounded by {b})", at(c)),
        },
        (None, "below_min") => {
            "capacity below the search's min: not even its first rate passed".into()
        }
        (None, _) => "no rate passed yet".into(),
    }
}
