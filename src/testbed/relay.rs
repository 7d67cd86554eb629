//! A second chat server with a protocol of its own, to show loadctl measuring a chat it
//! did not write: upgrade on `/rooms` (subprotocol `relay.v2`); client →
//! `{"op":"subscribe","room":R}`, server → `{"op":"subscribed","room":R,"members":N}`;
//! client → `{"op":"say","room":R,"text":T}`, server → every member of the room, the
//! sender included (an echo), `{"data":{"text":T,"ts":…},"op":"message","room":R,"via":…}`:
//! JSON re-encoded on the way (keys re-ordered, non-ASCII escaped). A `{"op":"ping"}` every
//! 2 s to every connection; frames from the client other than these are ignored. Frames
//! are relayed as they came, text or binary. `drop_rate` loses that share of the
//! deliveries (never the echo).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc;

use super::ChatConfig;

const PING_EVERY: Duration = Duration::from_secs(2);

type Rooms = Arc<Mutex<Vec<(String, mpsc::UnboundedSender<Message>)>>>;

#[derive(Clone)]
struct Relay {
    rooms: Rooms,
    loss: f64,
}

pub fn router(cfg: ChatConfig) -> Router {
    let r = Relay {
        rooms: Arc::default(),
        loss: cfg.drop_rate,
    };
    Router::new().route("/rooms", get(upgrade)).with_state(r)
}

async fn upgrade(State(r): State<Relay>, ws: WebSocketUpgrade) -> Response {
    ws.protocols(["relay.v2"])
        .on_upgrade(move |socket| connection(r, socket))
}

/// JSON with every non-ASCII character escaped, as some relays write it.
fn ascii_json(v: &serde_json::Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

async fn connection(r: Relay, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut room: Option<String> = None;
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if socket.send(Message::Text(r#"{"op":"ping"}"#.into())).await.is_err() { break }
            }
            out = rx.recv() => match out {
                Some(m) => { if socket.send(m).await.is_err() { break } }
                None => break,
            },
            msg = socket.recv() => {
                let (bytes, binary) = match msg {
                    Some(Ok(Message::Text(t))) => (t.as_bytes().to_vec(), false),
                    Some(Ok(Message::Binary(b))) => (b.to_vec(), true),
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
                match (v["op"].as_str(), v["room"].as_str()) {
                    (Some("subscribe"), Some(name)) => {
                        let members = {
                            let mut rooms = r.rooms.lock().unwrap();
                            rooms.push((name.to_string(), tx.clone()));
                            rooms.iter().filter(|(n, _)| n == name).count()
                        };
                        room = Some(name.to_string());
                        let ack = serde_json::json!({"op": "subscribed", "room": name, "members": members});
                        if socket.send(Message::Text(ack.to_string().into())).await.is_err() { break }
                    }
                    (Some("say"), _) => {
                        let Some(name) = &room else { continue };
                        let out = serde_json::json!({
                            "op": "message", "room": name, "via": "relé",
                            "data": {"text": v["text"], "ts": 1},
                        });
                        let text = ascii_json(&out);
                        let rooms = r.rooms.lock().unwrap();
                        for (_, member) in rooms.iter().filter(|(n, _)| n == name) {
                            if !member.same_channel(&tx) && r.loss > 0.0 && fastrand::f64() < r.loss {
                                continue;
                            }
                            let m = if binary {
                                Message::Binary(text.clone().into_bytes().into())
                            } else {
                                Message::Text(text.clone().into())
                            };
                            let _ = member.send(m);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    r.rooms
        .lock()
        .unwrap()
        .retain(|(_, m)| !m.same_channel(&tx));
}
