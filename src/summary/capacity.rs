//! `capacity.json`: the result of `loadctl capacity`: the capacity found, what bounded
//! it, every step with its verdict and figures, the confirming hold, and the requirement a
//! CI gate checks. Versioned like `summary.json`; `report/capacity.rs` renders it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::schema::Status;

pub const CAPACITY_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityResult {
    pub schema_version: u32,
    pub loadctl_version: String,
    pub scenario: String,
    pub target: String,
    /// `pass` (found, and any requirement met), `fail` (requirement not met, the hold
    /// failed, or not even `min` passed), `invalid` (the generator bounded the search),
    /// `interrupted` (partial: the steps so far).
    pub status: Status,
    pub reasons: Vec<String>,
    pub started_at: String,
    /// What the rate counts: `requests` or `iterations` (of a flow) per second.
    pub unit: String,
    /// The highest rate that passed, when one did.
    pub capacity_rps: Option<f64>,
    /// What bounded the search: `slo:<name>` (the first SLO the next rate failed),
    /// `generator` (it could not hold the next rate: the capacity is at least this),
    /// `max` (the highest rate allowed passed), `interrupted`, or `below_min`.
    pub bound: String,
    /// `[passing, failing]` rates the bisection ended between.
    pub bracket: Option<[f64; 2]>,
    pub precision: f64,
    /// With `trials` > 1: each boundary rate's passes out of its runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trials: Vec<Trial>,
    /// A rate that failed although a higher one passed (noise, or a target that degrades).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inversions: Vec<String>,
    pub require: Option<Requirement>,
    pub steps: Vec<Step>,
    /// The sustained run at the capacity (`--hold`).
    pub hold: Option<Step>,
    /// With `[kube]`: the watched HPAs at the capacity's step (ready replicas, by HPA).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replicas_at_capacity: BTreeMap<String, Replicas>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// As written: `>= 5000`.
    pub expr: String,
    pub met: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    pub rate: f64,
    pub passed: u32,
    pub runs: u32,
}

/// One step: a run at one rate, `settle` then `step` judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub index: u32,
    /// `growth`, `bisect`, `trial`, `settle_again` (an HPA still moving) or `hold`.
    pub phase: String,
    /// Offered rate.
    pub rate: f64,
    /// Completed per second of the judged window.
    pub achieved_rps: f64,
    pub status: Status,
    pub pass: bool,
    /// The SLOs that failed, with what they observed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<FailingSlo>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    pub dropped: u64,
    pub send_lag_p99_ms: f64,
    /// Seconds judged (shorter when the step stopped early).
    pub judged_s: f64,
    /// The SLOs could no longer pass, so the step ended before its window did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// The step's own run folder, relative to the search's.
    pub dir: String,
    /// With `[kube]`: each watched HPA at the end of the step.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub replicas: BTreeMap<String, Replicas>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replicas {
    pub desired: u32,
    pub ready: u32,
    pub max_replicas: u32,
    /// Desired replicas changed within `hpa_stable` before or during the judged window.
    pub moving: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailingSlo {
    pub name: String,
    pub threshold: String,
    pub observed: Option<f64>,
    pub unit: String,
}

impl CapacityResult {
    /// The documented exit code: 0 found (and requirement met), 1 not met / hold failed /
    /// nothing passed, 3 generator-bound below what was asked, 130 interrupted.
    pub fn exit_code(&self) -> u8 {
        self.status.exit_code()
    }
}
