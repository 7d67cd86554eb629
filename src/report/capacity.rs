//! What a capacity search shows a person: a console line per step as it finishes, the
//! answer at the end, and `report.html` (drawn by `html/capacity.rs`).

use std::path::Path;

use crate::files::write_atomic;
use crate::summary::capacity::{CapacityResult, Step};

/// One line per finished step.
pub fn step_line(s: &Step) -> String {
    let verdict = if s.pass { "PASS" } else { s.status.label() };
    let mut line = format!(
        "  step {:>2}  {:<12} {:>10.1}/s → {verdict:<11} achieved {:>10.1}/s  p50 {:.2}  p95 {:.2}  p99 {:.2} ms  errors {:.3}%",
        s.index,
        s.phase,
        s.rate,
        s.achieved_rps,
        s.p50_ms,
        s.p95_ms,
        s.p99_ms,
        s.error_rate * 100.0
    );
    if let Some(f) = s.failing.first() {
        let observed = f
            .observed
            .map_or("no data".into(), |v| format!("{v:.3} {}", f.unit));
        line.push_str(&format!(
            "  ({} {}: observed {observed})",
            f.name, f.threshold
        ));
    }
    if s.stopped_early.is_some() {
        line.push_str(&format!("  stopped early after {:.1} s", s.judged_s));
    }
    for (h, r) in &s.replicas {
        line.push_str(&format!(
            "  hpa/{h} {} ready{}",
            r.ready,
            if r.desired >= r.max_replicas {
                " (at maxReplicas)"
            } else {
                ""
            }
        ));
    }
    line.push('\n');
    line
}

/// The answer, printed after the steps.
pub fn answer(r: &CapacityResult, dir: &Path) -> String {
    let mut o = format!(
        "\n{} · capacity · {}\n  {}\n",
        r.scenario,
        r.status.label(),
        super::html::capacity::headline(r)
    );
    for t in &r.trials {
        o.push_str(&format!(
            "  trials at {:.0}/s: {} of {} passed\n",
            t.rate, t.passed, t.runs
        ));
    }
    for i in &r.inversions {
        o.push_str(&format!("  inversion: {i}\n"));
    }
    if let Some(h) = &r.hold {
        o.push_str(&format!(
            "  hold at {:.0}/s for {:.0} s: {}\n",
            h.rate,
            h.judged_s,
            if h.pass { "PASS" } else { "FAIL" }
        ));
    }
    if let Some(q) = &r.require {
        o.push_str(&format!(
            "  requirement {}: {}\n",
            q.expr,
            if q.met { "met" } else { "NOT met" }
        ));
    }
    for reason in &r.reasons {
        o.push_str(&format!("  ! {reason}\n"));
    }
    o.push_str(&format!("  output     {}\n", dir.display()));
    o
}

/// `report.html` of the search.
pub fn write(dir: &Path, r: &CapacityResult) -> anyhow::Result<()> {
    write_atomic(
        &dir.join("report.html"),
        super::html::capacity::render(r).as_bytes(),
    )
}
