//! Faults carried out by Chaos Mesh (`chaos-mesh.org/v1alpha1`): the object a kind
//! describes is created through the API server with loadctl's labels, its injection is
//! confirmed from its status (`AllInjected`) before the window opens, and it is deleted when
//! its time is up or the run ends, whichever comes first, so no chaos outlives the run.
//! Chaos Mesh is what users already run for network and resource faults; loadctl only
//! creates, watches and removes its objects.

use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{json, Value};

use super::pods::{Choice, Mode};
use super::{Exec, Record};

pub const API_VERSION: &str = "chaos-mesh.org/v1alpha1";

/// A Chaos Mesh kind: `NetworkChaos` (`networkchaos`).
pub struct Kind {
    pub kind: &'static str,
    pub plural: &'static str,
}

pub const NETWORK_CHAOS: Kind = Kind {
    kind: "NetworkChaos",
    plural: "networkchaos",
};

pub const STRESS_CHAOS: Kind = Kind {
    kind: "StressChaos",
    plural: "stresschaos",
};

/// How long Chaos Mesh may take to confirm an injection (or a recovery) before loadctl
/// gives up on it and records why.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(200);

fn resource(k: &Kind) -> ApiResource {
    ApiResource {
        group: "chaos-mesh.org".into(),
        version: "v1alpha1".into(),
        api_version: API_VERSION.into(),
        kind: k.kind.into(),
        plural: k.plural.into(),
    }
}

/// Before any load: the cluster serves the kind (Chaos Mesh's CRDs are installed) and lets
/// loadctl list it in `namespace`. The error says what to install or grant.
pub async fn check(client: kube::Client, namespace: &str, k: &Kind) -> Result<(), String> {
    let api: Api<DynamicObject> = Api::namespaced_with(client, namespace, &resource(k));
    match api.list(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Err(format!(
            "the cluster does not serve {} ({API_VERSION}): Chaos Mesh is not installed; install it (README, \"Chaos Mesh in the kind testbed\") or remove the fault",
            k.plural
        )),
        Err(kube::Error::Api(e)) if e.code == 403 => Err(format!(
            "not allowed to manage {}.chaos-mesh.org in namespace {namespace}: grant create, get, list and delete on it (k8s-testbed/chaos/rbac.yaml)",
            k.plural
        )),
        Err(e) => Err(format!("cannot list {}: {e}", k.plural)),
    }
}

/// `selector` and `mode` as Chaos Mesh selects pods: `selector` (label and expression
/// selectors in `namespace`), `mode` and `value`.
pub fn selection(namespace: &str, pods: &Choice) -> Value {
    let mut labels = serde_json::Map::new();
    let mut expressions = Vec::new();
    for req in pods.selector.split(',') {
        if let Some((k, v)) = req.split_once("!=") {
            expressions.push(json!({"key": k.trim(), "operator": "NotIn", "values": [v.trim()]}));
        } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
            labels.insert(k.trim().into(), json!(v.trim()));
        }
    }
    let mut selector = json!({ "namespaces": [namespace], "labelSelectors": labels });
    if !expressions.is_empty() {
        selector["expressionSelectors"] = json!(expressions);
    }
    let (mode, value) = match pods.mode {
        Mode::One => ("one", None),
        Mode::Fixed(n) => ("fixed", Some(n.to_string())),
        Mode::Percent(p) => ("fixed-percent", Some(p.to_string())),
    };
    let mut out = json!({ "selector": selector, "mode": mode });
    if let Some(v) = value {
        out["value"] = json!(v);
    }
    out
}

/// A duration as Go writes one (`1500ms`), for `spec.duration` and netem fields.
pub fn go_duration(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// Whether the object's status has condition `ty` at `True`.
fn condition(o: &DynamicObject, ty: &str) -> bool {
    o.data["status"]["conditions"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

/// The pods an injection reached (`status.experiment.containerRecords[].id`, `ns/pod`).
fn injected(o: &DynamicObject) -> Vec<String> {
    let mut pods: Vec<String> = o.data["status"]["experiment"]["containerRecords"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["id"].as_str())
                .map(|id| id.rsplit('/').next().unwrap_or(id).to_string())
                .collect()
        })
        .unwrap_or_default();
    pods.sort();
    pods.dedup();
    pods
}

/// Creates the object (`spec`, which the kind wrote), waits for Chaos Mesh to confirm the
/// injection (the window opens), keeps it for `hold` of wall-clock time, then deletes it
/// and waits for it to be gone (the window closes). The run's end deletes it earlier.
pub async fn run(k: &Kind, fault: &str, spec: Value, hold: Duration, mut x: Exec) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(x.client.clone(), &x.namespace, &resource(k));
    let name = format!("loadctl-{fault}-{:08x}", fastrand::u32(..));
    let mut obj = DynamicObject::new(&name, &resource(k)).within(&x.namespace);
    obj.metadata.labels = Some(
        [
            ("app.kubernetes.io/managed-by", "loadctl"),
            ("loadctl.io/fault", fault),
        ]
        .into_iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect(),
    );
    obj.data = json!({ "spec": spec });
    let rec = x.record.clone();
    if let Err(e) = api.create(&PostParams::default(), &obj).await {
        Record::lock(&rec)
            .errors
            .push(format!("create {}/{name}: {e}", k.plural));
        return;
    }
    {
        let mut r = Record::lock(&rec);
        r.outcome = format!("created {}/{name}", k.plural);
        r.detail
            .push(("object".into(), json!(format!("{}/{name}", k.plural))));
    }
    let outcome = confirm_and_hold(&api, &name, hold, &mut x).await;
    // However it went, the chaos ends with the fault.
    let _ = api.delete(&name, &DeleteParams::default()).await;
    if let Err(why) = outcome {
        Record::lock(&rec).errors.push(why);
        return;
    }
    if Record::lock(&rec).executed_at.is_none() {
        // The run ended before the injection was confirmed: no window to close.
        return;
    }
    let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
    while tokio::time::Instant::now() < deadline {
        match api.get_opt(&name).await {
            Ok(None) => {
                let mut r = Record::lock(&rec);
                r.recovered_at = Some(x.origin.elapsed());
                r.outcome = format!("injected and removed {}/{name}", k.plural);
                return;
            }
            Ok(Some(_)) | Err(_) => tokio::time::sleep(POLL).await,
        }
    }
    Record::lock(&rec).errors.push(format!(
        "{}/{name} was still there {CONFIRM_TIMEOUT:?} after its deletion",
        k.plural
    ));
}

/// Waits for `AllInjected`, records the window's start and the pods, then holds.
/// `Err` says why the chaos never took effect; `Ok` also when the run ended first.
async fn confirm_and_hold(
    api: &Api<DynamicObject>,
    name: &str,
    hold: Duration,
    x: &mut Exec,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
    loop {
        match api.get_opt(name).await {
            Ok(Some(o)) if condition(&o, "AllInjected") => {
                let mut r = Record::lock(&x.record);
                r.executed_at = Some(x.origin.elapsed());
                r.affected = injected(&o);
                r.outcome = format!("injected into {}", r.affected.len());
                break;
            }
            Ok(None) => return Err(format!("{name} vanished before it was injected")),
            _ if tokio::time::Instant::now() >= deadline => {
                return Err(format!(
                    "{name} not injected within {CONFIRM_TIMEOUT:?} (no AllInjected condition): is the Chaos Mesh controller running?"
                ))
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = x.stop.changed() => return Ok(()),
        }
    }
    tokio::select! {
        _ = tokio::time::sleep(hold) => {}
        _ = x.stop.changed() => {}
    }
    Ok(())
}
