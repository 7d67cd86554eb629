//! `evict`: the chosen Ready pods evicted through the Eviction API (`policy/v1`), as
//! `kubectl drain` and the cluster autoscaler do, so PodDisruptionBudgets are honoured. An
//! eviction a budget blocks (429) is recorded and tried again every second until it goes
//! through or the run ends; the window runs from the first eviction until as many pods are
//! Ready as before, as seed 003's "Pod 驱逐" (eviction) recovery expects.
//!
//! ```toml
//! [[kube.fault]]
//! at = "30s"
//! action = "evict"
//! selector = "app=flash-order"
//! mode = "fixed"          # one (default) | fixed | percent, as pod-kill chooses
//! value = 2
//! ```

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{EvictParams, ListParams};
use kube::{Api, ResourceExt};
use toml::Spanned;

use super::pods::{self, Choice};
use super::{Exec, Fault, Record};
use crate::diag::Ctx;

/// How often a blocked eviction is tried again, and the recovery polled.
const RETRY: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(250);

fault_table! {
    /// The table as written.
    struct Raw {
        selector: Option<Spanned<String>>,
        mode: Option<Spanned<String>>,
        value: Option<Spanned<i64>>,
    }
}

/// Evict the chosen Ready pods, within their disruption budget.
#[derive(Debug, Clone, PartialEq)]
pub struct Evict {
    pub pods: Choice,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Fault>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let raw = (&r.selector, &r.mode, &r.value);
    Some(Arc::new(Evict {
        pods: pods::choice(cx, raw, span, field)?,
    }))
}

impl Fault for Evict {
    fn action(&self) -> &'static str {
        "evict"
    }

    fn describe(&self, at: &str) -> String {
        format!(
            "evict {} ({}) at {at}, within their PodDisruptionBudget",
            self.pods.mode, self.pods.selector
        )
    }

    fn target(&self) -> (String, String) {
        (self.pods.selector.clone(), self.pods.mode.to_string())
    }

    fn execute(&self, x: Exec) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(evict(self.clone(), x))
    }
}

/// Whether the API refused the eviction for a disruption budget (429).
fn blocked(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 429)
}

async fn evict(f: Evict, mut x: Exec) {
    let api: Api<Pod> = Api::namespaced(x.client.clone(), &x.namespace);
    let lp = ListParams::default().labels(&f.pods.selector);
    let rec = x.record.clone();
    let mut ready: Vec<Pod> = match api.list(&lp).await {
        Ok(l) => l.items.into_iter().filter(pods::is_ready).collect(),
        Err(e) => {
            Record::lock(&rec)
                .errors
                .push(format!("list pods ({}): {e}", f.pods.selector));
            return;
        }
    };
    let before = ready.len();
    let n = f.pods.mode.count(before);
    fastrand::shuffle(&mut ready);
    let mut pending: Vec<String> = ready.iter().take(n).map(|p| p.name_any()).collect();
    let mut blocks = 0u64;
    {
        let mut r = Record::lock(&rec);
        r.executed_at = Some(x.origin.elapsed());
        r.outcome = "evicted 0".into();
        r.detail
            .push(("ready_before".into(), serde_json::json!(before)));
    }
    while !pending.is_empty() {
        let mut still = Vec::new();
        for name in pending {
            match api.evict(&name, &EvictParams::default()).await {
                Ok(_) => {
                    let mut r = Record::lock(&rec);
                    r.affected.push(name);
                    r.outcome = format!("evicted {}", r.affected.len());
                }
                Err(e) if blocked(&e) => {
                    blocks += 1;
                    still.push(name);
                }
                // Gone already (replaced, scaled down): nothing left to evict.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => Record::lock(&rec)
                    .errors
                    .push(format!("evict pod {name}: {e}")),
            }
        }
        set_blocked(&rec, blocks);
        pending = still;
        if pending.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = x.stop.changed() => {
                let mut r = Record::lock(&rec);
                r.outcome = format!("{}; {} still blocked by their disruption budget when the run ended", r.outcome, pending.len());
                return;
            }
        }
    }
    // Recovery: as many pods Ready as before the evictions.
    loop {
        if let Ok(l) = api.list(&lp).await {
            if l.items.iter().filter(|p| pods::is_ready(p)).count() >= before {
                Record::lock(&rec).recovered_at = Some(x.origin.elapsed());
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = x.stop.changed() => return,
        }
    }
}

/// Keeps the record's count of evictions a disruption budget refused.
fn set_blocked(rec: &std::sync::Mutex<Record>, blocks: u64) {
    let mut r = Record::lock(rec);
    r.detail.retain(|(k, _)| k != "blocked_by_budget");
    if blocks > 0 {
        r.detail
            .push(("blocked_by_budget".into(), serde_json::json!(blocks)));
    }
}
