//! The `summary.json` schema: the versioned machine-readable result of a run.
//!
//! The structs both serialise and deserialise with `deny_unknown_fields`, so a round trip
//! in the tests pins the schema: adding a field is a deliberate, visible change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::LatencyStats;
pub use crate::scenario::plan::load::LoadModel;
use crate::slo::checks::CheckResult;
use crate::slo::SloResult;
pub use crate::slo::Status;

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub schema_version: u32,
    pub loadctl_version: String,
    pub scenario: String,
    pub description: String,
    pub status: Status,
    /// Why the status is not `pass`, one line each.
    pub reasons: Vec<String>,
    /// The load stopped before its window ended because the SLOs could no longer pass
    /// (`loadctl capacity` steps): why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Length of the measured window (warmup excluded).
    pub duration_s: f64,
    pub warmup_s: f64,
    pub target: String,
    pub load: LoadSummary,
    pub totals: Totals,
    /// Declared outcomes over all requests (`sold_out`: n), when the scenario names any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<String, u64>,
    /// From the intended start in the open model (coordinated omission corrected).
    pub latency_ms: LatencyStats,
    /// From the actual send.
    pub service_latency_ms: LatencyStats,
    /// All requests' time by phase (`dns`, `connect`, `tls`, `ttfb`, `download`): only the
    /// phases that occurred; handshake phases count the requests that opened a connection.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases_ms: BTreeMap<String, LatencyStats>,
    /// The protocol spoken and what the connections cost (HTTP runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<super::connection::TransportSummary>,
    pub endpoints: Vec<EndpointSummary>,
    pub slo: Vec<SloResult>,
    pub generator: GeneratorSummary,
    /// Present when the run was compared with a baseline (`--baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<super::comparison::Comparison>,
    /// Post-run `[[verify]]` checks, one entry per check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verify: Vec<CheckResult>,
    /// Things a reader should know that do not change the status (a feeder ran out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// WebSocket chat runs: connections, messages, loss, disconnects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<WsSummary>,
    /// Kubernetes: the watched HPAs, the expectations and the faults (`[kube]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube: Option<super::kube::KubeSummary>,
    /// The target's own metrics beside loadctl's (`[[prometheus.scrape]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prometheus: Vec<super::prometheus::PrometheusSummary>,
    /// Which backend served the answers, and the affinity check (`[balance]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<super::balance::BalanceSummary>,
    /// A distributed run (`--agents`, `--kube-agents`): the start, and each agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distributed: Option<super::distributed::DistributedSummary>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<super::distributed::AgentSummary>,
    /// Each live exporter: what it delivered and lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<super::exports::ExportSummary>,
}

/// A chat run's counters (latencies are the `connect`, `publish`, `delivery` and `fanout`
/// endpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WsSummary {
    /// Planned connections.
    pub connections: u64,
    /// Connections that opened and joined their group.
    pub connected: u64,
    pub groups: u64,
    pub members: u64,
    /// Messages published.
    pub published: u64,
    /// Deliveries owed: per message, the members joined when it was sent, less the sender.
    pub expected: u64,
    /// Distinct deliveries received.
    pub delivered: u64,
    /// Owed deliveries not received by the end of the grace period.
    pub lost: u64,
    /// `lost / expected`.
    pub loss_rate: f64,
    pub duplicates: u64,
    /// Deliveries that arrived after a later message of their group.
    pub out_of_order: u64,
    /// Closes the gateway initiated during the run, by close code.
    pub disconnects: BTreeMap<String, u64>,
    /// Frames without loadctl's marker (presence, heartbeats, acks), or of another group.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other: u64,
    /// Markers that did not parse.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub corrupt: u64,
    /// Own messages the server echoed back (not deliveries; their latency is `echo`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub echoes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSummary {
    pub model: LoadModel,
    /// Open model: peak planned arrival rate.
    pub peak_rate: Option<f64>,
    /// Open model: requests the schedule plans in the measured window.
    pub planned_requests: Option<u64>,
    pub connections: Option<u64>,
    pub max_in_flight: Option<u64>,
    pub vus: Option<u64>,
    pub iterations: Option<u64>,
    pub think_time_ms: Option<f64>,
    pub timeout_ms: f64,
    /// Names of the flow's steps when an iteration is a flow (then the rate, the plan and
    /// `iterations` count iterations, not requests).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_steps: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub availability: f64,
    pub rps: f64,
    pub dropped: u64,
    pub bytes_received: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSummary {
    pub name: String,
    pub method: String,
    /// The path template as written (environment values never appear here).
    pub path: String,
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub availability: f64,
    pub rps: f64,
    pub dropped: u64,
    pub bytes_received: u64,
    pub latency_ms: LatencyStats,
    pub service_latency_ms: LatencyStats,
    pub status_codes: BTreeMap<String, u64>,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Answers that matched a declared outcome, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub outcomes: BTreeMap<String, u64>,
    /// Flow steps not sent because an earlier step of their iteration did not succeed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Requests that could not be built from their templates (a feeder or environment value
    /// made the path or a header invalid): never sent, not counted against the target.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub request_invalid: u64,
    /// Open model: due in the window but still waiting for a connection when it closed:
    /// never sent, not counted as requests (the target held every connection).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unsent: u64,
    /// This request's time by phase, as [`Summary::phases_ms`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases_ms: BTreeMap<String, LatencyStats>,
    /// Connections this request's sends opened, resumed sessions, TLS failures by reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<super::connection::ConnSummary>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorSummary {
    pub threads: u64,
    /// Generator lateness (open model): intended start → send, minus waiting for a connection.
    pub send_lag_p50_ms: f64,
    pub send_lag_p99_ms: f64,
    pub send_lag_max_ms: f64,
    /// Time due requests waited for a free connection (target back-pressure).
    pub queue_wait_p99_ms: f64,
    pub peak_in_flight: u64,
    pub dropped: u64,
    pub dropped_ratio: f64,
    /// Tolerances that make a run invalid.
    pub max_dropped_ratio: f64,
    pub max_send_lag_p99_ms: f64,
    pub valid: bool,
}
