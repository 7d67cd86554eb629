//! `pod-kill`: delete Ready pods matching a label selector — one, a fixed number or a
//! share of them — and time the recovery to as many Ready pods as before.
//!
//! ```toml
//! [[kube.fault]]
//! at = "40s"
//! action = "pod-kill"
//! selector = "app=flash-order"
//! mode = "fixed"          # one (default) | fixed | percent
//! value = 2
//! grace_period = "0s"     # default: the pod's own terminationGracePeriodSeconds
//! ```

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, Preconditions};
use kube::{Api, ResourceExt};
use toml::Spanned;

use super::pods::{self, Choice};
use super::{Exec, Fault, Record};
use crate::diag::Ctx;

fault_table! {
    /// The table as written.
    struct Raw {
        selector: Option<Spanned<String>>,
        mode: Option<Spanned<String>>,
        value: Option<Spanned<i64>>,
        grace_period: Option<Spanned<String>>,
    }
}

/// Delete the chosen Ready pods.
#[derive(Debug, Clone, PartialEq)]
pub struct PodKill {
    pub pods: Choice,
    /// `None`: the pod's own terminationGracePeriodSeconds.
    pub grace: Option<Duration>,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Fault>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let raw = (&r.selector, &r.mode, &r.value);
    let pods = pods::choice(cx, raw, span, field);
    let grace = match &r.grace_period {
        Some(g) => Some(cx.duration(g, &format!("{field}.grace_period"))?),
        None => None,
    };
    Some(Arc::new(PodKill { pods: pods?, grace }))
}

impl Fault for PodKill {
    fn action(&self) -> &'static str {
        "pod-kill"
    }

    fn describe(&self, at: &str) -> String {
        format!(
            "pod-kill {} ({}) at {at}{}",
            self.pods.mode,
            self.pods.selector,
            self.grace.map_or(String::new(), |g| format!(
                ", grace {}",
                humantime::format_duration(g)
            ))
        )
    }

    fn target(&self) -> (String, String) {
        (self.pods.selector.clone(), self.pods.mode.to_string())
    }

    fn execute(&self, x: Exec) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(kill(self.clone(), x))
    }
}

/// Deletes the chosen Ready pods (each with a UID precondition), then waits until as many
/// pods are Ready again as before.
async fn kill(f: PodKill, mut x: Exec) {
    let api: Api<Pod> = Api::namespaced(x.client.clone(), &x.namespace);
    let lp = ListParams::default().labels(&f.pods.selector);
    let rec = &x.record;
    let pods = match api.list(&lp).await {
        Ok(l) => l.items,
        Err(e) => {
            Record::lock(rec)
                .errors
                .push(format!("list pods ({}): {e}", f.pods.selector));
            return;
        }
    };
    let mut ready: Vec<Pod> = pods.into_iter().filter(pods::is_ready).collect();
    let n = f.pods.mode.count(ready.len());
    fastrand::shuffle(&mut ready);
    {
        let mut r = Record::lock(rec);
        r.executed_at = Some(x.origin.elapsed());
        r.detail
            .push(("ready_before".into(), serde_json::json!(ready.len())));
        r.outcome = "killed 0".into();
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
        let mut r = Record::lock(rec);
        match res {
            Ok(_) => {
                r.affected.push(name);
                r.outcome = format!("killed {}", r.affected.len());
            }
            Err(e) => r.errors.push(format!("delete pod {name}: {e}")),
        }
    }
    let before = ready.len();
    if n == 0 {
        Record::lock(rec).recovered_at = Some(x.origin.elapsed());
        return;
    }
    // Recovery: as many Ready pods as before the fault.
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = x.stop.changed() => return,
        }
        if let Ok(l) = api.list(&lp).await {
            if l.items.iter().filter(|p| pods::is_ready(p)).count() >= before {
                Record::lock(rec).recovered_at = Some(x.origin.elapsed());
                return;
            }
        }
    }
}
