//! Chat fan-out over WebSocket against the in-process gateway on 127.0.0.1:0 (and a
//! crafted one): every delivery measured, injected loss detected at its rate, duplicates and
//! reordering detected, refusals beyond the connection limit counted, and a slowed gateway
//! failing a delivery SLO. Small scale, no timing upper bounds.

use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc;

use crate::support::{plan, run_plan};
use loadctl::report::Status;

fn chat_scenario(
    extra_embedded: &str,
    groups: usize,
    members: usize,
    rate: f64,
    hold: &str,
) -> String {
    format!(
        r#"
name = "chat"
[embedded]
service = "chat"
{extra_embedded}
[load]
model = "connections"
connections = {n}
connect_rate = 200
hold = "{hold}"
timeout = "5s"
[generator]
max_send_lag_p99 = "1s"
[chat]
groups = {groups}
members = {members}
publish_rate = {rate}
payload = 32
grace = "1s"
"#,
        n = groups * members
    )
}

#[test]
fn every_delivery_is_measured() {
    let p = plan(&chat_scenario("", 4, 10, 2.0, "2s"));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    let ws = s.ws.as_ref().expect("ws section");
    assert_eq!(ws.connected, 40);
    assert_eq!(ws.published, 16, "4 groups × 2/s × 2 s");
    assert_eq!(ws.expected, 16 * 9);
    assert_eq!(ws.delivered, 16 * 9);
    assert_eq!((ws.lost, ws.duplicates, ws.out_of_order), (0, 0, 0));
    let ep = |name: &str| s.endpoints.iter().find(|e| e.name == name).unwrap();
    assert_eq!(ep("connect").ok, 40);
    assert_eq!(ep("publish").requests, 16);
    assert_eq!(ep("delivery").requests, 16 * 9);
    assert_eq!(
        ep("fanout").requests,
        16,
        "every message reached its whole group"
    );
    assert!(ep("fanout").latency_ms.p50 >= ep("delivery").latency_ms.p50);
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
}

#[test]
fn one_percent_injected_loss_is_detected_as_about_one_percent() {
    let text = chat_scenario("drop_rate = \"1%\"", 10, 20, 10.0, "3s")
        + "[slo]\n\"loss_rate\" = \"== 0\"\n";
    let (out, _dir) = run_plan(&plan(&text));
    let s = &out.summary;
    let ws = s.ws.as_ref().unwrap();
    assert_eq!(ws.expected, 300 * 19);
    assert_eq!(ws.delivered + ws.lost, ws.expected);
    // 5,700 deliveries at 1%: 57 expected, σ ≈ 7.5.
    assert!(
        (0.004..0.018).contains(&ws.loss_rate),
        "loss rate {} ({} lost)",
        ws.loss_rate,
        ws.lost
    );
    assert_eq!(s.status, Status::Fail);
    assert!(s
        .reasons
        .iter()
        .any(|r| r.starts_with("SLO loss_rate == 0 failed")));
    // Messages that lost a member never complete their fan-out.
    let fanout = s.endpoints.iter().find(|e| e.name == "fanout").unwrap();
    assert!(fanout.requests < 300, "{}", fanout.requests);
}

#[test]
fn refusals_beyond_the_connection_limit_are_counted() {
    let p = plan(&chat_scenario("max_connections = 30", 4, 10, 1.0, "1s"));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    let connect = s.endpoints.iter().find(|e| e.name == "connect").unwrap();
    assert_eq!(connect.ok, 30);
    assert_eq!(connect.errors_by_kind["http_5xx"], 10);
    assert_eq!(connect.status_codes.get("503"), Some(&10));
    assert_eq!(s.ws.as_ref().unwrap().connected, 30);
}

#[test]
fn a_slowed_gateway_fails_the_delivery_slo() {
    let text = chat_scenario("relay_latency = \"250ms\"", 2, 5, 4.0, "2s")
        + "[slo]\n\"delivery.p99\" = \"< 200ms\"\n";
    let (out, _dir) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.status, Status::Fail, "{:?}", s.reasons);
    let delivery = s.endpoints.iter().find(|e| e.name == "delivery").unwrap();
    assert!(
        delivery.latency_ms.p50 >= 250.0,
        "{:?}",
        delivery.latency_ms
    );
    assert_eq!(s.ws.as_ref().unwrap().lost, 0, "slow is not lost");
}

type Outboxes = Arc<Mutex<Vec<(usize, mpsc::UnboundedSender<String>)>>>;

/// A gateway that misbehaves on purpose: every message goes to every other member twice
/// (`dup`), each pair of messages is delivered in reverse (`swap`), or every connection is
/// closed with code 1011 right after it joined (`close`).
#[derive(Clone)]
struct Crafted {
    mode: &'static str,
    members: Outboxes,
    held: Arc<Mutex<Option<(usize, String)>>>,
}

async fn crafted_ws(State(c): State<Crafted>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| crafted_conn(c, socket))
}

async fn crafted_conn(c: Crafted, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let id = {
        let mut m = c.members.lock().unwrap();
        let id = m.len();
        m.push((id, tx));
        id
    };
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(t) => { if socket.send(Message::Text(t.into())).await.is_err() { break } }
                None => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    if v["type"] == "join" {
                        let _ = socket.send(Message::Text(r#"{"type":"joined","group":"g0","members":1}"#.into())).await;
                        if c.mode == "close" {
                            // Going away under load: close with 1011 (internal error).
                            let frame = axum::extract::ws::CloseFrame { code: 1011, reason: "overloaded".into() };
                            let _ = socket.send(Message::Close(Some(frame))).await;
                            break;
                        }
                        continue;
                    }
                    let out = serde_json::json!({"type": "msg", "group": v["group"], "from": "x", "body": v["body"]}).to_string();
                    // (sender, text): each goes to every member but its sender.
                    let batch: Vec<(usize, String)> = match c.mode {
                        "dup" => vec![(id, out.clone()), (id, out)],
                        _ => {
                            let mut held = c.held.lock().unwrap();
                            match held.take() {
                                None => { *held = Some((id, out)); vec![] }
                                Some(first) => vec![(id, out), first],
                            }
                        }
                    };
                    let members = c.members.lock().unwrap();
                    for (from, text) in batch {
                        for (m, tx) in members.iter() {
                            if *m != from {
                                let _ = tx.send(text.clone());
                            }
                        }
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
}

fn crafted(mode: &'static str) -> String {
    let c = Crafted {
        mode,
        members: Arc::default(),
        held: Arc::default(),
    };
    let addr = crate::support::serve(Router::new().route("/ws", get(crafted_ws)).with_state(c));
    format!("ws://{addr}")
}

fn crafted_run(mode: &'static str) -> loadctl::summary::WsSummary {
    // One group of three on one thread, so the crafted gateway's single group is it.
    let text = format!(
        r#"
name = "crafted"
target = "{}"
[generator]
threads = 1
max_send_lag_p99 = "1s"
[load]
model = "connections"
connections = 3
connect_rate = 10
hold = "2s"
[chat]
groups = 1
members = 3
publish_rate = 10
grace = "500ms"
"#,
        crafted(mode)
    );
    let (out, _dir) = run_plan(&plan(&text));
    out.summary.ws.unwrap()
}

#[test]
fn duplicates_from_a_crafted_stream_are_detected() {
    let ws = crafted_run("dup");
    assert_eq!(ws.published, 20);
    assert_eq!(ws.delivered, 40, "two other members, each message once");
    assert_eq!(ws.duplicates, 40, "and each a second time");
    assert_eq!(ws.lost, 0);
}

#[test]
fn reordering_from_a_crafted_stream_is_detected() {
    let ws = crafted_run("swap");
    assert_eq!(ws.published, 20);
    // Each pair is delivered reversed. Only the member that sent neither gets both, so it
    // sees the pair's first message late: one out-of-order delivery per pair.
    assert_eq!(ws.delivered, 40);
    assert_eq!(ws.out_of_order, 10);
    assert_eq!(ws.duplicates, 0);
}

#[test]
fn disconnects_are_counted_by_close_code() {
    let ws = crafted_run("close");
    assert_eq!(ws.disconnects.get("1011"), Some(&3), "{:?}", ws.disconnects);
    assert_eq!(ws.delivered, 0);
}
