//! `drain`: what `kubectl drain` does to one node — cordon it (`spec.unschedulable`), then
//! evict its pods (in the run's namespace) through the Eviction API, a PodDisruptionBudget's
//! refusal (429) counted and tried again every second — and uncordon it when the window
//! closes or the run ends, so no node stays cordoned after the run. The node is `node`, or
//! the node of one Ready pod `selector` chooses. The window runs from the cordon until as
//! many pods are Ready in the namespace as before, on the other nodes.
//!
//! ```toml
//! [[kube.fault]]
//! at = "30s"
//! action = "drain"
//! selector = "app=flash-order"   # the node of one of these pods; or node = "worker2"
//! ```

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{EvictParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use toml::Spanned;

use super::{Exec, Fault, Record};
use crate::diag::Ctx;

const RETRY: Duration = Duration::from_secs(1);
const POLL: Duration = Duration::from_millis(250);

fault_table! {
    /// The table as written.
    struct Raw {
        node: Option<Spanned<String>>,
        selector: Option<Spanned<String>>,
    }
}

/// Which node: named, or the node of a pod the selector chooses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Node(String),
    NodeOf(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Drain {
    pub target: Target,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Fault>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let target = match (&r.node, &r.selector) {
        (Some(n), None) if !n.get_ref().trim().is_empty() && n.get_ref().len() <= 253 => {
            Target::Node(n.get_ref().clone())
        }
        (None, Some(s)) if super::pods::valid_selector(s.get_ref()) => {
            Target::NodeOf(s.get_ref().clone())
        }
        (Some(n), Some(_)) => {
            cx.err(
                n.span(),
                format!("{field}.node"),
                "give `node` or `selector` (the node of one of its pods), not both",
            );
            return None;
        }
        (Some(n), None) => {
            cx.err(n.span(), format!("{field}.node"), "a node's name");
            return None;
        }
        (None, Some(s)) => {
            cx.err(
                s.span(),
                format!("{field}.selector"),
                "write a label selector such as \"app=flash-order\" (k=v, k!=v, comma-separated)",
            );
            return None;
        }
        (None, None) => {
            cx.err(
                span,
                format!("{field}.node"),
                "missing; the node to drain (node = \"worker2\"), or selector = \"app=…\" for the node of one of its pods",
            );
            return None;
        }
    };
    Some(Arc::new(Drain { target }))
}

impl Fault for Drain {
    fn action(&self) -> &'static str {
        "drain"
    }

    fn describe(&self, at: &str) -> String {
        match &self.target {
            Target::Node(n) => format!("drain node {n} at {at}"),
            Target::NodeOf(s) => format!("drain the node of one pod ({s}) at {at}"),
        }
    }

    fn target(&self) -> (String, String) {
        match &self.target {
            Target::Node(n) => (format!("node/{n}"), "its pods".into()),
            Target::NodeOf(s) => (s.clone(), "its node's pods".into()),
        }
    }

    fn execute(&self, x: Exec) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(drain(self.target.clone(), x))
    }
}

async fn cordon(nodes: &Api<Node>, name: &str, on: bool) -> Result<(), kube::Error> {
    let patch = serde_json::json!({"spec": {"unschedulable": on}});
    nodes
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

fn ready_on(pods: &[Pod], node: Option<&str>) -> usize {
    pods.iter()
        .filter(|p| super::pods::is_ready(p))
        .filter(|p| {
            node.is_none_or(|n| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(n))
        })
        .count()
}

async fn drain(target: Target, mut x: Exec) {
    let pod_api: Api<Pod> = Api::namespaced(x.client.clone(), &x.namespace);
    let nodes: Api<Node> = Api::all(x.client.clone());
    let rec = x.record.clone();
    let fail = |why: String| Record::lock(&rec).errors.push(why);
    let all = match pod_api.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => return fail(format!("list pods: {e}")),
    };
    let node = match &target {
        Target::Node(n) => n.clone(),
        Target::NodeOf(sel) => {
            let mut chosen: Vec<Pod> = match pod_api.list(&ListParams::default().labels(sel)).await
            {
                Ok(l) => l.items.into_iter().filter(super::pods::is_ready).collect(),
                Err(e) => return fail(format!("list pods ({sel}): {e}")),
            };
            fastrand::shuffle(&mut chosen);
            match chosen
                .iter()
                .find_map(|p| p.spec.as_ref()?.node_name.clone())
            {
                Some(n) => n,
                None => return fail(format!("no Ready pod of {sel} runs on a node")),
            }
        }
    };
    let before = ready_on(&all, None);
    if let Err(e) = cordon(&nodes, &node, true).await {
        return fail(format!("cordon node/{node}: {e}"));
    }
    {
        let mut r = Record::lock(&rec);
        r.executed_at = Some(x.origin.elapsed());
        r.outcome = format!("cordoned node/{node}");
        r.detail.push(("node".into(), serde_json::json!(node)));
        r.detail
            .push(("ready_before".into(), serde_json::json!(before)));
    }
    let mut pending: Vec<String> = all
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.as_str()))
        .map(|p| p.name_any())
        .collect();
    let (recovered, blocks) = evict_and_wait(&pod_api, &mut pending, (&node, before), &mut x).await;
    // Whatever happened, the node takes pods again.
    if let Err(e) = cordon(&nodes, &node, false).await {
        fail(format!("uncordon node/{node}: {e}"));
    }
    let mut r = Record::lock(&rec);
    if blocks > 0 {
        r.detail
            .push(("blocked_by_budget".into(), serde_json::json!(blocks)));
    }
    r.outcome = format!("drained node/{node}: evicted {}", r.affected.len());
    if !pending.is_empty() {
        r.outcome.push_str(&format!(
            "; {} still blocked when the run ended",
            pending.len()
        ));
    }
    if recovered {
        r.recovered_at = Some(x.origin.elapsed());
    }
}

/// Evicts `pending` (retrying what a budget blocks), then waits until `before` pods are
/// Ready off the node. `(recovered, blocked answers)`; `pending` keeps what was left.
async fn evict_and_wait(
    api: &Api<Pod>,
    pending: &mut Vec<String>,
    (node, before): (&str, usize),
    x: &mut Exec,
) -> (bool, u64) {
    let mut blocks = 0;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for name in std::mem::take(pending) {
            match api.evict(&name, &EvictParams::default()).await {
                Ok(_) => Record::lock(&x.record).affected.push(name),
                Err(kube::Error::Api(s)) if s.code == 429 => {
                    blocks += 1;
                    still.push(name);
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => Record::lock(&x.record)
                    .errors
                    .push(format!("evict pod {name}: {e}")),
            }
        }
        *pending = still;
        if pending.is_empty() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = x.stop.changed() => return (false, blocks),
        }
    }
    loop {
        if let Ok(l) = api.list(&ListParams::default()).await {
            if ready_on(&l.items, Some(node)) >= before {
                return (true, blocks);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = x.stop.changed() => return (false, blocks),
        }
    }
}
