//! `[distributed]`: the tolerances a run over several agents is judged by (how far apart
//! they may start, how long one may stay silent) and, in `[distributed.kubernetes]`, the
//! Indexed Job `--kube-agents N` creates. A run on one machine ignores it.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct DistributedPlan {
    /// Agents whose schedules began further apart than this make the run invalid.
    pub start_tolerance: Duration,
    /// An agent that sends nothing (not even its heartbeat) this long is lost.
    pub heartbeat_timeout: Duration,
    pub kubernetes: AgentsJob,
}

impl Default for DistributedPlan {
    fn default() -> Self {
        DistributedPlan {
            start_tolerance: Duration::from_millis(100),
            heartbeat_timeout: Duration::from_secs(3),
            kubernetes: AgentsJob::default(),
        }
    }
}

/// The agents' Job.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentsJob {
    /// Default: the `[kube]` namespace, else `default`.
    pub namespace: Option<String>,
    pub image: String,
    pub node_selector: Vec<(String, String)>,
    /// Required pod anti-affinity: no two agents on one node.
    pub separate: bool,
    /// Taints the agents tolerate: `(key, value, effect)`, written `key=value:Effect`.
    pub tolerations: Vec<(String, String, String)>,
    /// Requests = limits, so an agent's CPU is its own.
    pub cpu: String,
    pub memory: String,
}

/// The image a Job runs unless the scenario names one: this version's.
pub const DEFAULT_IMAGE: &str = concat!("ghcr.io/loadctl/loadctl:", env!("CARGO_PKG_VERSION"));

impl Default for AgentsJob {
    fn default() -> Self {
        AgentsJob {
            namespace: None,
            image: DEFAULT_IMAGE.into(),
            node_selector: Vec::new(),
            separate: true,
            tolerations: Vec::new(),
            cpu: "2".into(),
            memory: "1Gi".into(),
        }
    }
}
