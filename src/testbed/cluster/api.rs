//! The Kubernetes API subset of the simulated control plane: list (with field and label
//! selectors), watch (resuming from a resourceVersion, `410 Gone` once it has been
//! compacted away, closing at `timeoutSeconds`), get, and delete of a Pod with a UID
//! precondition. Answers are shaped as the API server's: `*List` objects with a
//! collection resourceVersion, newline-delimited watch events, `Status` errors.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::{Cluster, Kind, NAMESPACE};

/// An API error, answered as a `Status`.
#[derive(Debug)]
pub struct Refusal {
    code: StatusCode,
    reason: &'static str,
    message: String,
}

impl Refusal {
    pub fn not_found(resource: &str, name: &str) -> Refusal {
        Refusal {
            code: StatusCode::NOT_FOUND,
            reason: "NotFound",
            message: format!("{resource} \"{name}\" not found"),
        }
    }
    pub fn conflict(message: String) -> Refusal {
        Refusal {
            code: StatusCode::CONFLICT,
            reason: "Conflict",
            message,
        }
    }
    pub fn too_many_requests(message: String) -> Refusal {
        Refusal {
            code: StatusCode::TOO_MANY_REQUESTS,
            reason: "TooManyRequests",
            message,
        }
    }
    fn bad_request(message: String) -> Refusal {
        Refusal {
            code: StatusCode::BAD_REQUEST,
            reason: "BadRequest",
            message,
        }
    }
    fn gone(message: String) -> Refusal {
        Refusal {
            code: StatusCode::GONE,
            reason: "Expired",
            message,
        }
    }
    fn status(&self) -> Value {
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code.as_u16(),
        })
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.code, axum::Json(self.status())).into_response()
    }
}

impl Kind {
    fn list_kind(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Hpa => (
                "autoscaling/v2",
                "HorizontalPodAutoscalerList",
                "horizontalpodautoscalers.autoscaling",
            ),
            Kind::Deployment => ("apps/v1", "DeploymentList", "deployments.apps"),
            Kind::Pod => ("v1", "PodList", "pods"),
        }
    }
}

/// `fieldSelector` (by name) and `labelSelector` (equality), as the watchers use them.
#[derive(Debug, Default)]
struct Filter {
    name: Option<String>,
    labels: Vec<(String, bool, String)>,
}

impl Filter {
    fn parse(q: &HashMap<String, String>) -> Result<Filter, Refusal> {
        let mut f = Filter::default();
        let pairs = |s: &str| -> Result<Vec<(String, bool, String)>, Refusal> {
            s.split(',')
                .filter(|t| !t.trim().is_empty())
                .map(|t| {
                    let (k, eq, v) = if let Some((k, v)) = t.split_once("!=") {
                        (k, false, v)
                    } else if let Some((k, v)) = t.split_once("==") {
                        (k, true, v)
                    } else if let Some((k, v)) = t.split_once('=') {
                        (k, true, v)
                    } else {
                        return Err(Refusal::bad_request(format!(
                            "unable to parse requirement `{t}`: only equality selectors are served here"
                        )));
                    };
                    Ok((k.trim().to_string(), eq, v.trim().to_string()))
                })
                .collect()
        };
        if let Some(fs) = q.get("fieldSelector") {
            for (k, eq, v) in pairs(fs)? {
                match (k.as_str(), eq) {
                    ("metadata.name", true) => f.name = Some(v),
                    ("metadata.namespace", true) if v == NAMESPACE => {}
                    ("metadata.namespace", true) => f.name = Some(String::new()),
                    _ => {
                        return Err(Refusal::bad_request(format!(
                            "field label not supported: {k}"
                        )))
                    }
                }
            }
        }
        if let Some(ls) = q.get("labelSelector") {
            f.labels = pairs(ls)?;
        }
        Ok(f)
    }

    fn matches(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.name.as_deref().is_none_or(|n| n == name)
            && self
                .labels
                .iter()
                .all(|(k, eq, v)| (labels.get(k) == Some(v)) == *eq)
    }
}

/// The current objects of a kind: `(name, labels, object)`.
/// `(name, labels, object)`.
type Item = (String, BTreeMap<String, String>, Value);

fn snapshot(c: &Cluster, kind: Kind) -> (u64, Vec<Item>) {
    let st = c.state.lock().unwrap();
    let item = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, v: Value| {
        (
            m.name.clone().unwrap_or_default(),
            m.labels.clone().unwrap_or_default(),
            v,
        )
    };
    let items = match kind {
        Kind::Hpa => vec![item(&st.hpa.metadata, json!(st.hpa))],
        Kind::Deployment => vec![item(&st.deployment.metadata, json!(st.deployment))],
        Kind::Pod => st
            .pods
            .values()
            .map(|p| item(&p.pod.metadata, json!(p.pod)))
            .chain(c.jobs.pods(NAMESPACE))
            .collect(),
    };
    (st.rv, items)
}

async fn collection(
    kind: Kind,
    c: Arc<Cluster>,
    ns: String,
    q: HashMap<String, String>,
) -> Result<Response, Refusal> {
    let filter = Filter::parse(&q)?;
    if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return watch(kind, c, ns, filter, &q);
    }
    let (rv, items) = snapshot(&c, kind);
    let items: Vec<Value> = if ns == NAMESPACE {
        items
            .into_iter()
            .filter(|(n, l, _)| filter.matches(n, l))
            .map(|(_, _, v)| v)
            .collect()
    } else {
        Vec::new()
    };
    let (api_version, list_kind, _) = kind.list_kind();
    Ok(axum::Json(json!({
        "apiVersion": api_version, "kind": list_kind,
        "metadata": {"resourceVersion": rv.to_string()},
        "items": items,
    }))
    .into_response())
}

fn watch(
    kind: Kind,
    c: Arc<Cluster>,
    ns: String,
    filter: Filter,
    q: &HashMap<String, String>,
) -> Result<Response, Refusal> {
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let from = q.get("resourceVersion").map(String::as_str).unwrap_or("");
    let wanted = move |k: Kind, name: &str, labels: &BTreeMap<String, String>| {
        k == kind && ns == NAMESPACE && filter.matches(name, labels)
    };

    let (first, mut live) = if from.is_empty() || from == "0" {
        // "Any" version: the current state as ADDED events, then the changes after it.
        // Subscribed first: a change between the two is delivered (it is newer than the
        // snapshot), not lost.
        let live = c.events.subscribe();
        let (rv, items) = snapshot(&c, kind);
        let first: Vec<Bytes> = items
            .into_iter()
            .filter(|(name, labels, _)| wanted(kind, name, labels))
            .map(|(_, _, obj)| {
                let mut line = serde_json::to_vec(&json!({"type": "ADDED", "object": obj}))
                    .expect("serializes");
                line.push(b'\n');
                Bytes::from(line)
            })
            .collect();
        (Ok((first, rv)), live)
    } else {
        let n: u64 = from.parse().map_err(|_| {
            Refusal::bad_request(format!("resourceVersion `{from}` is not a number"))
        })?;
        let st = c.state.lock().unwrap();
        // Subscribing under the lock: no change can fall between the replay and the feed.
        let live = c.events.subscribe();
        let oldest = st.history.front().map_or(st.rv + 1, |s| s.rv);
        if n + 1 < oldest && n < st.rv {
            (
                Err(Refusal::gone(format!(
                    "too old resource version: {n} ({})",
                    oldest - 1
                ))),
                live,
            )
        } else {
            let replay = st
                .history
                .iter()
                .filter(|s| s.rv > n && wanted(s.kind, &s.name, &s.labels))
                .map(|s| s.line.clone())
                .collect();
            (Ok((replay, st.rv)), live)
        }
    };

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let (lines, after) = match first {
            Ok(v) => v,
            Err(gone) => {
                // As the API server does: a 200 stream carrying one ERROR event.
                let mut line =
                    serde_json::to_vec(&json!({"type": "ERROR", "object": gone.status()}))
                        .expect("serializes");
                line.push(b'\n');
                let _ = tx.send(line.into()).await;
                return;
            }
        };
        for l in lines {
            if tx.send(l).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                ev = live.recv() => match ev {
                    Ok(s) if s.rv > after && wanted(s.kind, &s.name, &s.labels) => {
                        if tx.send(s.line.clone()).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let gone = Refusal::gone("watch fell behind; re-list".into());
                        let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": gone.status()}))
                            .expect("serializes");
                        line.push(b'\n');
                        let _ = tx.send(line.into()).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [("content-type", "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

async fn one(kind: Kind, c: Arc<Cluster>, ns: String, name: String) -> Result<Response, Refusal> {
    let (_, items) = snapshot(&c, kind);
    let (_, _, resource) = kind.list_kind();
    items
        .into_iter()
        .find(|(n, _, _)| ns == NAMESPACE && *n == name)
        .map(|(_, _, v)| axum::Json(v).into_response())
        .ok_or_else(|| Refusal::not_found(resource, &name))
}

async fn delete_pod(
    State(c): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, Refusal> {
    if ns != NAMESPACE {
        return Err(Refusal::not_found("pods", &name));
    }
    let opts: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Refusal::bad_request(format!("DeleteOptions: {e}")))?
    };
    let grace = opts
        .get("gracePeriodSeconds")
        .and_then(Value::as_u64)
        .or_else(|| q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()))
        // The pod spec's default terminationGracePeriodSeconds.
        .unwrap_or(30);
    let uid = opts.pointer("/preconditions/uid").and_then(Value::as_str);
    let pod = c.delete_pod(&name, uid, Duration::from_secs(grace))?;
    Ok(axum::Json(pod).into_response())
}

/// `POST pods/{name}/eviction` (`policy/v1` Eviction), within flash-order's
/// PodDisruptionBudget.
async fn evict_pod(
    State(c): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Result<Response, Refusal> {
    if ns != NAMESPACE {
        return Err(Refusal::not_found("pods", &name));
    }
    c.evict_pod(&name)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})),
    )
        .into_response())
}

/// The workers: list, get, and a merge PATCH of `spec.unschedulable` (a cordon).
mod nodes {
    use super::*;

    pub async fn list(State(c): State<Arc<Cluster>>) -> Response {
        axum::Json(
            json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": c.nodes()}),
        )
        .into_response()
    }

    pub async fn one(
        State(c): State<Arc<Cluster>>,
        Path(name): Path<String>,
    ) -> Result<Response, Refusal> {
        c.nodes()
            .into_iter()
            .find(|n| n["metadata"]["name"] == name.as_str())
            .map(|n| axum::Json(n).into_response())
            .ok_or_else(|| Refusal::not_found("nodes", &name))
    }

    pub async fn patch(
        State(c): State<Arc<Cluster>>,
        Path(name): Path<String>,
        body: Bytes,
    ) -> Result<Response, Refusal> {
        let patch: Value = serde_json::from_slice(&body)
            .map_err(|e| Refusal::bad_request(format!("the patch is not JSON: {e}")))?;
        let on = patch
            .pointer("/spec/unschedulable")
            .and_then(Value::as_bool)
            .ok_or_else(|| {
                Refusal::bad_request(
                    "the simulated API patches a node's spec.unschedulable only (a cordon)".into(),
                )
            })?;
        c.set_unschedulable(&name, on)
            .map(|n| axum::Json(n).into_response())
            .ok_or_else(|| Refusal::not_found("nodes", &name))
    }
}

/// A merge (or strategic merge) PATCH of the Deployment: only its pod template's
/// annotations, as `kubectl rollout restart` sends, which starts a rolling update.
async fn patch_deployment(
    State(c): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Refusal> {
    if ns != NAMESPACE || name != super::objects::DEPLOYMENT {
        return Err(Refusal::not_found("deployments.apps", &name));
    }
    let patch: Value = serde_json::from_slice(&body)
        .map_err(|e| Refusal::bad_request(format!("the patch is not JSON: {e}")))?;
    let annotations = patch
        .pointer("/spec/template/metadata/annotations")
        .and_then(Value::as_object)
        .filter(|_| patch.as_object().is_some_and(|o| o.len() == 1))
        .ok_or_else(|| {
            Refusal::bad_request(
                "the simulated API patches spec.template.metadata.annotations only (kubectl rollout restart)".into(),
            )
        })?;
    Ok(axum::Json(c.patch_template_annotations(annotations)).into_response())
}

/// `chaos-mesh.org/v1alpha1` NetworkChaos and StressChaos: create, list, get, delete.
mod chaos_mesh {
    use super::*;

    type Failure = (u16, &'static str, String);

    fn answer(r: Result<Value, Failure>, ok: StatusCode) -> Response {
        match r {
            Ok(v) => (ok, axum::Json(v)).into_response(),
            Err((code, reason, message)) => Refusal {
                code: StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                reason,
                message,
            }
            .into_response(),
        }
    }

    /// A kind this simulation serves, or the 404 of an uninstalled CRD.
    fn served(plural: &str) -> Result<(), Refusal> {
        if super::super::chaos::KINDS.iter().any(|(p, _)| *p == plural) {
            Ok(())
        } else {
            Err(Refusal::not_found("resources", plural))
        }
    }

    fn missing(plural: &str, name: &str) -> Failure {
        (
            404,
            "NotFound",
            format!("{plural}.chaos-mesh.org \"{name}\" not found"),
        )
    }

    pub async fn create(
        State(c): State<Arc<Cluster>>,
        Path((ns, plural)): Path<(String, String)>,
        b: Bytes,
    ) -> Response {
        if let Err(r) = served(&plural) {
            return r.into_response();
        }
        if ns != NAMESPACE {
            return Refusal::not_found("namespaces", &ns).into_response();
        }
        let obj: Value = match serde_json::from_slice(&b) {
            Ok(v) => v,
            Err(e) => {
                return Refusal::bad_request(format!("the body is not JSON: {e}")).into_response()
            }
        };
        let pods = c.ready_labels();
        answer(
            c.chaos.create((&ns, &plural), obj, &pods, c.now_sim()),
            StatusCode::CREATED,
        )
    }

    pub async fn list(
        State(c): State<Arc<Cluster>>,
        Path((ns, plural)): Path<(String, String)>,
    ) -> Response {
        if let Err(r) = served(&plural) {
            return r.into_response();
        }
        let items = if ns == NAMESPACE {
            c.chaos.list(&plural)
        } else {
            Vec::new()
        };
        axum::Json(json!({"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "List", "metadata": {}, "items": items}))
            .into_response()
    }

    pub async fn get(
        State(c): State<Arc<Cluster>>,
        Path((_, plural, name)): Path<(String, String, String)>,
    ) -> Response {
        let r = c
            .chaos
            .get(&plural, &name)
            .ok_or_else(|| missing(&plural, &name));
        answer(r, StatusCode::OK)
    }

    pub async fn delete(
        State(c): State<Arc<Cluster>>,
        Path((_, plural, name)): Path<(String, String, String)>,
    ) -> Response {
        let r = c
            .chaos
            .delete(&plural, &name)
            .ok_or_else(|| missing(&plural, &name));
        answer(r, StatusCode::OK)
    }
}

pub fn router(c: Arc<Cluster>) -> Router {
    type Q = Query<HashMap<String, String>>;
    let list = |kind: Kind| {
        get(
            move |State(c): State<Arc<Cluster>>, Path(ns): Path<String>, Query(q): Q| {
                collection(kind, c, ns, q)
            },
        )
    };
    let item = |kind: Kind| {
        move |State(c): State<Arc<Cluster>>, Path((ns, name)): Path<(String, String)>| {
            one(kind, c, ns, name)
        }
    };
    Router::new()
        .route("/api/v1/namespaces/{ns}/pods", list(Kind::Pod))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}",
            get(item(Kind::Pod)).delete(delete_pod),
        )
        .route("/api/v1/nodes", get(nodes::list))
        .route("/api/v1/nodes/{name}", get(nodes::one).patch(nodes::patch))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/eviction",
            axum::routing::post(evict_pod),
        )
        .route(
            "/apis/apps/v1/namespaces/{ns}/deployments",
            list(Kind::Deployment),
        )
        .route(
            "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
            get(item(Kind::Deployment)).patch(patch_deployment),
        )
        .route(
            "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
            list(Kind::Hpa),
        )
        .route(
            "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}",
            get(item(Kind::Hpa)),
        )
        .route(
            "/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/{plural}",
            get(chaos_mesh::list).post(chaos_mesh::create),
        )
        .route(
            "/apis/chaos-mesh.org/v1alpha1/namespaces/{ns}/{plural}/{name}",
            get(chaos_mesh::get).delete(chaos_mesh::delete),
        )
        .merge(super::job_api::routes())
        .merge(super::discovery::routes())
        .with_state(c)
}
