//! A distributed run's generators in `summary.json`: each agent's share and health, its
//! clock offset from the coordinator, and how far apart the agents really started.

use serde::{Deserialize, Serialize};

/// The run as a whole: start spread and the tolerances it was judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributedSummary {
    pub agents: u64,
    /// Latest minus earliest agent start (each agent's first request really sent), on the
    /// coordinator's clock.
    pub start_spread_ms: f64,
    /// A spread beyond this makes the run invalid (`distributed.start_tolerance`).
    pub start_tolerance_ms: f64,
    /// An agent silent this long is lost (`distributed.heartbeat_timeout`).
    pub heartbeat_timeout_s: f64,
    /// The largest clock-offset uncertainty: the spread is known to about this.
    pub clock_uncertainty_ms: f64,
}

/// One agent's share of the run and its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSummary {
    /// The agent's own name (its host name unless `--name`).
    pub name: String,
    /// How the coordinator reached it.
    pub address: String,
    /// Its share: generator `index` of the run's `agents`.
    pub index: u64,
    /// Requests of the measured window it sent and saw answered or failed.
    pub requests: u64,
    pub errors: u64,
    pub dropped: u64,
    pub send_lag_p99_ms: f64,
    /// The agent's clock minus the coordinator's, and the bound of that estimate.
    pub clock_offset_ms: f64,
    pub clock_uncertainty_ms: f64,
    /// When it really started relative to the planned instant, on the coordinator's
    /// clock: its first request's actual send (else the start of its schedule); absent
    /// when it never started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_offset_ms: Option<f64>,
    /// It held its share (no dropped or late sends beyond tolerance) and was not lost.
    pub valid: bool,
    /// Why not, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// The agent's own run folder, when it keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<String>,
}
