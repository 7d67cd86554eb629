//! Faults injected during a run: one [`FaultAction`] variant per kind, one file each here.
//! [`run`] waits for the fault's time, carries it out and records what it did and when
//! the system recovered; the fault window (execution to recovery) is what the `fault.`
//! SLO scope judges. `pod-kill` is the first kind.

mod pod_kill;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;

use crate::scenario::plan::kube::{FaultAction, FaultPlan};

/// What one fault did.
#[derive(Debug, Clone, Default)]
pub struct FaultRecord {
    /// When the pods were chosen, since the load's start.
    pub executed_at: Option<Duration>,
    pub ready_before: usize,
    pub killed: Vec<String>,
    pub errors: Vec<String>,
    /// When as many pods were Ready again as before, since the load's start.
    pub recovered_at: Option<Duration>,
}

/// Carries out `f` at `origin + f.at` in `namespace`, unless `stop` comes first.
pub(super) async fn run(
    client: Client,
    namespace: String,
    f: FaultPlan,
    origin: Instant,
    rec: Arc<Mutex<FaultRecord>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tokio::select! {
        _ = tokio::time::sleep_until((origin + f.at).into()) => {}
        _ = stop.changed() => return,
    }
    match &f.action {
        FaultAction::PodKill(p) => pod_kill::run(client, &namespace, p, origin, &rec, stop).await,
    }
}

/// How the summary names a fault's target: `(action, selector, mode)`.
pub fn target(a: &FaultAction) -> (String, String, String) {
    match a {
        FaultAction::PodKill(p) => (a.name().into(), p.selector.clone(), p.mode.to_string()),
    }
}
