//! The Kubernetes part of the page: the replicas chart that sits under the RPS chart on
//! the same time axis, and the section with the expectations and the fault windows.
//! Everything comes from the summary alone, so `loadctl report DIR` draws it again.

use std::fmt::Write as _;

use super::svg::{palette, time_chart, Bands, Line};
use crate::report::escape::esc;
use crate::summary::kube::{KubeSummary, ReplicaPoint};

fn secs(v: Option<f64>) -> String {
    v.map_or("—".into(), |s| format!("{s:.1} s"))
}

/// Desired, current and ready replicas as steps over the run, per HPA.
pub fn replicas_chart(o: &mut String, k: &KubeSummary, bands: &Bands, end_s: f64) {
    let mut lines = Vec::new();
    let step = |pts: &[ReplicaPoint], f: fn(&ReplicaPoint) -> u32| -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        for (i, p) in pts.iter().enumerate() {
            if i > 0 {
                out.push((p.t_s, f64::from(f(&pts[i - 1]))));
            }
            out.push((p.t_s, f64::from(f(p))));
        }
        if let Some(p) = pts.last() {
            out.push((end_s.max(p.t_s), f64::from(f(p))));
        }
        out
    };
    for (i, h) in k.hpas.iter().enumerate() {
        let who = if k.hpas.len() > 1 {
            format!("{} ", h.name)
        } else {
            String::new()
        };
        let shade = i * 3;
        lines.push(Line {
            label: format!("{who}desired (HPA decision)"),
            color: palette::CYCLE[shade % palette::CYCLE.len()],
            points: step(&h.timeline, |p| p.desired),
            dashed: false,
        });
        lines.push(Line {
            label: format!("{who}ready (Deployment capacity)"),
            color: palette::CYCLE[(shade + 2) % palette::CYCLE.len()],
            points: step(&h.timeline, |p| p.ready),
            dashed: false,
        });
        lines.push(Line {
            label: format!("{who}maxReplicas"),
            color: palette::GREY,
            points: vec![
                (0.0, f64::from(h.max_replicas)),
                (end_s, f64::from(h.max_replicas)),
            ],
            dashed: true,
        });
    }
    let svg = time_chart(
        "Replicas: HPA decision and ready pods",
        "replicas",
        bands,
        &lines,
    );
    let _ = write!(
        o,
        r#"<div class="chart" title="{}">{svg}</div>"#,
        esc("Replicas over time")
    );
}

/// The table under the charts: expectations, then faults.
pub fn section(page: &mut String, k: &KubeSummary) {
    let mut o = String::new();
    let _ = write!(
        o,
        "<p>Namespace <code>{}</code> at <code>{}</code>.</p>",
        esc(&k.namespace),
        esc(&k.server)
    );
    o.push_str("<table><thead><tr><th>HPA</th><th>expectation</th><th>result</th><th>observed</th></tr></thead><tbody>");
    for e in &k.expectations {
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td>{}</td><td class="{}">{}</td><td>{}</td></tr>"#,
            esc(&e.hpa),
            esc(&e.expectation),
            if e.pass { "pass" } else { "fail" },
            if e.pass { "PASS" } else { "FAIL" },
            esc(&e.observed)
        );
    }
    o.push_str("</tbody></table>");
    o.push_str("<table><thead><tr><th>HPA</th><th>min–max</th><th>first scale-up</th><th>expected levels: decided / ready</th><th>max desired / ready</th><th>at max</th><th>scale-down from</th><th>pod restarts</th></tr></thead><tbody>");
    for h in &k.hpas {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}–{}</td><td>{}</td><td>{}</td><td>{} / {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&h.name),
            h.min_replicas,
            h.max_replicas,
            secs(h.first_scale_up_s),
            h.levels
                .iter()
                .map(|l| format!("{}: {} / {}", l.replicas, secs(l.decision_s), secs(l.capacity_s)))
                .collect::<Vec<_>>()
                .join("<br>"),
            h.max_desired,
            h.max_ready,
            if h.at_max.is_empty() { "never".into() } else { format!("from {:.1} s", h.at_max[0].start_s) },
            secs(h.scale_down_start_s),
            h.pod_restarts
        );
    }
    o.push_str("</tbody></table>");
    if !k.faults.is_empty() {
        o.push_str("<table><thead><tr><th>fault</th><th>at</th><th>affected</th><th>window (shaded red in the charts)</th><th>requests</th><th>availability</th><th>p99</th></tr></thead><tbody>");
        for f in &k.faults {
            let _ = write!(
                o,
                "<tr><td>{} {} <code>{}</code></td><td>{:.1} s</td><td>{}</td><td>{} – {}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.action),
                esc(&f.mode),
                esc(&f.selector),
                f.at_s,
                esc(&affected(f)),
                secs(f.window_start_s),
                secs(f.window_end_s),
                if f.recovered { "" } else { " (not recovered)" },
                f.requests,
                f.availability.map_or("—".into(), |a| format!("{:.3}%", a * 100.0)),
                f.p99_ms.map_or("—".into(), |p| format!("{p:.1} ms")),
            );
        }
        o.push_str("</tbody></table>");
        for f in &k.faults {
            stretches(&mut o, f);
        }
    }
    for w in &k.warnings {
        let _ = write!(o, "<p class=\"note\">Before the run: {}</p>", esc(w));
    }
    let _ = write!(
        page,
        "<h2>{}</h2>\n{o}\n",
        esc("Kubernetes: autoscaling and faults")
    );
}

/// A fault's traffic before, during and after its window, and its recovery.
fn stretches(o: &mut String, f: &crate::summary::kube::FaultSummary) {
    if f.before.is_none() && f.during.is_none() && f.after.is_none() {
        return;
    }
    let recovery = match (f.recovery_s, f.recovery_band) {
        (Some(r), Some([p99, e])) => format!("back in band <b>{r:.1} s</b> after the window (p99 ≤ {p99}× before, errors ≤ before + {:.2} points)", e * 100.0),
        (Some(r), None) => format!("back in band <b>{r:.1} s</b> after the window"),
        (None, _) => "<b>not back in band</b> before the run ended".into(),
    };
    let _ = write!(
        o,
        "<p id=\"fault-{}\"><b>{}</b> ({}): {recovery}.</p><table><thead><tr><th></th><th>seconds</th><th>requests</th><th>p50</th><th>p99</th><th>availability</th><th>req/s</th></tr></thead><tbody>",
        esc(&f.name),
        esc(&f.name),
        esc(&f.action),
    );
    let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1} ms"));
    for (label, st) in [
        ("before", &f.before),
        ("during", &f.during),
        ("after", &f.after),
    ] {
        let Some(st) = st else { continue };
        let _ = write!(
            o,
            "<tr><td>{label}</td><td>{:.1} – {:.1} s</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td></tr>",
            st.start_s,
            st.end_s,
            st.requests,
            ms(st.p50_ms),
            ms(st.p99_ms),
            st.availability.map_or("—".into(), |a| format!("{:.3}%", a * 100.0)),
            st.rps
        );
    }
    o.push_str("</tbody></table>");
}

/// What a fault did and to what: `killed 1: flash-order-7d4b9c6f5-pv4mz`.
fn affected(f: &crate::summary::kube::FaultSummary) -> String {
    match (f.outcome.as_str(), f.affected.is_empty()) {
        ("", _) => "not carried out".into(),
        (o, true) => o.to_string(),
        (o, false) => format!("{o}: {}", f.affected.join(", ")),
    }
}
