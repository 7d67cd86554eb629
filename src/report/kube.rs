//! The Kubernetes part of a run's reports: the `kube` section of `summary.json` (per HPA
//! its replica timeline and what it shows, the expectations, the faults and the traffic
//! inside their windows), `replicas.csv`, the console lines, and the HTML replicas chart
//! that sits under the RPS chart on the same time axis.
//!
//! Everything here is computed from the summary alone, so `loadctl report DIR` draws the
//! same page again.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::charts::{palette, time_chart, Bands, Line};
use super::html::Fragment;
use super::{esc, write_atomic};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeSummary {
    pub namespace: String,
    /// The API server watched.
    pub server: String,
    pub hpas: Vec<HpaSummary>,
    pub expectations: Vec<ExpectationResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSummary>,
    /// Pre-run: expectations the HPA's own behavior cannot meet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HpaSummary {
    pub name: String,
    pub deployment: String,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// One entry per observed change, seconds from the load's start (warmup included).
    pub timeline: Vec<ReplicaPoint>,
    /// First rise of the decision above its value at the start.
    pub first_scale_up_s: Option<f64>,
    /// Each level an expectation names: when it was decided and when it was Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<Level>,
    pub max_desired: u32,
    pub max_ready: u32,
    /// Periods pinned at maxReplicas (`ScalingLimited`/`TooManyReplicas`).
    pub at_max: Vec<Period>,
    /// First fall of the decision after its peak.
    pub scale_down_start_s: Option<f64>,
    pub pod_restarts: u64,
    pub pods_seen: u64,
    /// Watch errors that were survived (re-lists after `410 Gone` and the like).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch_errors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaPoint {
    pub t_s: f64,
    pub desired: u32,
    pub current: u32,
    pub ready: u32,
    pub at_max: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub replicas: u32,
    /// HPA `desiredReplicas` first at or above it.
    pub decision_s: Option<f64>,
    /// Deployment `readyReplicas` first at or above it.
    pub capacity_s: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub start_s: f64,
    /// `None`: still so at the end of the run.
    pub end_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectationResult {
    pub hpa: String,
    pub expectation: String,
    pub pass: bool,
    pub observed: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSummary {
    pub action: String,
    pub selector: String,
    pub mode: String,
    /// Planned time, from the load's start.
    pub at_s: f64,
    /// `None`: the run ended first, or the pods could not be listed.
    pub executed_s: Option<f64>,
    pub ready_before: usize,
    pub killed: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// The window: from the kill until as many pods were Ready again (or the run ended).
    pub window_start_s: Option<f64>,
    pub window_end_s: Option<f64>,
    pub recovered: bool,
    /// Traffic in the window (whole seconds around it).
    pub requests: u64,
    pub errors_in_window: u64,
    pub availability: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl KubeSummary {
    /// The fault windows, for shading every chart.
    pub fn windows(&self) -> Vec<(f64, f64)> {
        self.faults
            .iter()
            .filter_map(|f| Some((f.window_start_s?, f.window_end_s?)))
            .collect()
    }
}

pub fn write_replicas_csv(dir: &Path, k: &KubeSummary) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "t_s",
        "hpa",
        "deployment",
        "desired",
        "current",
        "ready",
        "at_max",
    ])?;
    for h in &k.hpas {
        for p in &h.timeline {
            w.write_record([
                format!("{:.3}", p.t_s),
                h.name.clone(),
                h.deployment.clone(),
                p.desired.to_string(),
                p.current.to_string(),
                p.ready.to_string(),
                p.at_max.to_string(),
            ])?;
        }
    }
    write_atomic(&dir.join("replicas.csv"), &w.into_inner()?)
}

fn secs(v: Option<f64>) -> String {
    v.map_or("—".into(), |s| format!("{s:.1} s"))
}

pub fn console(o: &mut String, k: &KubeSummary) {
    let _ = writeln!(
        o,
        "\n  kubernetes  namespace {} at {}",
        k.namespace, k.server
    );
    for h in &k.hpas {
        let first = h.timeline.first();
        let last = h.timeline.last();
        let _ = writeln!(
            o,
            "  hpa/{}  desired {} → max {} → {} · ready {} → max {} → {} · first scale-up {} · at max {} · scale-down from {} · restarts {}",
            h.name,
            first.map_or(0, |p| p.desired),
            h.max_desired,
            last.map_or(0, |p| p.desired),
            first.map_or(0, |p| p.ready),
            h.max_ready,
            last.map_or(0, |p| p.ready),
            secs(h.first_scale_up_s),
            if h.at_max.is_empty() {
                "never".to_string()
            } else {
                format!("{} period(s) from {:.1} s", h.at_max.len(), h.at_max[0].start_s)
            },
            secs(h.scale_down_start_s),
            h.pod_restarts
        );
        for l in &h.levels {
            let _ = writeln!(
                o,
                "    {} replicas: decided {} · ready {}",
                l.replicas,
                secs(l.decision_s),
                secs(l.capacity_s)
            );
        }
        if !h.watch_errors.is_empty() {
            let _ = writeln!(
                o,
                "    {} watch error(s) survived; first: {}",
                h.watch_errors.len(),
                h.watch_errors[0]
            );
        }
    }
    for e in &k.expectations {
        let _ = writeln!(
            o,
            "  {}  hpa/{} {}  ({})",
            if e.pass { "PASS" } else { "FAIL" },
            e.hpa,
            e.expectation,
            e.observed
        );
    }
    for f in &k.faults {
        let _ = writeln!(
            o,
            "  fault  {} {} ({}) at {:.1} s: killed {}{} · window {} – {}{} · availability {} · p99 {}",
            f.action,
            f.mode,
            f.selector,
            f.at_s,
            f.killed.len(),
            if f.errors.is_empty() { String::new() } else { format!(" ({} error(s): {})", f.errors.len(), f.errors[0]) },
            secs(f.window_start_s),
            secs(f.window_end_s),
            if f.recovered { "" } else { " (not recovered)" },
            f.availability.map_or("no data".into(), |a| format!("{:.3}%", a * 100.0)),
            f.p99_ms.map_or("no data".into(), |p| format!("{p:.1} ms")),
        );
    }
    for w in &k.warnings {
        let _ = writeln!(o, "  warning  {w}");
    }
}

/// Desired, current and ready replicas as steps over the run, per HPA.
pub fn replicas_chart(k: &KubeSummary, bands: &Bands, end_s: f64) -> Fragment {
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
    Fragment {
        title: "Replicas over time".into(),
        html: time_chart(
            "Replicas: HPA decision and ready pods",
            "replicas",
            bands,
            &lines,
        ),
    }
}

/// The table under the charts: expectations, then faults.
pub fn section(k: &KubeSummary) -> Fragment {
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
        o.push_str("<table><thead><tr><th>fault</th><th>at</th><th>killed</th><th>window (shaded red in the charts)</th><th>requests</th><th>availability</th><th>p99</th></tr></thead><tbody>");
        for f in &k.faults {
            let _ = write!(
                o,
                "<tr><td>{} {} <code>{}</code></td><td>{:.1} s</td><td>{}</td><td>{} – {}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.action),
                esc(&f.mode),
                esc(&f.selector),
                f.at_s,
                esc(&f.killed.join(", ")),
                secs(f.window_start_s),
                secs(f.window_end_s),
                if f.recovered { "" } else { " (not recovered)" },
                f.requests,
                f.availability.map_or("—".into(), |a| format!("{:.3}%", a * 100.0)),
                f.p99_ms.map_or("—".into(), |p| format!("{p:.1} ms")),
            );
        }
        o.push_str("</tbody></table>");
    }
    for w in &k.warnings {
        let _ = write!(o, "<p class=\"note\">Before the run: {}</p>", esc(w));
    }
    Fragment {
        title: "Kubernetes: autoscaling and faults".into(),
        html: o,
    }
}
