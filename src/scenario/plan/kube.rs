//! The `[kube]` part of a plan: the namespace to watch, what the named HPAs must do during
//! the run, and the faults to inject (one module of [`crate::fault`] per kind).

use std::sync::Arc;
use std::time::Duration;

use crate::fault::Fault;

/// The SLO scope of the fault windows: `fault.availability`, `fault.p99`.
pub const FAULT_SCOPE: &str = "fault";

#[derive(Debug, Clone, PartialEq)]
pub struct KubePlan {
    pub namespace: String,
    /// Kubeconfig context (`--kube-context` overrides it).
    pub context: Option<String>,
    pub expect: Vec<ExpectPlan>,
    pub faults: Vec<FaultPlan>,
}

impl KubePlan {
    /// The HPAs named by expectations, each once, in order.
    pub fn hpas(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for e in &self.expect {
            if !v.contains(&e.hpa) {
                v.push(e.hpa.clone());
            }
        }
        v
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectPlan {
    pub hpa: String,
    pub expectation: Expectation,
}

impl ExpectPlan {
    /// As a reader would say it: `replicas >= 10 within 120s (decision)`.
    pub fn describe(&self) -> String {
        match self.expectation {
            Expectation::ReplicasAtLeast { n, within, basis } => format!(
                "{} replicas >= {n} within {}",
                match basis {
                    Basis::Decision => "desired",
                    Basis::Capacity => "ready",
                },
                humantime::format_duration(within)
            ),
            Expectation::NeverLimited => {
                "never at maxReplicas (ScalingLimited/TooManyReplicas)".into()
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Decision,
    Capacity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// The basis reaches `n` replicas within `within` of the load's start.
    ReplicasAtLeast {
        n: u32,
        within: Duration,
        basis: Basis,
    },
    /// Never pinned at maxReplicas during the run.
    NeverLimited,
}

/// One fault: what to do, `at` from the load's start. Each kind is a module of
/// [`crate::fault`].
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub at: Duration,
    pub action: Arc<dyn Fault>,
    /// Its SLO scope (`delay.p99`, `delay.recovery_s`): `name`, or its action (numbered
    /// from the second fault of the same action on: `pod-kill-2`).
    pub name: String,
    pub band: RecoveryBand,
}

/// When the traffic after a fault counts as recovered: a second whose p99 is within
/// `p99_factor` times the p99 of the same length before the fault, and whose error rate is
/// within `error_points` of the before's (`recovery_p99`, `recovery_errors`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecoveryBand {
    pub p99_factor: f64,
    pub error_points: f64,
}

impl Default for RecoveryBand {
    fn default() -> Self {
        RecoveryBand {
            p99_factor: 1.5,
            error_points: 0.001,
        }
    }
}

/// Two plans are the same when they read the same: a kind's description names every
/// parameter it was given.
impl PartialEq for FaultPlan {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
            && self.describe() == other.describe()
            && self.name == other.name
            && self.band == other.band
    }
}

impl FaultPlan {
    /// As a reader would say it: `pod-kill one pod (app=flash-order) at 40s, grace 0s`.
    pub fn describe(&self) -> String {
        self.action
            .describe(&humantime::format_duration(self.at).to_string())
    }
}
