//! The `balance` section of `summary.json` (`[balance]`): each backend's share of the
//! answers with its latency and errors, how uneven the shares were overall and second by
//! second, how soon each replica that became Ready during the run got traffic and its
//! fair share, and the affinity check.

use serde::{Deserialize, Serialize};

/// What the run saw of its backends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSummary {
    /// Where answers named their backend (`header x-served-by`).
    pub source: String,
    /// Whether any answer named one: when none did, every figure below is unknown, never
    /// "perfectly even".
    pub known: bool,
    /// What the reader should know (the header missing from some answers, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Answers in the measured window, and those that named no backend.
    pub answered: u64,
    pub unnamed: u64,
    pub backends: Vec<BackendSummary>,
    /// The busiest backend's requests over what a fair share of its time in service would
    /// have given it (1 = even).
    pub imbalance: Option<f64>,
    /// The coefficient of variation of the same ratios across backends.
    pub cv: Option<f64>,
    /// Per second: the busiest backend's share over a fair share of that second.
    pub imbalance_per_second: Option<PerSecond>,
    /// How a fair share was counted: `ready pods` (watching Kubernetes) or `backends seen`.
    pub fair_over: String,
    /// The band within which a share counts as fair (0.2: at least 80 % of fair).
    pub band: f64,
    /// Replicas that became Ready during the run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_replicas: Vec<NewReplica>,
    /// The slowest new replica to its first request and to its fair share (`None` when one
    /// never got there, or none became Ready).
    pub new_replica_first_request_s: Option<f64>,
    pub new_replica_fair_share_s: Option<f64>,
    /// Requests per backend per second, in `backends` order: the share chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seconds: Vec<BalanceSecond>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<AffinitySummary>,
}

/// One backend over the measured window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSummary {
    pub name: String,
    pub requests: u64,
    /// Of the answers that named a backend.
    pub share: f64,
    /// Requests over a fair share of its time in service.
    pub ratio: Option<f64>,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Seconds from the measured window's start of its first and last answer.
    pub first_s: Option<i64>,
    pub last_s: Option<i64>,
}

/// A figure over the run's seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerSecond {
    pub p50: f64,
    pub max: f64,
}

/// A replica that became Ready during the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReplica {
    pub pod: String,
    /// Seconds from the load's start.
    pub ready_s: f64,
    /// Seconds from Ready to its first answer, and to its first second at a fair share
    /// (within the band); `None`: never during the run.
    pub first_request_s: Option<f64>,
    pub fair_share_s: Option<f64>,
}

/// Requests per backend in one second.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceSecond {
    /// Seconds from the measured window's start.
    pub t: i64,
    pub counts: Vec<u64>,
    /// Backends in service that second (Ready pods, or backends seen).
    pub in_service: u32,
}

/// The affinity check: one client, one backend.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AffinitySummary {
    /// `client-ip`, `cookie:NAME` or `header:NAME`.
    pub mode: String,
    pub clients: u64,
    /// Clients answered by a second backend while their first still served others.
    pub violations: u64,
    /// Clients beyond what the check follows (counted, not judged).
    pub untracked: u64,
    /// A few violations, as `client: a (s 3–40) → b (s 12–60)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<String>,
}
