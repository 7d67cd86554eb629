//! API discovery of the simulated control plane, so a real client can find its way: the
//! server's `/version`, the legacy group (`/api`, `/api/v1`), the named groups (`/apis`)
//! and each group version's resource list with the verbs it really serves, as `kubectl`
//! reads them before `get`, `get -w` or `delete`. Lists and objects are answered as plain
//! JSON (no server-side Table): kubectl prints them with its own columns.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

/// `(group, version, [(plural, kind, short names, verbs)])` of what the simulation serves.
type Resource = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const READ: &[&str] = &["get", "list", "watch"];

const GROUPS: &[(&str, &str, &[Resource])] = &[
    (
        "",
        "v1",
        &[
            ("pods", "Pod", &["po"], &["get", "list", "watch", "delete"]),
            ("pods/eviction", "Eviction", &[], &["create"]),
            ("nodes", "Node", &["no"], &["get", "list", "patch"]),
            ("secrets", "Secret", &[], &["create", "delete"]),
        ],
    ),
    (
        "apps",
        "v1",
        &[(
            "deployments",
            "Deployment",
            &["deploy"],
            &["get", "list", "watch", "patch"],
        )],
    ),
    (
        "autoscaling",
        "v2",
        &[(
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            &["hpa"],
            READ,
        )],
    ),
    (
        "batch",
        "v1",
        &[("jobs", "Job", &[], &["create", "get", "list", "delete"])],
    ),
    (
        "chaos-mesh.org",
        "v1alpha1",
        &[
            (
                "networkchaos",
                "NetworkChaos",
                &[],
                &["create", "get", "list", "delete"],
            ),
            (
                "stresschaos",
                "StressChaos",
                &[],
                &["create", "get", "list", "delete"],
            ),
        ],
    ),
];

fn resources(group: &str, version: &str) -> Option<Value> {
    let (g, v, rs) = GROUPS
        .iter()
        .find(|(g, v, _)| *g == group && *v == version)?;
    let group_version = if g.is_empty() {
        v.to_string()
    } else {
        format!("{g}/{v}")
    };
    let list: Vec<Value> = rs
        .iter()
        .map(|(plural, kind, short, verbs)| {
            json!({
                "name": plural,
                "singularName": if plural.contains('/') { "" } else { kind_lower(kind) },
                "namespaced": *plural != "nodes",
                "kind": kind,
                "verbs": verbs,
                "shortNames": short,
            })
        })
        .collect();
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}

fn kind_lower(kind: &str) -> &'static str {
    match kind {
        "Pod" => "pod",
        "Node" => "node",
        "Secret" => "secret",
        "Deployment" => "deployment",
        "HorizontalPodAutoscaler" => "horizontalpodautoscaler",
        "Job" => "job",
        "NetworkChaos" => "networkchaos",
        "StressChaos" => "stresschaos",
        _ => "",
    }
}

fn not_found(what: &str) -> Response {
    (
        axum::http::StatusCode::NOT_FOUND,
        axum::Json(
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("the server could not find the requested resource ({what})"),
            "reason": "NotFound", "code": 404}),
        ),
    )
        .into_response()
}

async fn group_version(Path((group, version)): Path<(String, String)>) -> Response {
    match resources(&group, &version) {
        Some(v) => axum::Json(v).into_response(),
        None => not_found(&format!("{group}/{version}")),
    }
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/version",
            get(|| async {
                axum::Json(json!({"major": "1", "minor": "30", "gitVersion": "v1.30.0-loadctl-sim",
                    "platform": "linux/amd64", "goVersion": "", "compiler": "gc", "buildDate": "", "gitCommit": "", "gitTreeState": ""}))
            }),
        )
        .route(
            "/api",
            get(|| async {
                axum::Json(json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}))
            }),
        )
        .route(
            "/api/v1",
            get(|| async { axum::Json(resources("", "v1").expect("listed")) }),
        )
        .route(
            "/apis",
            get(|| async {
                let groups: Vec<Value> = GROUPS
                    .iter()
                    .filter(|(g, _, _)| !g.is_empty())
                    .map(|(g, v, _)| {
                        let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                        json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                    })
                    .collect();
                axum::Json(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
            }),
        )
        .route("/apis/{group}/{version}", get(group_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_lists_its_resources() {
        let apps = resources("apps", "v1").unwrap();
        assert_eq!(apps["groupVersion"], "apps/v1");
        assert_eq!(apps["resources"][0]["shortNames"][0], "deploy");
        assert_eq!(resources("", "v1").unwrap()["groupVersion"], "v1");
        assert!(resources("apps", "v2").is_none());
    }
}
