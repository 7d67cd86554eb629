//! Run comparison: a new run's `summary.json` against a baseline's, metric by metric,
//! overall and per request name, with regressions flagged against tolerances.
//!
//! Gated metrics are the ones the tolerances name (p95, p99, RPS, error rate); p50 and max
//! are shown for context. Used by `loadctl compare` and by `run --baseline`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::summary::{EndpointSummary, Summary};
use crate::scenario::Tolerances;

/// One metric of one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// `all` or a request name.
    pub scope: String,
    pub metric: String,
    pub unit: String,
    pub base: f64,
    pub new: f64,
    /// `new - base`, in `unit`.
    pub delta: f64,
    /// Relative change in percent; `None` when the base is zero.
    pub delta_pct: Option<f64>,
    /// The tolerance, as text (`+10%`), for gated metrics.
    pub limit: Option<String>,
    pub regression: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// Baseline run: scenario and start time.
    pub base: String,
    pub new: String,
    pub rows: Vec<Row>,
    pub regressions: usize,
}

impl Comparison {
    /// One line per regression, for reasons and failure messages.
    pub fn regression_lines(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.regression)
            .map(|r| {
                let change = r
                    .delta_pct
                    .map_or(format!("{:+.3} {}", r.delta, r.unit), |p| {
                        format!("{p:+.1}%")
                    });
                format!(
                    "{} {} {change} ({:.3} → {:.3} {}, tolerance {})",
                    r.scope,
                    r.metric,
                    r.base,
                    r.new,
                    r.unit,
                    r.limit.as_deref().unwrap_or("")
                )
            })
            .collect()
    }
}

/// Reads a run folder's `summary.json`.
pub fn load_summary(dir: &Path) -> anyhow::Result<Summary> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a loadctl run folder?)",
            path.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a loadctl summary (schema_version 1)",
            path.display()
        )
    })
}

#[derive(Clone, Copy)]
enum Gate {
    None,
    /// Relative increase beyond the fraction is a regression.
    Increase(f64),
    /// Relative decrease beyond the fraction is a regression.
    Decrease(f64),
    /// Absolute increase beyond these percentage points.
    Points(f64),
}

fn row(scope: &str, metric: &str, unit: &str, base: f64, new: f64, gate: Gate) -> Row {
    let delta = new - base;
    let delta_pct = (base != 0.0).then(|| delta / base * 100.0);
    let (regression, limit) = match gate {
        Gate::None => (false, None),
        Gate::Increase(t) => (
            delta_pct.is_some_and(|p| p > t * 100.0),
            Some(format!("+{}%", fmt_num(t * 100.0))),
        ),
        Gate::Decrease(t) => (
            delta_pct.is_some_and(|p| p < -t * 100.0),
            Some(format!("-{}%", fmt_num(t * 100.0))),
        ),
        // `delta` is already in points when the unit is %.
        Gate::Points(t) => (delta > t + 1e-12, Some(format!("+{} points", fmt_num(t)))),
    };
    Row {
        scope: scope.into(),
        metric: metric.into(),
        unit: unit.into(),
        base,
        new,
        delta,
        delta_pct,
        limit,
        regression,
    }
}

fn fmt_num(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

struct Figures {
    p50: f64,
    p95: f64,
    p99: f64,
    max: f64,
    error_rate: f64,
    rps: f64,
}

fn rows_for(scope: &str, b: &Figures, n: &Figures, t: &Tolerances) -> Vec<Row> {
    vec![
        row(scope, "p50", "ms", b.p50, n.p50, Gate::None),
        row(scope, "p95", "ms", b.p95, n.p95, Gate::Increase(t.p95)),
        row(scope, "p99", "ms", b.p99, n.p99, Gate::Increase(t.p99)),
        row(scope, "max", "ms", b.max, n.max, Gate::None),
        row(
            scope,
            "error_rate",
            "%",
            b.error_rate * 100.0,
            n.error_rate * 100.0,
            Gate::Points(t.error_rate_points),
        ),
        row(scope, "rps", "req/s", b.rps, n.rps, Gate::Decrease(t.rps)),
    ]
}

fn endpoint_figures(e: &EndpointSummary) -> Figures {
    Figures {
        p50: e.latency_ms.p50,
        p95: e.latency_ms.p95,
        p99: e.latency_ms.p99,
        max: e.latency_ms.max,
        error_rate: e.error_rate,
        rps: e.rps,
    }
}

pub fn compare(base: &Summary, new: &Summary, t: &Tolerances) -> Comparison {
    let overall = |s: &Summary| Figures {
        p50: s.latency_ms.p50,
        p95: s.latency_ms.p95,
        p99: s.latency_ms.p99,
        max: s.latency_ms.max,
        error_rate: s.totals.error_rate,
        rps: s.totals.rps,
    };
    let mut rows = rows_for("all", &overall(base), &overall(new), t);
    for e in &new.endpoints {
        if let Some(b) = base.endpoints.iter().find(|b| b.name == e.name) {
            rows.extend(rows_for(
                &e.name,
                &endpoint_figures(b),
                &endpoint_figures(e),
                t,
            ));
        }
    }
    let regressions = rows.iter().filter(|r| r.regression).count();
    Comparison {
        base: format!("{} {}", base.scenario, base.started_at),
        new: format!("{} {}", new.scenario, new.started_at),
        rows,
        regressions,
    }
}

fn cells(r: &Row) -> [String; 7] {
    let pct = r.delta_pct.map_or("n/a".into(), |p| format!("{p:+.1}%"));
    [
        r.scope.clone(),
        format!("{} ({})", r.metric, r.unit),
        format!("{:.3}", r.base),
        format!("{:.3}", r.new),
        format!("{:+.3} ({pct})", r.delta),
        r.limit.clone().unwrap_or_default(),
        if r.regression {
            "REGRESSION".into()
        } else if r.limit.is_some() {
            "ok".into()
        } else {
            String::new()
        },
    ]
}

const HEADERS: [&str; 7] = [
    "scope",
    "metric",
    "base",
    "new",
    "delta",
    "tolerance",
    "verdict",
];

/// A terminal table.
pub fn render_text(c: &Comparison) -> String {
    let rows: Vec<[String; 7]> = c.rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut o = String::new();
    let _ = writeln!(o, "base  {}\nnew   {}\n", c.base, c.new);
    let line = |o: &mut String, cells: &[String]| {
        let mut parts = Vec::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            // Numbers right-aligned, words left-aligned.
            if (2..=4).contains(&i) {
                parts.push(format!("{cell:>w$}"));
            } else {
                parts.push(format!("{cell:<w$}"));
            }
        }
        let _ = writeln!(o, "  {}", parts.join("  ").trim_end());
    };
    line(&mut o, &HEADERS.map(String::from));
    for r in &rows {
        line(&mut o, r);
    }
    let _ = writeln!(
        o,
        "\n{}",
        match c.regressions {
            0 => "no regression".to_string(),
            1 => "1 regression".to_string(),
            n => format!("{n} regressions"),
        }
    );
    o
}

/// A Markdown table, for a pull-request comment.
pub fn render_md(c: &Comparison) -> String {
    let mut o = String::new();
    let verdict = if c.regressions == 0 {
        "no regression".to_string()
    } else {
        format!(
            "**{} regression{}**",
            c.regressions,
            if c.regressions == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(o, "### loadctl comparison: {verdict}\n");
    let _ = writeln!(o, "Base: `{}` · New: `{}`\n", c.base, c.new);
    let _ = writeln!(o, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(o, "|---|---|---:|---:|---:|---|---|");
    for r in &c.rows {
        let mut cells = cells(r);
        if r.regression {
            cells[6] = "**REGRESSION**".into();
        }
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_follow_the_tolerances() {
        let t = Tolerances::default();
        assert!(!row("all", "p99", "ms", 100.0, 110.0, Gate::Increase(t.p99)).regression);
        assert!(row("all", "p99", "ms", 100.0, 110.5, Gate::Increase(t.p99)).regression);
        assert!(!row("all", "rps", "req/s", 1000.0, 950.0, Gate::Decrease(t.rps)).regression);
        assert!(row("all", "rps", "req/s", 1000.0, 949.0, Gate::Decrease(t.rps)).regression);
        assert!(!row("all", "error_rate", "%", 0.10, 0.15, Gate::Points(0.05)).regression);
        assert!(row("all", "error_rate", "%", 0.10, 0.16, Gate::Points(0.05)).regression);
        assert!(!row("all", "max", "ms", 1.0, 100.0, Gate::None).regression);
        // No base: nothing to be relative to.
        let r = row("all", "p99", "ms", 0.0, 5.0, Gate::Increase(0.1));
        assert_eq!((r.delta_pct, r.regression), (None, false));
        // Improvements are never regressions.
        assert!(!row("all", "p99", "ms", 100.0, 50.0, Gate::Increase(0.1)).regression);
    }
}
