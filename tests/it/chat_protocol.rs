//! Chat fan-out against servers that are not loadctl's gateway: a second protocol
//! (`loadctl testbed serve relay`: subscribe/say/message envelope, heartbeats the client
//! must tolerate, echo to the sender, an acknowledgement carrying a member count, JSON
//! re-encoded on the way, 1% loss) in-process, in text and binary frames; a relay written
//! in Python on the `websockets` package; and the validation of `[chat.protocol]`.

use crate::support::{plan, run_plan};

/// `loadctl testbed serve relay` in-process, losing `loss` of the deliveries.
fn relay(loss: f64) -> std::net::SocketAddr {
    let mut cfg = loadctl::testbed::ServiceConfig::default();
    cfg.chat.drop_rate = loss;
    let (router, _) = loadctl::testbed::router("relay", &cfg).unwrap();
    crate::support::serve(router)
}

fn relay_scenario(target: &str, frame: &str, groups: usize, members: usize) -> String {
    format!(
        r#"
name = "relay"
target = "{target}"
[load]
model = "connections"
connections = {n}
connect_rate = 200
hold = "4s"
timeout = "5s"
[generator]
max_send_lag_p99 = "1s"
[chat]
groups = {groups}
members = {members}
publish_rate = 5
payload = 32
path = "/rooms?name={{{{user}}}}"
subprotocol = "relay.v2"
[chat.protocol]
join = '{{"op":"subscribe","room":"{{{{group}}}}"}}'
joined = {{ json = "/op", equals = "subscribed" }}
publish = '{{"op":"say","room":"{{{{group}}}}","text":"{{{{marker}}}}"}}'
heartbeat = {{ frame = '{{"op":"ping"}}', every = "1s" }}
frame = "{frame}"
"#,
        n = groups * members
    )
}

#[test]
fn a_second_protocol_is_measured_echoes_apart_and_heartbeats_tolerated() {
    for frame in ["text", "binary"] {
        let addr = relay(0.0);
        let p = plan(&relay_scenario(&format!("ws://{addr}"), frame, 4, 5));
        let (out, _dir) = run_plan(&p);
        let s = &out.summary;
        let ws = s.ws.as_ref().unwrap();
        assert_eq!(ws.connected, 20, "{frame}: {:?}", s.reasons);
        assert!(ws.published > 50, "{frame}: {ws:?}");
        assert_eq!(ws.expected, ws.published * 4, "{frame}");
        // Every owed delivery arrives (a member whose acknowledgement was still on its way
        // when a message went out may get one more than it was owed).
        assert!(ws.delivered >= ws.expected, "{frame}: {ws:?}");
        assert_eq!((ws.lost, ws.corrupt), (0, 0), "{frame}: {ws:?}");
        // Every message came back to its sender once: an echo, not a delivery.
        assert_eq!(ws.echoes, ws.published, "{frame}");
        // The server's pings are frames without a marker.
        assert!(ws.other > 20, "{frame}: {ws:?}");
        let by = |n: &str| s.endpoints.iter().find(|e| e.name == n).unwrap();
        assert_eq!(by("delivery").requests, ws.delivered);
        assert_eq!(by("echo").requests, ws.echoes);
        assert_eq!(by("joined").ok, 20);
    }
}

#[test]
fn one_percent_loss_on_the_second_protocol_is_detected() {
    let addr = relay(0.01);
    let p = plan(&relay_scenario(&format!("ws://{addr}"), "text", 10, 10));
    let (out, _dir) = run_plan(&p);
    let ws = out.summary.ws.unwrap();
    assert!(ws.expected > 1500, "{ws:?}");
    assert!(
        (0.003..0.025).contains(&ws.loss_rate),
        "loss rate {} of {} owed",
        ws.loss_rate,
        ws.expected
    );
    assert_eq!(ws.echoes, ws.published, "echoes are never dropped");
}

/// A relay not written in Rust: `tests/it/ws_relay.py` on Python's `websockets` package.
#[test]
fn a_python_relay_with_its_own_envelope_is_measured() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/ws_relay.py");
    let mut child = std::process::Command::new("python3")
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    {
        use std::io::BufRead;
        let out = child.stdout.as_mut().unwrap();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
    }
    let port: u16 = line.trim().parse().unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("the relay did not start (pip install websockets; ci/test.sh does): {line:?}")
    });
    let text = format!(
        r#"
name = "py"
target = "ws://127.0.0.1:{port}"
[load]
model = "connections"
connections = 12
connect_rate = 100
hold = "3s"
timeout = "5s"
[generator]
max_send_lag_p99 = "1s"
[chat]
groups = 3
members = 4
publish_rate = 4
path = "/chat/{{{{group}}}}/{{{{user}}}}"
[chat.protocol]
joined = {{ regex = '"kind":\s*"welcome"' }}
publish = '{{"say":"{{{{marker}}}}"}}'
"#
    );
    let (out, _dir) = run_plan(&plan(&text));
    let _ = child.kill();
    let _ = child.wait();
    let ws = out.summary.ws.unwrap();
    assert_eq!(ws.connected, 12, "{ws:?}");
    assert!(ws.published > 20);
    assert!(ws.delivered >= ws.expected, "{ws:?}");
    assert_eq!((ws.lost, ws.duplicates, ws.corrupt), (0, 0, 0), "{ws:?}");
    assert_eq!(ws.expected, ws.published * 3);
}

#[test]
fn protocol_mistakes_are_reported_with_their_position() {
    let head = "name = \"x\"\ntarget = \"ws://127.0.0.1:9\"\n[load]\nmodel = \"connections\"\nconnections = 4\nconnect_rate = 10\nhold = \"1s\"\n[chat]\ngroups = 2\nmembers = 2\npublish_rate = 1\n[chat.protocol]\n";
    let cases = [
        (
            "publish = '{\"say\":\"{{text}}\"}'\n",
            "13:20: chat.protocol.publish:",
            "unknown",
        ),
        (
            "publish = '{\"say\":\"hello\"}'\n",
            "13:11: chat.protocol.publish:",
            "must carry `{{marker}}`",
        ),
        (
            "publish = '{\"s\":\"{{marker}}\"}'\njoin = '{\"m\":\"{{marker}}\"}'\n",
            "14:8: chat.protocol.join:",
            "publish frame only",
        ),
        (
            "publish = '{\"s\":\"{{marker}}\"}'\njoined = { json = \"op\", equals = \"ok\" }\n",
            "14:19: chat.protocol.joined:",
            "not a JSON pointer",
        ),
        (
            "publish = '{\"s\":\"{{marker}}\"}'\njoined = { regex = \"(\" }\n",
            "14:20: chat.protocol.joined:",
            "not a regex",
        ),
        (
            "publish = '{\"s\":\"{{marker}}\"}'\nframe = \"morse\"\n",
            "14:9: chat.protocol.frame:",
            "text",
        ),
    ];
    for (tail, at, says) in cases {
        let text = format!("{head}{tail}");
        let err = loadctl::scenario::parse(
            std::path::Path::new("c.toml"),
            &text,
            &Default::default(),
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(at) && err.contains(says),
            "expected {at} … {says}:\n{err}"
        );
    }
}

#[test]
fn feeder_columns_name_the_connections() {
    // Each connection takes a row: its token goes in the upgrade header, its name in the path.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("people.csv");
    let mut rows = String::from("name,token\n");
    for i in 0..8 {
        rows.push_str(&format!("person{i},t{i}\n"));
    }
    std::fs::write(&csv, rows).unwrap();
    let addr = relay(0.0);
    let text = format!(
        r#"
name = "fed"
target = "ws://{addr}"
[load]
model = "connections"
connections = 8
connect_rate = 100
hold = "2s"
timeout = "5s"
[generator]
max_send_lag_p99 = "1s"
[[feeders]]
name = "people"
file = "{}"
mode = "unique"
[chat]
groups = 2
members = 4
publish_rate = 4
path = "/rooms?name={{{{name}}}}"
subprotocol = "relay.v2"
headers = {{ Authorization = "Bearer {{{{token}}}}" }}
[chat.protocol]
join = '{{"op":"subscribe","room":"{{{{group}}}}","who":"{{{{name}}}}"}}'
joined = {{ json = "/op", equals = "subscribed" }}
publish = '{{"op":"say","room":"{{{{group}}}}","text":"{{{{marker}}}}"}}'
"#,
        csv.display()
    );
    let (out, _dir) = run_plan(&plan(&text));
    let ws = out.summary.ws.unwrap();
    assert_eq!(ws.connected, 8, "{ws:?}");
    // (A member that subscribed while a message was on its way may get one it was not yet
    // owed: at least every owed delivery arrives.)
    assert!(
        ws.lost == 0 && ws.delivered >= ws.expected && ws.expected > 30,
        "{ws:?}"
    );
    // A feeder column in the publish frame is refused: the publisher has no row.
    let bad = text.replace(r#""text":"{{marker}}""#, r#""text":"{{marker}} {{name}}""#);
    let err = loadctl::scenario::parse(
        std::path::Path::new("f.toml"),
        &bad,
        &Default::default(),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("chat.protocol.publish") && err.contains("feeder columns"),
        "{err}"
    );
}
