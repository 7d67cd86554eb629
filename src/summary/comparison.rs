//! A baseline comparison as `summary.json` keeps it: one row per metric and scope.

use serde::{Deserialize, Serialize};

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
