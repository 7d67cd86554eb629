//! The `[kube]` part of a plan: the namespace to watch, what the named HPAs must do during
//! the run, and the faults to inject (one [`FaultAction`] variant per kind of fault).

use std::time::Duration;

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

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KillMode {
    One,
    Fixed(usize),
    /// Percent of the Ready pods, rounded up.
    Percent(u32),
}

impl KillMode {
    /// How many of `ready` pods to kill.
    pub fn count(self, ready: usize) -> usize {
        match self {
            KillMode::One => 1.min(ready),
            KillMode::Fixed(n) => n.min(ready),
            KillMode::Percent(p) => ((ready * p as usize).div_ceil(100)).min(ready),
        }
    }
}

impl std::fmt::Display for KillMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KillMode::One => f.write_str("one pod"),
            KillMode::Fixed(n) => write!(f, "{n} pods"),
            KillMode::Percent(p) => write!(f, "{p}% of pods"),
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

/// One fault: what to do, `at` from the load's start.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    pub at: Duration,
    pub action: FaultAction,
}

/// The kinds of fault loadctl can inject. A new kind is a variant here, its validation in
/// `scenario/validate/kube.rs`, and its execution in a file of its own under `kube/fault/`.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// `pod-kill`: delete Ready pods matching a label selector.
    PodKill(PodKill),
}

impl FaultAction {
    /// The action's name as a scenario writes it (`action = "pod-kill"`).
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::PodKill(_) => "pod-kill",
        }
    }

    /// As a reader would say it: `pod-kill one pod (app=flash-order) at 40s, grace 0s`.
    pub fn describe(&self, at: Duration) -> String {
        match self {
            FaultAction::PodKill(p) => format!(
                "pod-kill {} ({}) at {}{}",
                p.mode,
                p.selector,
                humantime::format_duration(at),
                p.grace.map_or(String::new(), |g| format!(
                    ", grace {}",
                    humantime::format_duration(g)
                ))
            ),
        }
    }
}

/// `pod-kill`: delete Ready pods matching `selector`.
#[derive(Debug, Clone, PartialEq)]
pub struct PodKill {
    pub selector: String,
    pub mode: KillMode,
    /// `None`: the pod's own terminationGracePeriodSeconds.
    pub grace: Option<Duration>,
}
