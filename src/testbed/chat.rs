//! Seed 004's chat gateway (MPIM: gateway on port 8001, `max_connections: 10000`) as one
//! in-process service: WebSocket clients join groups and every message sent to a group is
//! fanned out to its other members.
//!
//! Protocol (JSON text frames), the one loadctl's chat load speaks:
//! - client → `{"type":"join","group":"g1"}`, gateway → `{"type":"joined","group":"g1","members":N}`
//! - client → `{"type":"send","group":"g1","body":…}`, gateway → every other member:
//!   `{"type":"msg","group":"g1","from":"u7","body":…}` (the body relayed untouched)
//!
//! Beyond `max_connections` an upgrade is answered 503 before the handshake, so a client
//! sees a refusal, not a hang. `/metrics` speaks Prometheus text with the two series seed
//! 004 names (`http_requests_total`, `http_request_duration_seconds`). `drop_rate` silently
//! skips that share of deliveries, so a test can prove that loss is detected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;

pub use crate::scenario::plan::embedded::ChatConfig;
type Outbox = mpsc::UnboundedSender<Utf8Bytes>;
/// A group's members: connection id, user, where to send.
type Members = Vec<(u64, String, Outbox)>;

struct Gateway {
    cfg: ChatConfig,
    open: AtomicUsize,
    refused: AtomicU64,
    next_id: AtomicU64,
    /// group → members (connection id, user, outbox).
    groups: Mutex<HashMap<String, Members>>,
    metrics: Mutex<HttpMetrics>,
}

type Shared = Arc<Gateway>;

use super::http_metrics::HttpMetrics;

#[derive(Deserialize)]
struct WsQuery {
    user: Option<String>,
}

async fn upgrade(
    State(g): State<Shared>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let user = q.user.unwrap_or_else(|| "anonymous".into());
    let before = g.open.fetch_add(1, Ordering::SeqCst);
    if before >= g.cfg.max_connections {
        g.open.fetch_sub(1, Ordering::SeqCst);
        g.refused.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"error": "too_many_connections", "max_connections": g.cfg.max_connections}),
            ),
        )
            .into_response();
    }
    // Small buffers: a gateway holding 10,000 mostly idle sockets must not reserve
    // hundreds of KiB for each.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| connection(g, user, socket))
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    group: Option<String>,
    #[serde(borrow)]
    body: Option<&'a serde_json::value::RawValue>,
}

async fn connection(g: Shared, user: String, mut socket: WebSocket) {
    let id = g.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::unbounded_channel::<Utf8Bytes>();
    let mut joined: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let Ok(m) = serde_json::from_str::<Incoming<'_>>(text.as_str()) else {
                        let _ = socket
                            .send(Message::Text(r#"{"type":"error","error":"bad_message"}"#.into()))
                            .await;
                        continue;
                    };
                    match (m.kind, m.group) {
                        ("join", Some(group)) => {
                            let members = {
                                let mut groups = g.groups.lock().expect("no panics under the lock");
                                let list = groups.entry(group.clone()).or_default();
                                list.push((id, user.clone(), tx.clone()));
                                list.len()
                            };
                            joined.push(group.clone());
                            let reply = json!({"type": "joined", "group": group, "members": members});
                            if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                        ("send", Some(group)) => {
                            let body = m.body.map_or("null", |b| b.get());
                            let out: Utf8Bytes = format!(
                                r#"{{"type":"msg","group":{},"from":{},"body":{body}}}"#,
                                serde_json::Value::from(group.as_str()),
                                serde_json::Value::from(user.as_str())
                            )
                            .into();
                            match &g.cfg.relay_latency {
                                Some(l) => {
                                    let (g, delay) = (g.clone(), l.sample());
                                    tokio::spawn(async move {
                                        tokio::time::sleep(delay).await;
                                        fan_out(&g, &group, id, out);
                                    });
                                }
                                None => fan_out(&g, &group, id, out),
                            }
                        }
                        _ => {
                            let _ = socket
                                .send(Message::Text(r#"{"type":"error","error":"unknown_type"}"#.into()))
                                .await;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let mut groups = g.groups.lock().expect("no panics under the lock");
    for group in joined {
        if let Some(list) = groups.get_mut(&group) {
            list.retain(|(m, _, _)| *m != id);
            if list.is_empty() {
                groups.remove(&group);
            }
        }
    }
    drop(groups);
    g.open.fetch_sub(1, Ordering::SeqCst);
}

fn fan_out(g: &Gateway, group: &str, from: u64, text: Utf8Bytes) {
    let groups = g.groups.lock().expect("no panics under the lock");
    let Some(members) = groups.get(group) else {
        return;
    };
    for (id, _, outbox) in members {
        if *id == from || (g.cfg.drop_rate > 0.0 && fastrand::f64() < g.cfg.drop_rate) {
            continue;
        }
        let _ = outbox.send(text.clone());
    }
}

async fn presence(State(g): State<Shared>) -> Response {
    let groups = g.groups.lock().expect("no panics under the lock").len();
    Json(json!({
        "online": g.open.load(Ordering::SeqCst),
        "groups": groups,
        "max_connections": g.cfg.max_connections,
        "refused": g.refused.load(Ordering::Relaxed),
    }))
    .into_response()
}

async fn health() -> Response {
    Json(json!({"status": "ok", "service": "chat-gateway"})).into_response()
}

async fn ready(State(g): State<Shared>) -> Response {
    let open = g.open.load(Ordering::SeqCst);
    if open < g.cfg.max_connections {
        Json(json!({"ready": true, "open": open})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false, "open": open})),
        )
            .into_response()
    }
}

async fn metrics(State(g): State<Shared>) -> Response {
    use std::fmt::Write as _;
    let mut o = g.metrics.lock().expect("no panics under the lock").render();
    let _ = writeln!(
        o,
        "# HELP chat_connections_open Open WebSocket connections.\n# TYPE chat_connections_open gauge\nchat_connections_open {}",
        g.open.load(Ordering::SeqCst)
    );
    ([("content-type", "text/plain; version=0.0.4")], o).into_response()
}

async fn count(State(g): State<Shared>, req: Request, next: Next) -> Response {
    let (method, path) = (req.method().to_string(), req.uri().path().to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    g.metrics.lock().expect("no panics under the lock").observe(
        method,
        path,
        resp.status().as_u16(),
        secs,
    );
    resp
}

pub fn router(cfg: ChatConfig) -> Router {
    let g: Shared = Arc::new(Gateway {
        cfg,
        open: AtomicUsize::new(0),
        refused: AtomicU64::new(0),
        next_id: AtomicU64::new(0),
        groups: Mutex::new(HashMap::new()),
        metrics: Mutex::new(HttpMetrics::default()),
    });
    Router::new()
        .route("/ws", get(upgrade))
        .route("/api/v1/presence", get(presence))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(g.clone(), count))
        .with_state(g)
}
