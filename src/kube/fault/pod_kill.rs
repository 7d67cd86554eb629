//! `pod-kill`: delete Ready pods matching a label selector — one, a fixed number or a
//! share of them — and time the recovery to as many Ready pods as before.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use super::FaultRecord;
use crate::scenario::plan::kube::PodKill;

/// Deletes the chosen Ready pods (each with a UID precondition), then waits until as many
/// pods are Ready again as before.
pub(super) async fn run(
    client: Client,
    namespace: &str,
    f: &PodKill,
    origin: Instant,
    rec: &Mutex<FaultRecord>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let lp = ListParams::default().labels(&f.selector);
    let pods = match api.list(&lp).await {
        Ok(l) => l.items,
        Err(e) => {
            rec.lock()
                .unwrap()
                .errors
                .push(format!("list pods ({}): {e}", f.selector));
            return;
        }
    };
    let mut ready: Vec<Pod> = pods.into_iter().filter(is_ready).collect();
    let n = f.mode.count(ready.len());
    fastrand::shuffle(&mut ready);
    {
        let mut r = rec.lock().unwrap();
        r.executed_at = Some(origin.elapsed());
        r.ready_before = ready.len();
    }
    for p in ready.iter().take(n) {
        let dp = DeleteParams {
            grace_period_seconds: f.grace.map(|g| g.as_secs() as u32),
            // Only the pod that was chosen: not a replacement that took its name.
            preconditions: Some(Preconditions {
                uid: p.metadata.uid.clone(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let name = p.name_any();
        let res = api.delete(&name, &dp).await;
        let mut r = rec.lock().unwrap();
        match res {
            Ok(_) => r.killed.push(name),
            Err(e) => r.errors.push(format!("delete pod {name}: {e}")),
        }
    }
    let before = ready.len();
    if n == 0 {
        rec.lock().unwrap().recovered_at = Some(origin.elapsed());
        return;
    }
    // Recovery: as many Ready pods as before the fault.
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => return,
        }
        if let Ok(l) = api.list(&lp).await {
            if l.items.iter().filter(|p| is_ready(p)).count() >= before {
                rec.lock().unwrap().recovered_at = Some(origin.elapsed());
                return;
            }
        }
    }
}

fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
