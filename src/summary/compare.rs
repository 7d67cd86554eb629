//! Run comparison: a new run's `summary.json` against a baseline's, metric by metric,
//! overall and per request name, with regressions flagged against tolerances.
//!
//! Gated metrics are the ones the tolerances name (p95, p99, RPS, error rate); p50 and max
//! are shown for context. Used by `loadctl compare` and by `run --baseline`.

use super::comparison::{Comparison, Row};
use super::schema::{EndpointSummary, Summary, Totals};
use crate::metrics::LatencyStats;
use crate::scenario::Tolerances;

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

/// One side of a comparison: what it is called (scenario and start) and its figures. A
/// run compares its figures before its summary exists, since the comparison is part of
/// what decides its status.
pub struct Side<'a> {
    pub label: String,
    pub latency_ms: &'a LatencyStats,
    pub totals: &'a Totals,
    pub endpoints: &'a [EndpointSummary],
}

impl<'a> Side<'a> {
    pub fn of(s: &'a Summary) -> Self {
        Side {
            label: format!("{} {}", s.scenario, s.started_at),
            latency_ms: &s.latency_ms,
            totals: &s.totals,
            endpoints: &s.endpoints,
        }
    }
}

pub fn compare(base: &Summary, new: &Summary, t: &Tolerances) -> Comparison {
    compare_sides(Side::of(base), Side::of(new), t)
}

pub fn compare_sides(base: Side<'_>, new: Side<'_>, t: &Tolerances) -> Comparison {
    let overall = |s: &Side<'_>| Figures {
        p50: s.latency_ms.p50,
        p95: s.latency_ms.p95,
        p99: s.latency_ms.p99,
        max: s.latency_ms.max,
        error_rate: s.totals.error_rate,
        rps: s.totals.rps,
    };
    let mut rows = rows_for("all", &overall(&base), &overall(&new), t);
    for e in new.endpoints {
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
        base: base.label,
        new: new.label,
        rows,
        regressions,
    }
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
