//! A distributed run's agents as a Kubernetes Indexed Job (`loadctl run --kube-agents N`):
//! the Job (parallelism = completions = N, `loadctl agent` in each pod, one run then exit),
//! a Secret with the agents' token owned by the Job (so it goes when the Job goes), and
//! the pods found by the Job's label once they are Ready, in completion-index order. The
//! coordinator reaches them through the API server's pod proxy, so it needs nothing but
//! its kubeconfig. The Job is deleted when the run ends; `ttlSecondsAfterFinished` and
//! `activeDeadlineSeconds` remove it even when the coordinator cannot.

use std::time::Duration;

use anyhow::{bail, Context};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::Client;
use serde_json::json;

use super::session::Source;
use crate::scenario::plan::distributed::AgentsJob;

/// The port each agent listens on in its pod.
pub const AGENT_PORT: u16 = 7700;
/// The label that ties a run's objects together.
pub const RUN_LABEL: &str = "loadctl.dev/run";
/// How long the pods may take to be scheduled, pulled and Ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// What the Job is made of.
pub struct Spec<'a> {
    pub job: &'a AgentsJob,
    pub namespace: String,
    pub agents: u32,
    pub token: &'a str,
    /// The run's planned length: the Job's deadline is this plus a margin.
    pub run_length: Duration,
}

/// One agent's pod.
#[derive(Debug, Clone)]
pub struct AgentPod {
    pub namespace: String,
    pub pod: String,
    pub index: u32,
}

/// The created Job; [`Launched::delete`] removes it (and with it the pods and the Secret).
pub struct Launched {
    pub client: Client,
    pub namespace: String,
    pub name: String,
    pub pods: Vec<AgentPod>,
}

/// The Job's manifest.
pub fn manifest(spec: &Spec<'_>, name: &str) -> serde_json::Value {
    let j = spec.job;
    let resources = json!({"cpu": j.cpu, "memory": j.memory});
    let mut pod_spec = json!({
        "restartPolicy": "Never",
        "containers": [{
            "name": "agent",
            "image": j.image,
            "imagePullPolicy": "IfNotPresent",
            "args": ["agent", "--listen", format!("0.0.0.0:{AGENT_PORT}"), "--runs", "1"],
            "ports": [{"name": "agent", "containerPort": AGENT_PORT}],
            "env": [
                {"name": crate::remote::token::ENV,
                 "valueFrom": {"secretKeyRef": {"name": name, "key": "token"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "resources": {"requests": resources, "limits": resources},
            "readinessProbe": {"tcpSocket": {"port": AGENT_PORT}, "periodSeconds": 1},
        }],
    });
    if !j.node_selector.is_empty() {
        pod_spec["nodeSelector"] = j
            .node_selector
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if !j.tolerations.is_empty() {
        pod_spec["tolerations"] = j
            .tolerations
            .iter()
            .map(|(k, v, e)| json!({"key": k, "operator": "Equal", "value": v, "effect": e}))
            .collect::<Vec<_>>()
            .into();
    }
    if j.separate {
        pod_spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "topologyKey": "kubernetes.io/hostname",
            "labelSelector": {"matchLabels": {RUN_LABEL: name}},
        }]}});
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": spec.namespace,
            "labels": {"app.kubernetes.io/name": "loadctl-agent", RUN_LABEL: name},
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.agents,
            "parallelism": spec.agents,
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 60,
            "activeDeadlineSeconds": spec.run_length.as_secs() + 600,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "loadctl-agent", RUN_LABEL: name}},
                "spec": pod_spec,
            },
        },
    })
}

fn index_of(p: &Pod) -> Option<u32> {
    p.metadata
        .annotations
        .as_ref()?
        .get("batch.kubernetes.io/job-completion-index")?
        .parse()
        .ok()
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Creates the Job and its Secret and waits until every agent is Ready.
pub async fn launch(source: &Source, spec: &Spec<'_>) -> anyhow::Result<Launched> {
    let (client, server) = super::session::client(source).await?;
    let name = format!(
        "loadctl-agents-{}",
        crate::remote::unix_ns(std::time::SystemTime::now()) / 1_000_000 % 100_000_000
    );
    let jobs: Api<Job> = Api::namespaced(client.clone(), &spec.namespace);
    let job: Job = serde_json::from_value(manifest(spec, &name)).expect("a valid Job");
    let created = jobs
        .create(&PostParams::default(), &job)
        .await
        .with_context(|| format!("cannot create the agents' Job {}/{name} on {server} (RBAC: k8s-testbed/loadctl-agents-rbac.yaml)", spec.namespace))?;
    let launched = Launched {
        client: client.clone(),
        namespace: spec.namespace.clone(),
        name: name.clone(),
        pods: Vec::new(),
    };
    let uid = created.metadata.uid.clone().unwrap_or_default();
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": name, "namespace": spec.namespace,
            "labels": {RUN_LABEL: name},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid}],
        },
        "stringData": {"token": spec.token},
    }))
    .expect("a valid Secret");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &spec.namespace);
    if let Err(e) = secrets.create(&PostParams::default(), &secret).await {
        launched.delete().await;
        bail!("cannot create the agents' token Secret {name}: {e}");
    }
    match wait_ready(&client, spec, &name).await {
        Ok(pods) => Ok(Launched { pods, ..launched }),
        Err(e) => {
            launched.delete().await;
            Err(e)
        }
    }
}

async fn wait_ready(client: &Client, spec: &Spec<'_>, name: &str) -> anyhow::Result<Vec<AgentPod>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &spec.namespace);
    let lp = ListParams::default().labels(&format!("{RUN_LABEL}={name}"));
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        let list = pods
            .list(&lp)
            .await
            .context("cannot list the agents' pods")?;
        let mut found: Vec<AgentPod> = list
            .items
            .iter()
            .filter(|p| ready(p))
            .filter_map(|p| {
                Some(AgentPod {
                    namespace: spec.namespace.clone(),
                    pod: p.metadata.name.clone()?,
                    index: index_of(p)?,
                })
            })
            .collect();
        found.sort_by_key(|p| p.index);
        found.dedup_by_key(|p| p.index);
        if found.len() == spec.agents as usize {
            return Ok(found);
        }
        if let Some(p) = list
            .items
            .iter()
            .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
        {
            bail!(
                "agent pod {} failed before the run: kubectl logs -n {} {}",
                p.metadata.name.clone().unwrap_or_default(),
                spec.namespace,
                p.metadata.name.clone().unwrap_or_default()
            );
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "{} of {} agent pods Ready after {READY_TIMEOUT:?}: kubectl describe job -n {} {name}",
                found.len(),
                spec.agents,
                spec.namespace
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Launched {
    /// Deletes the Job in the background (its pods and its Secret go with it).
    pub async fn delete(&self) {
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), &self.namespace);
        if let Err(e) = jobs.delete(&self.name, &DeleteParams::background()).await {
            eprintln!(
                "warning: cannot delete the agents' Job {}/{}: {e}; its ttlSecondsAfterFinished removes it",
                self.namespace, self.name
            );
        }
    }
}
