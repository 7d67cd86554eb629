//! The simulated API's routes for the agents' Job: `batch/v1` Jobs (create, list, get,
//! delete), Secrets (create, delete), and the pod proxy subresource
//! (`pods/{name}:{port}/proxy/…`), which forwards a request to the pod's process and, for
//! an upgrade (the agents' WebSocket), splices the two connections as the API server does.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use super::jobs::Refused;
use super::{Cluster, NAMESPACE};

fn status((code, reason, message): Refused) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
        })),
    )
        .into_response()
}

fn not_found(resource: &str, name: &str) -> Response {
    status((404, "NotFound", format!("{resource} \"{name}\" not found")))
}

fn body_json(b: &Bytes) -> Result<Value, Refused> {
    serde_json::from_slice(b).map_err(|e| (400, "BadRequest", format!("the body is not JSON: {e}")))
}

async fn create_job(State(c): State<Arc<Cluster>>, Path(ns): Path<String>, b: Bytes) -> Response {
    if ns != NAMESPACE {
        return not_found("namespaces", &ns);
    }
    let job = match body_json(&b) {
        Ok(v) => v,
        Err(r) => return status(r),
    };
    match c.jobs.create_job(&ns, job) {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(r) => status(r),
    }
}

async fn list_jobs(State(c): State<Arc<Cluster>>, Path(ns): Path<String>) -> Response {
    let items = if ns == NAMESPACE {
        c.jobs.jobs()
    } else {
        Vec::new()
    };
    axum::Json(json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": items}))
        .into_response()
}

async fn get_job(
    State(c): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    match c.jobs.job(&name).filter(|_| ns == NAMESPACE) {
        Some(v) => axum::Json(v).into_response(),
        None => not_found("jobs.batch", &name),
    }
}

async fn delete_job(
    State(c): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    match c.jobs.delete_job(&name).filter(|_| ns == NAMESPACE) {
        Some(v) => axum::Json(v).into_response(),
        None => not_found("jobs.batch", &name),
    }
}

async fn create_secret(
    State(c): State<Arc<Cluster>>,
    Path(ns): Path<String>,
    b: Bytes,
) -> Response {
    if ns != NAMESPACE {
        return not_found("namespaces", &ns);
    }
    let secret = match body_json(&b) {
        Ok(v) => v,
        Err(r) => return status(r),
    };
    match c.jobs.create_secret(&ns, secret) {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(r) => status(r),
    }
}

async fn get_secret(
    State(c): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    match c.jobs.secret(&name).filter(|_| ns == NAMESPACE) {
        Some(v) => axum::Json(v).into_response(),
        None => not_found("secrets", &name),
    }
}

async fn delete_secret(
    State(c): State<Arc<Cluster>>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    if ns == NAMESPACE && c.jobs.delete_secret(&name) {
        axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}))
            .into_response()
    } else {
        not_found("secrets", &name)
    }
}

async fn proxy(
    State(c): State<Arc<Cluster>>,
    Path((ns, target, rest)): Path<(String, String, String)>,
    mut req: Request,
) -> Response {
    let pod = target.split_once(':').map_or(target.as_str(), |(p, _)| p);
    let Some(port) = c.jobs.pod_port(pod).filter(|_| ns == NAMESPACE) else {
        return status((
            503,
            "ServiceUnavailable",
            format!("pod {pod} is not running"),
        ));
    };
    let bad_gateway = |e: String| {
        status((
            502,
            "BadGateway",
            format!("error trying to reach the pod: {e}"),
        ))
    };
    let tcp = match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
        Ok(t) => t,
        Err(e) => return bad_gateway(e.to_string()),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await {
        Ok(x) => x,
        Err(e) => return bad_gateway(e.to_string()),
    };
    tokio::spawn(conn.with_upgrades());
    let client_side = hyper::upgrade::on(&mut req);
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut up = http::Request::builder()
        .method(req.method().clone())
        .uri(format!("/{rest}{query}"));
    for (k, v) in req.headers() {
        if k != http::header::HOST {
            up = up.header(k, v);
        }
    }
    let up = up
        .header(http::header::HOST, format!("127.0.0.1:{port}"))
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("a valid request");
    let mut resp = match sender.send_request(up).await {
        Ok(r) => r,
        Err(e) => return bad_gateway(e.to_string()),
    };
    let mut out = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        out = out.header(k, v);
    }
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let pod_side = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(a), Ok(b)) = tokio::join!(client_side, pod_side) {
                let _ =
                    tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b)).await;
            }
        });
        return out.body(Body::empty()).expect("a valid response");
    }
    out.body(Body::new(resp.into_body()))
        .expect("a valid response")
}

pub(super) fn routes() -> Router<Arc<Cluster>> {
    Router::new()
        .route(
            "/apis/batch/v1/namespaces/{ns}/jobs",
            get(list_jobs).post(create_job),
        )
        .route(
            "/apis/batch/v1/namespaces/{ns}/jobs/{name}",
            get(get_job).delete(delete_job),
        )
        .route(
            "/api/v1/namespaces/{ns}/secrets",
            axum::routing::post(create_secret),
        )
        .route(
            "/api/v1/namespaces/{ns}/secrets/{name}",
            get(get_secret).delete(delete_secret),
        )
        .route(
            "/api/v1/namespaces/{ns}/pods/{target}/proxy/{*rest}",
            axum::routing::any(proxy),
        )
}
