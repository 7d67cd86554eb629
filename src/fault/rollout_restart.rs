//! `rollout-restart`: what `kubectl rollout restart` does — the Deployment's pod template
//! gets a `kubectl.kubernetes.io/restartedAt` annotation, so its controller replaces every
//! pod under its `maxSurge`/`maxUnavailable` — and the window stays open until the rollout
//! has completed as `kubectl rollout status` judges it: the controller observed the new
//! generation, every replica is updated and available, and no old one is left. The drill
//! users ask for most: does a rolling deploy drop requests?
//!
//! ```toml
//! [[kube.fault]]
//! at = "30s"
//! action = "rollout-restart"
//! deployment = "flash-order"
//! ```

use std::collections::BTreeSet;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use toml::Spanned;

use super::{Exec, Fault, Record};
use crate::diag::Ctx;

/// How often the Deployment's status is read while the rollout runs.
const POLL: Duration = Duration::from_millis(250);

fault_table! {
    /// The table as written.
    struct Raw {
        deployment: Option<Spanned<String>>,
    }
}

/// Restart every pod of a Deployment, as a rolling update.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRestart {
    pub deployment: String,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Fault>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let name = match &r.deployment {
        Some(d) if dns_name(d.get_ref()) => d.get_ref().clone(),
        Some(d) => {
            cx.err(
                d.span(),
                format!("{field}.deployment"),
                "a Deployment's name: lower-case letters, digits, `-` and `.`, at most 253",
            );
            return None;
        }
        None => {
            cx.err(
                span,
                format!("{field}.deployment"),
                "missing; the Deployment to restart (deployment = \"flash-order\")",
            );
            return None;
        }
    };
    Some(Arc::new(RolloutRestart { deployment: name }))
}

fn dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
}

impl Fault for RolloutRestart {
    fn action(&self) -> &'static str {
        "rollout-restart"
    }

    fn describe(&self, at: &str) -> String {
        format!("rollout-restart deployment/{} at {at}", self.deployment)
    }

    fn target(&self) -> (String, String) {
        (format!("deployment/{}", self.deployment), "all pods".into())
    }

    fn check(&self, client: kube::Client, namespace: String) -> super::Check {
        let name = self.deployment.clone();
        Box::pin(async move {
            Api::<Deployment>::namespaced(client, &namespace)
                .get(&name)
                .await
                .map(|_| ())
                .map_err(|e| format!("cannot read Deployment {namespace}/{name}: {e}"))
        })
    }

    fn execute(&self, x: Exec) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(restart(self.deployment.clone(), x))
    }
}

/// The Deployment's pods not being deleted, by name.
async fn pods(api: &Api<Pod>, selector: &str) -> BTreeSet<String> {
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| {
            l.items
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| p.name_any())
                .collect()
        })
        .unwrap_or_default()
}

/// `kubectl rollout status`'s test: the new generation observed, every replica updated
/// and available, none of the old ones left.
fn complete(d: &Deployment, generation: i64) -> bool {
    let want = d.spec.replicas.unwrap_or(1);
    let Some(s) = &d.status else { return false };
    s.observed_generation.unwrap_or(0) >= generation
        && s.updated_replicas.unwrap_or(0) == want
        && s.replicas.unwrap_or(0) == want
        && s.available_replicas.unwrap_or(0) == want
}

async fn restart(name: String, mut x: Exec) {
    let deployments: Api<Deployment> = Api::namespaced(x.client.clone(), &x.namespace);
    let rec = x.record.clone();
    let fail = |why: String| Record::lock(&rec).errors.push(why);
    let d = match deployments.get(&name).await {
        Ok(d) => d,
        Err(e) => return fail(format!("get deployment/{name}: {e}")),
    };
    let selector = d
        .spec
        .selector
        .match_labels
        .as_ref()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let pod_api: Api<Pod> = Api::namespaced(x.client.clone(), &x.namespace);
    let before = pods(&pod_api, &selector).await;
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": stamp
    }}}}});
    let patched = match deployments
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(d) => d,
        Err(e) => return fail(format!("patch deployment/{name}: {e}")),
    };
    let generation = patched.metadata.generation.unwrap_or(0);
    {
        let mut r = Record::lock(&rec);
        r.executed_at = Some(x.origin.elapsed());
        r.outcome = format!("restarting deployment/{name}");
        r.detail
            .push(("pods_before".into(), serde_json::json!(before.len())));
        r.detail
            .push(("generation".into(), serde_json::json!(generation)));
    }
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = x.stop.changed() => break,
        }
        if let Ok(d) = deployments.get(&name).await {
            if complete(&d, generation) {
                let after = pods(&pod_api, &selector).await;
                let mut r = Record::lock(&rec);
                r.recovered_at = Some(x.origin.elapsed());
                r.affected = before.difference(&after).cloned().collect();
                r.outcome = format!("replaced {} pods", r.affected.len());
                return;
            }
        }
    }
    // The run ended first: say how far the rollout got.
    let after = pods(&pod_api, &selector).await;
    let mut r = Record::lock(&rec);
    r.affected = before.difference(&after).cloned().collect();
    r.outcome = format!(
        "replaced {} of {} pods when the run ended",
        r.affected.len(),
        before.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns_name("flash-order"));
        assert!(!dns_name("Flash"));
        assert!(!dns_name("-x"));
        assert!(!dns_name(""));
    }
}
