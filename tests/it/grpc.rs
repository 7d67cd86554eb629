//! gRPC calls: against the reference service (whose counters are the truth), against a
//! Python grpcio server loadctl did not write, and against hostile peers (no trailers, a
//! 100 MB message, reset streams), each ending on time with its classification; and the
//! validation rows, each at its line and column.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use loadctl::summary::Summary;
use loadctl::testbed::{grpc, Faults};

use crate::support::{loadctl_out, plan, run_plan, spawn_server};

fn proto() -> String {
    format!("{}/examples/grpc/shop.proto", env!("CARGO_MANIFEST_DIR"))
}

/// A closed-model run of `iterations` iterations of `body` (requests or a flow) at `addr`.
fn run(addr: SocketAddr, iterations: u32, body: &str) -> Summary {
    let p = plan(&format!(
        r#"
name = "grpc"
target = "http://{addr}"
[http]
version = "h2c"
[grpc]
protos = ["{proto}"]
[load]
model = "closed"
vus = 4
iterations = {iterations}
timeout = "2s"
[generator]
threads = 1
{body}
"#,
        proto = proto()
    ));
    run_plan(&p).0.summary
}

fn endpoint<'a>(s: &'a Summary, name: &str) -> &'a loadctl::summary::EndpointSummary {
    s.endpoints.iter().find(|e| e.name == name).unwrap()
}

fn messages(s: &Summary, name: &str) -> (u64, u64) {
    let c = endpoint(s, name).connections.clone().unwrap_or_default();
    (c.grpc_messages_sent, c.grpc_messages_received)
}

#[test]
fn every_call_kind_matches_the_reference_services_counts() {
    let (svc, stats) = grpc::start(Faults::default()).unwrap();
    let s = run(
        svc.addr,
        40,
        r#"
[flow]
[[flow.steps]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = '{"sku": "A-{{rand_int(1, 500)}}", "qty": 2}'
check = { grpc_status = "OK", "/qty" = 2 }
extract = { rid = { json = "/id" } }
[[flow.steps]]
name = "watch"
grpc = "shop.Inventory/Watch"
message = '{"sku": "{{rid}}", "count": 7}'
[[flow.steps]]
name = "watch3"
grpc = "shop.Inventory/Watch"
message = '{"sku": "A-1", "count": 7}'
stream = { receive = 3, timeout = "2s" }
[[flow.steps]]
name = "paced"
grpc = "shop.Inventory/Watch"
message = '{"sku": "A-1", "count": 3, "every_ms": 20}'
[[flow.steps]]
name = "restock"
grpc = "shop.Inventory/Restock"
message = '{"sku": "A-1", "qty": 5}'
stream = { send = 6 }
check = { "/messages" = 6, "/total" = "30" }
[[flow.steps]]
name = "talk"
grpc = "shop.Inventory/Talk"
message = '{"text": "m{{seq}}"}'
stream = { send = 4, receive = 4 }
[[flow.steps]]
name = "paced_talk"
grpc = "shop.Inventory/Talk"
message = '{"text": "m{{seq}}"}'
stream = { send = 4, every = "30ms", receive = 4 }
"#,
    );
    for name in [
        "reserve",
        "watch",
        "watch3",
        "paced",
        "restock",
        "talk",
        "paced_talk",
    ] {
        let e = endpoint(&s, name);
        assert_eq!(e.requests, 40, "{name}: {:?}", e.errors_by_kind);
        assert_eq!(e.ok, 40, "{name}: {:?}", e.errors_by_kind);
    }
    assert_eq!(messages(&s, "reserve"), (40, 40));
    assert_eq!(messages(&s, "watch"), (40, 7 * 40));
    assert_eq!(messages(&s, "watch3"), (40, 3 * 40));
    assert_eq!(messages(&s, "restock"), (6 * 40, 40));
    assert_eq!(messages(&s, "talk"), (4 * 40, 4 * 40));
    // Each message timed: the first from the send, the next ones from the one before
    // (the server paces them 20 ms apart: a lower bound, not a speed).
    let phases = &endpoint(&s, "paced").phases_ms;
    assert!(phases["first_message"].p50 > 0.0, "{phases:?}");
    assert!(phases["message_gap"].p50 >= 19.0, "{phases:?}");
    assert!(endpoint(&s, "reserve")
        .phases_ms
        .contains_key("first_message"));
    assert!(!endpoint(&s, "reserve")
        .phases_ms
        .contains_key("message_gap"));
    // The server's own counts: every call, every message it read.
    assert_eq!(stats.calls.load(Ordering::Relaxed), 7 * 40);
    assert_eq!(
        stats.received.load(Ordering::Relaxed),
        40 + 40 + 40 + 40 + 6 * 40 + 4 * 40 + 4 * 40
    );
    // It sent all 7 of a Watch that loadctl read 3 of (or fewer, once reset).
    let sent = stats.sent.load(Ordering::Relaxed);
    assert!(
        sent >= 40 + 7 * 40 + 3 * 40 + 3 * 40 + 40 + 4 * 40,
        "{sent}"
    );
}

#[test]
fn each_grpc_status_is_its_own_error_kind() {
    let (svc, stats) = grpc::start(Faults::default()).unwrap();
    let s = run(
        svc.addr,
        60,
        r#"
[[requests]]
name = "unavailable"
grpc = "shop.Inventory/Reserve"
message = { sku = "A-1", qty = 1, fail_with = 14 }
[[requests]]
name = "exhausted"
grpc = "shop.Inventory/Reserve"
message = { sku = "A-1", qty = 1, fail_with = 8 }
[[requests]]
name = "invalid"
grpc = "shop.Inventory/Reserve"
message = { sku = "", qty = 1 }
check = { grpc_status = ["OK", "INVALID_ARGUMENT"] }
"#,
    );
    let kinds = |n: &str| endpoint(&s, n).errors_by_kind.clone();
    let u = endpoint(&s, "unavailable");
    assert_eq!(kinds("unavailable")["grpc_unavailable"], u.requests);
    assert!(u.requests > 0);
    let x = endpoint(&s, "exhausted");
    assert_eq!(kinds("exhausted")["grpc_resource_exhausted"], x.requests);
    // UNAVAILABLE counts against availability as a 503 does; RESOURCE_EXHAUSTED as a 429.
    let lost = (1.0 - s.totals.availability) * s.totals.requests as f64;
    assert!(
        (lost - u.requests as f64).abs() < 0.5,
        "{lost} vs {}",
        u.requests
    );
    // Accepted statuses are successes.
    let i = endpoint(&s, "invalid");
    assert_eq!(i.ok, i.requests);
    assert_eq!(s.totals.requests, 60);
    assert_eq!(
        stats.failed.load(Ordering::Relaxed),
        s.totals.requests - s.totals.ok + i.requests
    );
    // What the server said with its errors is kept for the reader (once per text).
    let said = "`unavailable` grpc_unavailable: the target said \"asked to fail\"";
    assert_eq!(
        s.notes.iter().filter(|n| *n == said).count(),
        1,
        "{:?}",
        s.notes
    );
    // An HTTP run's kinds stay as they were: the gRPC ones are listed when they occur.
    assert!(!kinds("invalid").contains_key("grpc_unknown"));
}

#[test]
fn a_slow_server_is_a_timeout_within_the_run_s_deadline() {
    let faults = Faults {
        latency: Some(loadctl::testbed::LatencySpec::Fixed(Duration::from_secs(3))),
        ..Faults::default()
    };
    let (svc, _) = grpc::start(faults).unwrap();
    let started = Instant::now();
    let s = run(
        svc.addr,
        4,
        r#"
[[requests]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = { sku = "A-1", qty = 1 }
"#,
    );
    assert_eq!(endpoint(&s, "reserve").errors_by_kind["timeout"], 4);
    // Four at once, each out of its 2 s: well before the server's 3 s (generous slack).
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// An h2c server on the h2 crate that answers each stream with `answer`.
fn hostile(answer: fn(h2::server::SendResponse<bytes::Bytes>)) -> SocketAddr {
    spawn_server(move |l| async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(s).await else {
                    return;
                };
                while let Some(Ok((_req, respond))) = conn.accept().await {
                    answer(respond);
                }
            });
        }
    })
}

fn grpc_head() -> http::Response<()> {
    http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap()
}

fn hostile_run(addr: SocketAddr) -> (Summary, Duration) {
    let started = Instant::now();
    let s = run(
        addr,
        6,
        r#"
[[requests]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = { sku = "A-1", qty = 1 }
"#,
    );
    (s, started.elapsed())
}

#[test]
fn hostile_servers_end_on_time_with_their_classification() {
    // Headers and a message, then nothing: no trailers ever.
    let silent = hostile(|mut r| {
        let mut stream = r.send_response(grpc_head(), false).unwrap();
        let _ = stream.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), false);
        std::mem::forget(stream);
    });
    let (s, took) = hostile_run(silent);
    assert_eq!(endpoint(&s, "reserve").errors_by_kind["timeout"], 6);
    assert!(took < Duration::from_secs(30), "{took:?}");

    // A 100 MB message announced: refused on its prefix, the stream reset.
    let huge = hostile(|mut r| {
        let mut stream = r.send_response(grpc_head(), false).unwrap();
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&100_000_000u32.to_be_bytes());
        prefix.extend_from_slice(&[7; 1024]);
        let _ = stream.send_data(prefix.into(), false);
        std::mem::forget(stream);
    });
    let (s, _) = hostile_run(huge);
    let e = endpoint(&s, "reserve");
    assert_eq!(e.errors_by_kind["protocol"], 6);
    let c = e.connections.clone().unwrap();
    assert_eq!(c.protocol_errors["grpc_message_too_large"], 6);

    // Every stream reset by the server.
    let resetting = hostile(|mut r| r.send_reset(h2::Reason::INTERNAL_ERROR));
    let (s, _) = hostile_run(resetting);
    assert_eq!(endpoint(&s, "reserve").errors_by_kind["stream_reset"], 6);

    // A 200 without any grpc-status: not a success.
    let statusless = hostile(|mut r| {
        let _ = r.send_response(grpc_head(), true);
    });
    let (s, _) = hostile_run(statusless);
    let e = endpoint(&s, "reserve");
    assert_eq!(e.errors_by_kind["protocol"], 6);
    assert_eq!(
        e.connections.clone().unwrap().protocol_errors["grpc_no_status"],
        6
    );
}

/// The Python grpcio server of `grpc_server.py`, on a free port; killed when dropped.
struct Python(std::process::Child, SocketAddr, tempfile::TempDir);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_server() -> Python {
    use std::io::BufRead;
    let script = format!("{}/tests/it/grpc_server.py", env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg(proto())
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap_or_else(|_| {
        panic!("grpc_server.py said {line:?} (ci/test.sh installs grpcio-tools)")
    });
    Python(child, SocketAddr::from(([127, 0, 0, 1], port)), out)
}

#[test]
fn a_python_grpcio_server_is_loaded_with_every_call_kind() {
    let py = python_server();
    // CALLS (reserve, watch, a paced talk), then the rest.
    let more = r#"
[[flow.steps]]
name = "restock"
grpc = "shop.Inventory/Restock"
message = '{"sku": "A-1", "qty": 2}'
stream = { send = 3 }
check = { "/messages" = 3 }
[[flow.steps]]
name = "deadline"
grpc = "shop.Inventory/Reserve"
message = '{"sku": "A-1", "qty": 1, "user": "deadline"}'
check = { "/id" = "2" }   # [load] timeout = "2s" went as grpc-timeout
# Last: the steps after a failed one are skipped.
[[flow.steps]]
name = "refused"
grpc = "shop.Inventory/Reserve"
message = '{"sku": "A-1", "qty": 1, "fail_with": 14}'
"#;
    let s = run(py.1, 30, &format!("{CALLS}{more}"));
    for name in ["reserve", "watch", "restock", "talk", "deadline"] {
        let e = endpoint(&s, name);
        assert_eq!(
            (e.requests, e.ok),
            (30, 30),
            "{name}: {:?}",
            e.errors_by_kind
        );
    }
    assert_eq!(messages(&s, "watch"), (30, 5 * 30));
    assert_eq!(messages(&s, "restock"), (3 * 30, 30));
    assert_eq!(messages(&s, "talk"), (2 * 30, 2 * 30));
    assert_eq!(
        endpoint(&s, "refused").errors_by_kind["grpc_unavailable"],
        30
    );
    // The server's own count of the messages it read.
    let counted = std::fs::read_to_string(py.2.path().join("count")).unwrap();
    assert_eq!(
        counted.trim().parse::<u64>().unwrap(),
        30 + 30 + 3 * 30 + 2 * 30 + 30 + 30
    );
}

#[test]
fn validation_places_each_grpc_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "bad"
[embedded]
service = "grpc"
[grpc]
protos = ["{proto}"]
[load]
rate = 10
duration = "1s"
[[requests]]
name = "a"
grpc = "shop.Inventory/Reserv"
[[requests]]
name = "b"
grpc = "shop.Inventory/Reserve"
message = '{{"skuu": "x"}}'
[[requests]]
name = "c"
grpc = "shop.Inventory/Reserve"
check = {{ grpc_status = "UNAVAILBLE" }}
[[requests]]
name = "d"
grpc = "shop.Inventry/Watch"
[[requests]]
name = "e"
grpc = "shop.Inventory/Talk"
stream = {{ send = 10, every = "1s", timeout = "5s" }}
[[requests]]
name = "f"
grpc = "shop.Inventory/Talk"
stream = {{ send = 2, every = "9999999h" }}
"#,
            proto = proto()
        ),
    )
    .unwrap();
    let (code, _, err) = loadctl_out(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(":11:8") && err.contains("did you mean `Reserve`?"),
        "{err}"
    );
    assert!(
        err.contains(":15:11") && err.contains("skuu") && err.contains("did you mean `sku`?"),
        "{err}"
    );
    assert!(
        err.contains(":19:25") && err.contains("did you mean \"UNAVAILABLE\"?"),
        "{err}"
    );
    assert!(
        err.contains(":22:8") && err.contains("did you mean `shop.Inventory`?"),
        "{err}"
    );
    assert!(
        err.contains(":25:8: requests[4].stream.every")
            && err.contains("lengthen `stream.timeout`"),
        "{err}"
    );
    assert!(
        err.contains(":30:30: requests[5].stream.every") && err.contains("longer than"),
        "{err}"
    );
    // gRPC over HTTP/1.1 is said, with the fix.
    assert!(
        err.contains("gRPC runs over HTTP/2: add [http] version = \"h2c\""),
        "{err}"
    );
}

#[test]
fn validate_lists_the_methods_and_a_bad_proto_is_placed_in_its_own_file() {
    let (code, out, err) = loadctl_out(&[
        "validate",
        concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/grpc-inventory.toml"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(
            "shop.Inventory/Watch (server streaming): shop.WatchRequest -> shop.StockLevel"
        ),
        "{out}"
    );
    assert!(
        out.contains(r#"message = '{"sku":"","count":0,"everyMs":0}'"#),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.proto"),
        "syntax = \"proto3\";\nmessage A {\n  strin x = 1;\n}\n",
    )
    .unwrap();
    let path = dir.path().join("s.toml");
    std::fs::write(
        &path,
        "name = \"s\"\n[embedded]\nservice = \"grpc\"\n[http]\nversion = \"h2c\"\n[grpc]\nprotos = [\"x.proto\"]\n[load]\nrate = 1\nduration = \"1s\"\n[[requests]]\nname = \"a\"\ngrpc = \"A/B\"\n",
    )
    .unwrap();
    let (code, _, err) = loadctl_out(&["validate", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("x.proto:3:"), "{err}");
}

/// `[grpc] reflection = true` in place of `protos`.
fn reflecting(addr: SocketAddr, iterations: u32, body: &str) -> Result<Summary, String> {
    let p = plan(&format!(
        r#"
name = "grpc-reflection"
target = "http://{addr}"
[http]
version = "h2c"
[grpc]
reflection = true
[load]
model = "closed"
vus = 2
iterations = {iterations}
timeout = "2s"
[generator]
threads = 1
{body}
"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("out")),
        services: Some(loadctl::testbed::services()),
        ..loadctl::run::RunOptions::default()
    };
    loadctl::run::run(&p, &opts)
        .map(|o| o.summary)
        .map_err(|e| format!("{e:#}"))
}

const CALLS: &str = r#"
[flow]
[[flow.steps]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = '{"sku": "A-{{seq}}", "qty": 3}'
check = { "/qty" = 3 }
[[flow.steps]]
name = "watch"
grpc = "shop.Inventory/Watch"
message = '{"sku": "A-1", "count": 5}'
[[flow.steps]]
name = "talk"
grpc = "shop.Inventory/Talk"
message = '{"text": "hi"}'
stream = { send = 2, every = "5ms", receive = 2 }
"#;

#[test]
fn reflection_gives_the_plan_the_proto_gives_from_either_server() {
    let (svc, _) = grpc::start(Faults::default()).unwrap();
    let py = python_server();
    for addr in [svc.addr, py.1] {
        let by_reflection = reflecting(addr, 20, CALLS).unwrap();
        let by_proto = run(addr, 20, CALLS);
        for s in [&by_reflection, &by_proto] {
            for name in ["reserve", "watch", "talk"] {
                let e = endpoint(s, name);
                assert_eq!(
                    (e.requests, e.ok),
                    (20, 20),
                    "{addr} {name}: {:?}",
                    e.errors_by_kind
                );
            }
            assert_eq!(messages(s, "watch"), (20, 5 * 20));
            assert_eq!(messages(s, "talk"), (2 * 20, 2 * 20));
        }
    }
}

#[test]
fn a_method_the_reflection_does_not_know_is_placed_in_the_scenario() {
    let (svc, stats) = grpc::start(Faults::default()).unwrap();
    let err = reflecting(
        svc.addr,
        5,
        "[[requests]]\nname = \"r\"\ngrpc = \"shop.Inventory/Reserv\"\nmessage = '{\"skuu\": \"x\"}'\n",
    )
    .unwrap_err();
    assert!(err.contains("did you mean `Reserve`?"), "{err}");
    assert!(err.contains("line 17:8: requests[0].grpc"), "{err}");
    // Nothing of the load was sent.
    assert_eq!(stats.calls.load(Ordering::Relaxed), 0);

    // A server without reflection: said, with what to write instead.
    let silent = hostile(|mut r| {
        let mut h = grpc_head();
        h.headers_mut().insert("grpc-status", "12".parse().unwrap());
        let _ = r.send_response(h, true);
    });
    let err = reflecting(silent, 5, "[[requests]]\nname = \"r\"\ngrpc = \"a.B/C\"\n").unwrap_err();
    assert!(err.contains("serves no reflection service"), "{err}");
    assert!(err.contains("`protos` or `descriptor_set`"), "{err}");
}

#[test]
fn calls_go_over_tls_with_http2_agreed_by_alpn() {
    use loadctl::testbed::tls;
    let (router, stats) = grpc::app(Faults::default());
    let (ca, config) = tls::self_signed(&[]).unwrap();
    let addr = spawn_server(move |listener| async move {
        let _ = tls::serve(listener, router, config, std::future::pending()).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca).unwrap();
    let p = plan(&format!(
        r#"
name = "grpc-tls"
target = "https://localhost:{port}"
[http]
version = "2"
[tls]
ca = "{ca}"
[grpc]
protos = ["{proto}"]
[load]
model = "closed"
vus = 2
iterations = 20
[[requests]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = {{ sku = "A-1", qty = 1 }}
"#,
        port = addr.port(),
        ca = ca_path.display(),
        proto = proto()
    ));
    let (outcome, out) = run_plan(&p);
    let s = outcome.summary;
    let e = endpoint(&s, "reserve");
    assert_eq!((e.requests, e.ok), (20, 20), "{:?}", e.errors_by_kind);
    assert!(e.phases_ms.contains_key("tls"), "{:?}", e.phases_ms);
    // The report says what went over the wire, messages included.
    let html = std::fs::read_to_string(out.path().join("out/report.html")).unwrap();
    assert!(
        html.contains("gRPC messages: <b>20</b> sent, <b>20</b> received"),
        "no gRPC messages line"
    );
    assert!(html.contains("first_message"), "no first_message phase");
    assert_eq!(stats.ok.load(Ordering::Relaxed), 20);
}

#[test]
fn a_grpc_step_between_http_steps_takes_and_gives_extracted_values() {
    use loadctl::testbed::{Embedded, ServiceConfig};
    let http = Embedded::start("activities", &ServiceConfig::default(), 1).unwrap();
    let (svc, _) = grpc::start(Faults::default()).unwrap();
    let s = run(
        svc.addr,
        10,
        &format!(
            r#"
[flow]
[[flow.steps]]
name = "activity"
path = "http://{http}/api/v1/activities/7/"
extract = {{ title = {{ json = "/title" }} }}
[[flow.steps]]
name = "reserve"
grpc = "shop.Inventory/Reserve"
message = {{ sku = "{{{{title}}}}", qty = 2 }}
extract = {{ rid = {{ json = "/id" }}, sku = {{ json = "/sku" }} }}
[[flow.steps]]
name = "user"
path = "http://{http}/api/v1/users/1/?reservation={{{{rid}}}}"
"#,
            http = http.addr
        ),
    );
    for name in ["activity", "reserve", "user"] {
        let e = endpoint(&s, name);
        assert_eq!(
            (e.requests, e.ok),
            (10, 10),
            "{name}: {:?}",
            e.errors_by_kind
        );
    }
}

#[test]
fn a_streams_own_timeout_replaces_the_runs() {
    let (svc, _) = grpc::start(Faults::default()).unwrap();
    // Three messages 1.2 s apart: longer than the run's 2 s timeout, within the stream's 4 s.
    let s = run(
        svc.addr,
        2,
        r#"
[flow]
[[flow.steps]]
name = "slow"
grpc = "shop.Inventory/Watch"
message = '{"sku": "A-1", "count": 3, "every_ms": 1200}'
stream = { timeout = "4s" }
[[flow.steps]]
name = "cut"
grpc = "shop.Inventory/Watch"
message = '{"sku": "A-1", "count": 3, "every_ms": 1200}'
"#,
    );
    let slow = endpoint(&s, "slow");
    let cut = endpoint(&s, "cut");
    assert_eq!(
        (slow.requests, slow.ok),
        (2, 2),
        "{:?}",
        slow.errors_by_kind
    );
    assert_eq!(
        (cut.requests, cut.errors_by_kind["timeout"]),
        (2, 2),
        "{:?}",
        cut.errors_by_kind
    );
}
