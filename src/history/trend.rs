//! A scenario's trend: each chosen metric's series over the recorded runs, its change
//! points, which of them are regressions (a move in the metric's bad direction by at least
//! the minimum relative effect), and the gate: failed when the newest run lies in a segment
//! that a regression began.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::changepoint::{detect, Params};
use super::store::{RunRow, Store, StoreError, ALL};

/// What `loadctl trend` was asked.
#[derive(Debug, Clone)]
pub struct Query {
    pub scenario: Option<String>,
    pub metrics: Vec<String>,
    /// `None`: the whole run's figures.
    pub endpoint: Option<String>,
    pub last: Option<usize>,
    pub params: Params,
    /// The minimum relative effect of a regression, by metric (`*`: the default).
    pub min_change: BTreeMap<String, f64>,
}

/// The default metrics of a trend.
pub const DEFAULT_METRICS: [&str; 4] = ["p50", "p99", "rps", "error_rate"];
/// The default minimum relative effect: 5 %.
pub const DEFAULT_MIN_CHANGE: f64 = 0.05;

/// Higher is worse for latencies, errors and the generator's lag; lower for throughput
/// and availability.
pub fn higher_is_worse(metric: &str) -> bool {
    !matches!(metric, "rps" | "availability" | "requests")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trend {
    pub scenario: String,
    /// `all`, or the endpoint the figures are of.
    pub scope: String,
    pub alpha: f64,
    pub permutations: usize,
    pub min_segment: usize,
    pub runs: Vec<TrendRun>,
    pub metrics: Vec<MetricTrend>,
    pub gate: Gate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendRun {
    pub id: i64,
    pub started_at: String,
    pub status: String,
    /// The run's folder when it was recorded, if it had one.
    pub folder: Option<String>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricTrend {
    pub metric: String,
    pub higher_is_worse: bool,
    pub min_change: f64,
    /// One per run, `null` where the run lacks the figure.
    pub values: Vec<Option<f64>>,
    /// The newest run's SLO on this metric and scope, in the figure's unit.
    pub threshold: Option<f64>,
    pub changes: Vec<TrendChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendChange {
    /// Index in `runs` of the first run after the change.
    pub at: usize,
    pub run_id: i64,
    pub started_at: String,
    pub before: f64,
    pub after: f64,
    pub relative: f64,
    pub p_value: f64,
    pub regression: bool,
    pub improvement: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    pub failed: bool,
    /// One line per metric whose newest segment began with a regression.
    pub reasons: Vec<String>,
}

/// Why a trend cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum TrendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Usage(String),
}

/// Picks the scenario: the one named, or the only one recorded.
fn scenario(store: &Store, asked: Option<&str>) -> Result<String, TrendError> {
    let all = store.runs(None, None)?;
    let mut names: Vec<&str> = all.iter().map(|r| r.scenario.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    match asked {
        Some(s) if names.contains(&s) => Ok(s.to_string()),
        Some(s) => Err(TrendError::Usage(format!(
            "no run of scenario `{s}` is recorded; recorded: {}",
            if names.is_empty() { "none".into() } else { names.join(", ") }
        ))),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None if names.is_empty() => Err(TrendError::Usage(
            "no run is recorded yet: `loadctl run … --history DB` or `loadctl history add RUN_DIR --db DB`".into(),
        )),
        None => Err(TrendError::Usage(format!(
            "several scenarios are recorded ({}); name one with --scenario",
            names.join(", ")
        ))),
    }
}

fn threshold(store: &Store, run: &RunRow, scope: &str, metric: &str) -> Option<f64> {
    let d = store.details(run.id).ok()??;
    let key = if scope == ALL {
        metric.to_string()
    } else {
        format!("{scope}.{metric}")
    };
    let (name, expr, ..) = d.slos.iter().find(|(n, ..)| *n == key)?;
    let scopes: Vec<&str> = (scope != ALL).then_some(scope).into_iter().collect();
    let slo = crate::slo::parse(name, expr, &scopes).ok()?;
    Some(slo.threshold)
}

/// The trend of `q` in `store`.
pub fn trend(store: &Store, q: &Query) -> Result<Trend, TrendError> {
    let scenario = scenario(store, q.scenario.as_deref())?;
    let rows = store.runs(Some(&scenario), q.last)?;
    let scope = q.endpoint.clone().unwrap_or_else(|| ALL.to_string());
    let runs: Vec<TrendRun> = rows
        .iter()
        .map(|r| {
            Ok(TrendRun {
                id: r.id,
                started_at: r.started_at.clone(),
                status: r.status.clone(),
                folder: r.folder.clone(),
                labels: store.labels(r.id)?.into_iter().collect(),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    let mut metrics = Vec::new();
    let mut gate = Gate::default();
    for m in &q.metrics {
        let values = store.values(&rows, &scope, m)?;
        if values.iter().all(Option::is_none) && !rows.is_empty() {
            return Err(TrendError::Usage(format!(
                "no recorded run of `{scenario}` has `{m}` for {scope}; metrics are p50 … p999, max, mean, service_p99, rps, error_rate, availability, requests, errors, dropped, send_lag_p99, and phases as ttfb.p99"
            )));
        }
        let present: Vec<(usize, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((i, (*v)?)))
            .collect();
        let series: Vec<f64> = present.iter().map(|p| p.1).collect();
        let worse_up = higher_is_worse(m);
        let min_change = q
            .min_change
            .get(m)
            .or_else(|| q.min_change.get("*"))
            .copied()
            .unwrap_or(DEFAULT_MIN_CHANGE);
        let changes: Vec<TrendChange> = detect(&series, &q.params)
            .into_iter()
            .map(|c| {
                let at = present[c.at].0;
                let rel = c.relative();
                let bad = if worse_up { rel > 0.0 } else { rel < 0.0 };
                let big = rel.abs() >= min_change;
                TrendChange {
                    at,
                    run_id: rows[at].id,
                    started_at: rows[at].started_at.clone(),
                    before: c.before,
                    after: c.after,
                    relative: rel,
                    p_value: c.p_value,
                    regression: bad && big,
                    improvement: !bad && big,
                }
            })
            .collect();
        if let Some(last) = changes.last().filter(|c| c.regression) {
            gate.failed = true;
            gate.reasons.push(format!(
                "{m} ({scope}) regressed at run {} ({}): mean {} → {} ({:+.1}%), p = {:.3}",
                last.run_id,
                last.started_at,
                short(last.before),
                short(last.after),
                last.relative * 100.0,
                last.p_value
            ));
        }
        metrics.push(MetricTrend {
            metric: m.clone(),
            higher_is_worse: worse_up,
            min_change,
            threshold: rows.last().and_then(|r| threshold(store, r, &scope, m)),
            values,
            changes,
        });
    }
    Ok(Trend {
        scenario,
        scope,
        alpha: q.params.alpha,
        permutations: q.params.permutations,
        min_segment: q.params.min_segment,
        runs,
        metrics,
        gate,
    })
}

/// A figure as people read it: 3 significant digits.
pub fn short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}
