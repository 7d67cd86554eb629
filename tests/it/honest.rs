//! Honest under failure: targets with a known truth (what they received, reset, refused)
//! against what loadctl reports. A retry is counted and shown, never a way to make the
//! target look healthier; a refusal costs one connection, not one per request; a server
//! that floods control frames is the server's protocol error, not the generator's lag.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use loadctl::summary::Summary;

use crate::support::{plan, read_head, reset, run_plan, spawn_server};

/// What a counting target saw.
#[derive(Default)]
struct Truth {
    received: AtomicU64,
    reset: AtomicU64,
    failed_500: AtomicU64,
    connections: AtomicU64,
}

/// A keep-alive HTTP/1.1 server; `decide(n, idle)` says what request `n` (counted over
/// the server, from 1) gets, `idle` being how long its connection was quiet before it.
fn counting(decide: fn(u64, Duration) -> Answer) -> (SocketAddr, Arc<Truth>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let truth = Arc::new(Truth::default());
    let t = truth.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let t = t.clone();
            t.connections.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || serve_conn(s, &t, decide));
        }
    });
    (addr, truth)
}

enum Answer {
    Ok,
    Status500,
    Reset,
}

fn serve_conn(mut s: TcpStream, t: &Truth, decide: fn(u64, Duration) -> Answer) {
    let mut last = Instant::now();
    let mut first = true;
    while read_head(&mut s) {
        let n = t.received.fetch_add(1, Ordering::Relaxed) + 1;
        let idle = if first {
            Duration::ZERO
        } else {
            last.elapsed()
        };
        first = false;
        let head: &[u8] = match decide(n, idle) {
            Answer::Ok => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            Answer::Status500 => {
                t.failed_500.fetch_add(1, Ordering::Relaxed);
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nno"
            }
            Answer::Reset => {
                t.reset.fetch_add(1, Ordering::Relaxed);
                return reset(s);
            }
        };
        if s.write_all(head).is_err() {
            return;
        }
        last = Instant::now();
    }
}

fn retried(s: &Summary, cause: &str) -> u64 {
    s.transport
        .as_ref()
        .and_then(|t| t.connections.retried.get(cause).copied())
        .unwrap_or(0)
}

#[test]
fn a_target_that_resets_busy_connections_is_charged_every_reset() {
    // Each 200th request read and then reset, 3 in 200 of the others answered 500: 2.0 %
    // of what the target received failed, and loadctl must say exactly that.
    let (addr, truth) = counting(|n, _| match n % 200 {
        0 => Answer::Reset,
        50 | 100 | 150 => Answer::Status500,
        _ => Answer::Ok,
    });
    let p = plan(&format!(
        r#"
name = "resets"
target = "http://{addr}"
[load]
rate = 500
duration = "2s"
timeout = "1s"
connections = 8
[generator]
threads = 1
[[requests]]
name = "get"
path = "/"
"#
    ));
    let (out, _d) = run_plan(&p);
    let s = &out.summary;
    let e = &s.endpoints[0];
    let received = truth.received.load(Ordering::Relaxed);
    assert_eq!(s.totals.requests, received, "nothing sent twice");
    assert_eq!(
        e.errors_by_kind["reset"],
        truth.reset.load(Ordering::Relaxed),
        "{:?}",
        e.errors_by_kind
    );
    assert_eq!(
        e.errors_by_kind["http_5xx"],
        truth.failed_500.load(Ordering::Relaxed)
    );
    assert!(e.errors_by_kind["reset"] >= 4);
    assert_eq!(retried(s, "stale_keepalive"), 0);
    let truth_rate = (truth.reset.load(Ordering::Relaxed)
        + truth.failed_500.load(Ordering::Relaxed)) as f64
        / received as f64;
    assert!((s.totals.error_rate - truth_rate).abs() < 1e-9);
    // Every connection the target accepted is one loadctl opened.
    let opened = s.transport.as_ref().unwrap().connections.opened;
    assert_eq!(opened, truth.connections.load(Ordering::Relaxed));
}

/// Closed model, one user pausing 1.2 s between requests to a server that resets a
/// connection quiet for 1 s or more, as a server closing idle connections does.
fn idle_run(extra: &str) -> (Summary, Arc<Truth>) {
    let (addr, truth) = counting(|_, idle| {
        if idle >= Duration::from_secs(1) {
            Answer::Reset
        } else {
            Answer::Ok
        }
    });
    let p = plan(&format!(
        r#"
name = "idle"
target = "http://{addr}"
[load]
vus = 1
iterations = 4
think_time = "1200ms"
timeout = "1s"
[[requests]]
name = "get"
path = "/"
{extra}
"#
    ));
    let (out, _d) = run_plan(&p);
    (out.summary, truth)
}

#[test]
fn an_idle_close_is_retried_and_counted_and_never_is_never() {
    let (s, truth) = idle_run("");
    let resets = truth.reset.load(Ordering::Relaxed);
    assert_eq!(s.totals.requests, 4);
    assert_eq!(s.totals.errors, 0, "{:?}", s.endpoints[0].errors_by_kind);
    assert_eq!(
        resets, 3,
        "the 2nd, 3rd and 4th found their connection idle"
    );
    assert_eq!(retried(&s, "stale_keepalive"), resets);
    let c = s.endpoints[0].connections.as_ref().unwrap();
    assert_eq!(c.retried["stale_keepalive"], 3);
    assert_eq!(s.transport.as_ref().unwrap().connections.opened, 4);

    // Nothing sent twice: the 2nd and the 4th fail (the 3rd opens a fresh connection).
    let (s, truth) = idle_run("[http]\nretry = \"never\"\n");
    assert_eq!(s.endpoints[0].errors_by_kind["reset"], 2);
    assert_eq!(truth.reset.load(Ordering::Relaxed), 2);
    assert_eq!(retried(&s, "stale_keepalive"), 0);

    // A connection quiet for less than retry_idle that resets is the target's reset.
    let (s, truth) = idle_run("[http]\nretry_idle = \"5s\"\n");
    assert_eq!(s.endpoints[0].errors_by_kind["reset"], 2);
    assert_eq!(truth.reset.load(Ordering::Relaxed), 2);
    assert_eq!(retried(&s, "stale_keepalive"), 0);
}

#[test]
fn a_bad_retry_rule_is_a_scenario_error_with_its_position() {
    let text = "name = \"t\"\n[load]\nvus = 1\nduration = \"1s\"\n[http]\nretry = \"always\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n";
    let err = loadctl::scenario::parse(
        std::path::Path::new("t.toml"),
        text,
        &loadctl::scenario::Overrides::default(),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("t.toml:6:9"), "{err}");
    assert!(err.contains("idle-only"), "{err}");
}

#[test]
fn timed_out_requests_still_count_the_connections_they_opened() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicU64::new(0));
    let a = accepted.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            a.fetch_add(1, Ordering::Relaxed);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(20));
                drop(s);
            });
        }
    });
    let p = plan(&format!(
        r#"
name = "stall"
target = "http://{addr}"
[load]
vus = 3
duration = "1s"
timeout = "300ms"
[[requests]]
name = "get"
path = "/"
"#
    ));
    let (out, _d) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.endpoints[0].errors_by_kind["timeout"], s.totals.requests);
    let opened = s.transport.as_ref().unwrap().connections.opened;
    assert_eq!(opened, accepted.load(Ordering::Relaxed));
    assert!(opened >= 3, "{opened}");
}

/// An h2c server on the h2 crate whose every stream is refused, or that allows none.
fn refusing_h2(max_streams: Option<u32>) -> (SocketAddr, Arc<Truth>) {
    let truth = Arc::new(Truth::default());
    let t = truth.clone();
    let addr = spawn_server(move |listener| async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            t.connections.fetch_add(1, Ordering::Relaxed);
            let t = t.clone();
            tokio::spawn(async move {
                let mut b = h2::server::Builder::new();
                if let Some(n) = max_streams {
                    b.max_concurrent_streams(n);
                }
                let Ok(mut conn) = b.handshake::<_, Bytes>(tcp).await else {
                    return;
                };
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    t.received.fetch_add(1, Ordering::Relaxed);
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                }
            });
        }
    });
    (addr, truth)
}

fn h2c_run(addr: SocketAddr) -> Summary {
    let p = plan(&format!(
        r#"
name = "h2-refusals"
target = "http://{addr}"
[load]
rate = 125
duration = "2s"
timeout = "500ms"
connections = 2
[generator]
threads = 1
[http]
version = "h2c"
[[requests]]
name = "get"
path = "/"
"#
    ));
    run_plan(&p).0.summary
}

#[test]
fn refused_streams_reuse_their_connection_and_every_retry_shows() {
    let (addr, truth) = refusing_h2(None);
    let s = h2c_run(addr);
    let c = &s.transport.as_ref().unwrap().connections;
    let conns = truth.connections.load(Ordering::Relaxed);
    assert_eq!(s.totals.requests, 250);
    assert_eq!(s.endpoints[0].errors_by_kind["stream_reset"], 250);
    // Each request refused, sent once more, refused again.
    assert_eq!(c.retried["refused_stream"], 250, "{c:?}");
    assert_eq!(c.refused_streams, 500, "{c:?}");
    assert_eq!(truth.received.load(Ordering::Relaxed), 500);
    assert_eq!(c.opened, conns);
    assert!(
        conns <= 4,
        "a refusal costs no connection: {conns} for 250 requests"
    );
}

#[test]
fn a_server_that_allows_no_streams_is_its_own_reason() {
    let (addr, truth) = refusing_h2(Some(0));
    let s = h2c_run(addr);
    let c = &s.transport.as_ref().unwrap().connections;
    let conns = truth.connections.load(Ordering::Relaxed);
    assert_eq!(s.totals.requests, 250);
    assert_eq!(
        c.protocol_errors.get("no_streams"),
        Some(&250),
        "{c:?} {:?}",
        s.endpoints[0].errors_by_kind
    );
    assert_eq!(s.endpoints[0].errors_by_kind["protocol"], 250);
    assert!(conns <= 4, "{conns} connections for 250 requests");
    assert_eq!(c.opened, conns);
}

/// An h2c server that answers the handshake and then sends PINGs as fast as it can
/// (at most 4 s), answering no stream.
fn ping_flood() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut preface = [0u8; 24];
                if s.read_exact(&mut preface).is_err() {
                    return;
                }
                // SETTINGS (empty), then PINGs in batches.
                let _ = s.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
                let ping = [0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
                let batch: Vec<u8> = ping.iter().copied().cycle().take(17 * 256).collect();
                let until = Instant::now() + Duration::from_secs(4);
                let _ = s.set_write_timeout(Some(Duration::from_millis(200)));
                while Instant::now() < until {
                    if s.write_all(&batch).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn a_ping_flood_is_the_servers_protocol_error_not_the_generators_lag() {
    let addr = ping_flood();
    let p = plan(&format!(
        r#"
name = "ping-flood"
target = "http://{addr}"
[load]
rate = 100
duration = "2s"
timeout = "500ms"
connections = 2
[generator]
threads = 1
# Tolerant of a shared CI machine; what shows the flood is bounded is `control_flood`.
max_send_lag_p99 = "100ms"
[http]
version = "h2c"
[[requests]]
name = "get"
path = "/"
"#
    ));
    let (out, _d) = run_plan(&p);
    let s = &out.summary;
    let c = &s.transport.as_ref().unwrap().connections;
    assert!(
        c.protocol_errors.get("control_flood").copied().unwrap_or(0) > 0,
        "{c:?} {:?}",
        s.endpoints[0].errors_by_kind
    );
    eprintln!(
        "PING flood: send-lag p99 {:.3} ms, control_flood {:?}",
        s.generator.send_lag_p99_ms,
        c.protocol_errors.get("control_flood")
    );
    assert!(
        s.generator.valid,
        "the generator kept its schedule: {:?}",
        s.reasons
    );
}

#[test]
fn a_certificate_chain_over_the_tls_limit_is_a_tls_error_not_a_timeout() {
    use loadctl::testbed::tls::{self, Pki, Validity};
    let pki = Pki::new("big CA").unwrap();
    let mut leaf = pki.server(&["127.0.0.1"], Validity::Current).unwrap();
    // 20,000 copies of the certificate: a chain of megabytes in one handshake message.
    leaf.cert_pem = leaf.cert_pem.repeat(20_000);
    let config = tls::server_config(&leaf, None, tls::ALPN_H2_H1).unwrap();
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let addr = spawn_server(move |listener| async move {
        let _ = tls::serve(listener, router, config, std::future::pending()).await;
    });
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let p = plan(&format!(
        r#"
name = "big-chain"
target = "https://{addr}"
[load]
rate = 20
duration = "1s"
timeout = "2s"
connections = 2
[generator]
threads = 1
[tls]
ca = "{}"
[[requests]]
name = "get"
path = "/"
"#,
        ca.display()
    ));
    let started = Instant::now();
    let (out, _d) = run_plan(&p);
    let s = &out.summary;
    let c = &s.transport.as_ref().unwrap().connections;
    assert_eq!(
        s.endpoints[0].errors_by_kind["timeout"], 0,
        "{:?} {c:?}",
        s.endpoints[0].errors_by_kind
    );
    assert_eq!(s.endpoints[0].errors_by_kind["tls"], s.totals.requests);
    assert_eq!(
        c.tls_errors.get("certificate_too_large"),
        Some(&s.totals.requests),
        "{c:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_tls_server_that_never_answers_ends_the_run_on_time_with_its_reason() {
    // Accepts, reads the ClientHello, answers nothing.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(20));
                drop(s);
            });
        }
    });
    for version in ["1.1", "2"] {
        let p = plan(&format!(
            r#"
name = "tls-stall"
target = "https://{addr}"
[load]
rate = 20
duration = "2s"
timeout = "2s"
connections = 2
[generator]
threads = 1
[http]
version = "{version}"
[[requests]]
name = "get"
path = "/"
"#
        ));
        let started = Instant::now();
        let (out, _d) = run_plan(&p);
        let took = started.elapsed();
        let s = &out.summary;
        let c = &s.transport.as_ref().unwrap().connections;
        assert!(
            c.tls_errors.get("handshake_timeout").copied().unwrap_or(0) > 0,
            "{version}: {c:?}"
        );
        assert_eq!(
            s.endpoints[0].errors_by_kind["timeout"], 0,
            "{version}: {:?}",
            s.endpoints[0].errors_by_kind
        );
        // duration + timeout, the drain, the ALPN check's budget (HTTP/2), and slack.
        let bound = Duration::from_secs(2 + 2 + 1 + 1 + 3);
        assert!(took <= bound, "{version}: {took:?} beyond {bound:?}");
    }
}
