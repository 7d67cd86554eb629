//! The `kube` section of `summary.json`: per HPA its replica timeline and what it shows,
//! the expectations, the faults and the traffic inside their windows.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

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
    /// What it acted on (pod names), and in a few words what it did (`killed 1`).
    pub affected: Vec<String>,
    pub outcome: String,
    /// Its kind's own figures (`ready_before` of pod-kill).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub detail: IndexMap<String, serde_json::Value>,
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
    /// Its SLO scope (`delay.p99`): the fault's `name`, or its action.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The same length of traffic just before the window, the window, and the same length
    /// just after it (whole seconds of the measured window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Stretch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during: Option<Stretch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Stretch>,
    /// Seconds from the window's end until each second's p99 and error rate were back in
    /// the band of `before` (`recovery_band`); `None` if they never were in the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_s: Option<f64>,
    /// `[p99 factor, error-rate points]` the recovery was judged by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_band: Option<[f64; 2]>,
}

/// Traffic in one stretch of the run around a fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stretch {
    pub start_s: f64,
    pub end_s: f64,
    pub requests: u64,
    pub availability: Option<f64>,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub rps: f64,
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
