//! HTTPS, HTTP/2 and the request's phases against in-process servers on 127.0.0.1:0 with
//! certificates made by the test (rcgen): verification with a test CA, each TLS failure
//! with its reason, `insecure`, mutual TLS, ALPN to HTTP/2, h2c, GOAWAY and RST_STREAM
//! from the server, `wss://`, and phase histograms that add up to the service time.
//! Only counts, kinds and ratios are asserted: no timing upper bound.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use loadctl::report::Status;
use loadctl::summary::Summary;
use loadctl::testbed::tls::{self, Leaf, Pki, Validity};

use crate::support::{plan, run_plan};

/// Counts requests by HTTP version (index 1: HTTP/1.1, 2: HTTP/2).
#[derive(Default)]
struct Seen([AtomicU64; 3]);

fn app(seen: Arc<Seen>) -> Router {
    Router::new().route(
        "/x",
        get(move |v: axum::http::Version| {
            let seen = seen.clone();
            async move {
                let i = if v == axum::http::Version::HTTP_2 {
                    2
                } else {
                    1
                };
                seen.0[i].fetch_add(1, Ordering::Relaxed);
                "hello over tls"
            }
        }),
    )
}

/// Serves `router` over TLS with `config` from a runtime thread of its own.
fn serve_tls(router: Router, config: Arc<rustls::ServerConfig>) -> SocketAddr {
    crate::support::spawn_server(move |listener| async move {
        let _ = tls::serve(listener, router, config, std::future::pending()).await;
    })
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A small open-model scenario against `target` with extra tables.
fn scenario(target: &str, extra: &str) -> String {
    format!(
        r#"
name = "tls"
target = "{target}"
[load]
rate = 100
duration = "2s"
timeout = "3s"
connections = 4
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "x"
path = "/x"
{extra}
"#
    )
}

fn tls_errors(s: &Summary) -> std::collections::BTreeMap<String, u64> {
    s.transport
        .as_ref()
        .map(|t| t.connections.tls_errors.clone())
        .unwrap_or_default()
}

/// A server whose certificate is for `names` with `validity`, signed by a fresh CA; the
/// CA's PEM written into `dir`.
fn server(dir: &Path, names: &[&str], validity: Validity) -> (SocketAddr, String, Arc<Seen>) {
    let pki = Pki::new("test CA").unwrap();
    let leaf = pki.server(names, validity).unwrap();
    let seen = Arc::new(Seen::default());
    let config = tls::server_config(&leaf, None, tls::ALPN_H2_H1).unwrap();
    let addr = serve_tls(app(seen.clone()), config);
    (addr, write(dir, "ca.pem", &pki.ca_pem()), seen)
}

#[test]
fn a_trusted_ca_verifies_and_phases_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca, seen) = server(dir.path(), &["127.0.0.1"], Validity::Current);
    let text = scenario(
        &format!("https://{addr}"),
        &format!(
            "[tls]\nca = \"{ca}\"\n[slo]\n\"x.ttfb.p99\" = \"< 10s\"\n\"tls.p95\" = \"< 10s\"\n"
        ),
    );
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.totals.errors, 0, "{:?}", s.endpoints[0].errors_by_kind);
    assert_eq!(s.totals.requests, 200);
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
    assert_eq!(
        seen.0[1].load(Ordering::Relaxed),
        200,
        "HTTP/1.1 by default"
    );
    let t = s.transport.as_ref().unwrap();
    assert!(t.tls && !t.insecure && t.http == "1.1");
    let opened = t.connections.opened;
    assert!(
        (1..=8).contains(&opened),
        "keep-alive: {opened} connections"
    );
    let e = &s.endpoints[0];
    // Handshake phases count the requests that opened a connection; ttfb and download
    // every answered request.
    for p in ["connect", "tls", "ttfb", "download"] {
        assert!(
            e.phases_ms.contains_key(p),
            "{p} missing: {:?}",
            e.phases_ms
        );
    }
    assert!(
        !e.phases_ms.contains_key("dns"),
        "an IP address is not resolved"
    );
    assert!(e.phases_ms["tls"].p50 > 0.0);
    assert!(s.slo.iter().all(|r| r.observed.is_some()), "{:?}", s.slo);
    // The reports carry them too.
    let csv = std::fs::read_to_string(out.out_dir.join("summary.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains("tls_p99_ms"));
    let html = std::fs::read_to_string(out.out_dir.join("report.html")).unwrap();
    assert!(html.contains("Where the time went") && html.contains("phase-table"));
}

#[test]
fn each_tls_failure_is_a_tls_error_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let other = Pki::new("someone else").unwrap();
    let other_ca = write(dir.path(), "other.pem", &other.ca_pem());
    let cases: [(&[&str], Validity, bool, &str); 3] = [
        (&["127.0.0.1"], Validity::Current, false, "unknown_issuer"),
        (&["127.0.0.1"], Validity::Expired, true, "expired"),
        (&["other.test"], Validity::Current, true, "name_mismatch"),
    ];
    for (names, validity, trusted, reason) in cases {
        let sub = dir.path().join(reason);
        std::fs::create_dir(&sub).unwrap();
        let (addr, ca, seen) = server(&sub, names, validity);
        let ca = if trusted { ca } else { other_ca.clone() };
        let text = scenario(
            &format!("https://{addr}"),
            &format!("[tls]\nca = \"{ca}\"\n"),
        );
        let (out, _d) = run_plan(&plan(&text));
        let s = &out.summary;
        assert_eq!(s.totals.ok, 0, "{reason}");
        assert_eq!(
            s.endpoints[0].errors_by_kind["tls"], s.totals.requests,
            "{reason}"
        );
        assert_eq!(
            tls_errors(s).keys().collect::<Vec<_>>(),
            vec![reason],
            "{reason}: {:?}",
            tls_errors(s)
        );
        assert_eq!(
            seen.0[1].load(Ordering::Relaxed),
            0,
            "nothing reached the handler"
        );
        assert_eq!(s.status, Status::Fail);
    }
}

#[test]
fn server_name_and_insecure_get_past_what_verification_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca, _) = server(dir.path(), &["other.test"], Validity::Current);
    // The certificate is for other.test: verify against that name instead of the address.
    let text = scenario(
        &format!("https://{addr}"),
        &format!("[tls]\nca = \"{ca}\"\nserver_name = \"other.test\"\n"),
    );
    let (out, _d) = run_plan(&plan(&text));
    assert_eq!(out.summary.totals.ok, 200, "{:?}", tls_errors(&out.summary));

    // An untrusted, expired certificate: only insecure gets past it, and says so.
    let (addr, _, _) = server(dir.path(), &["127.0.0.1"], Validity::Expired);
    let text = scenario(&format!("https://{addr}"), "[tls]\ninsecure = true\n");
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.totals.ok, 200);
    assert!(s.transport.as_ref().unwrap().insecure);
    let html = std::fs::read_to_string(out.out_dir.join("report.html")).unwrap();
    assert!(html.contains("TLS NOT VERIFIED"));
}

#[test]
fn mutual_tls_needs_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new("mtls CA").unwrap();
    let leaf = pki.server(&["127.0.0.1"], Validity::Current).unwrap();
    let client: Leaf = pki.client("loadctl").unwrap();
    let ca_pem = pki.ca_pem();
    let config = tls::server_config(&leaf, Some(&ca_pem), tls::ALPN_H2_H1).unwrap();
    let addr = serve_tls(app(Arc::new(Seen::default())), config);
    let ca = write(dir.path(), "ca.pem", &ca_pem);
    let cert = write(dir.path(), "client.pem", &client.cert_pem);
    let key = write(dir.path(), "client.key", &client.key_pem);

    let without = scenario(
        &format!("https://{addr}"),
        &format!("[tls]\nca = \"{ca}\"\n"),
    );
    let (out, _d) = run_plan(&plan(&without));
    let s = &out.summary;
    assert_eq!(s.totals.ok, 0);
    assert_eq!(
        tls_errors(s).keys().collect::<Vec<_>>(),
        vec!["client_cert"],
        "{:?} {:?}",
        tls_errors(s),
        s.endpoints[0].errors_by_kind
    );

    let with = scenario(
        &format!("https://{addr}"),
        &format!("[tls]\nca = \"{ca}\"\nclient_cert = \"{cert}\"\nclient_key = \"{key}\"\n"),
    );
    let (out, _d) = run_plan(&plan(&with));
    assert_eq!(out.summary.totals.ok, 200, "{:?}", tls_errors(&out.summary));
}

#[test]
fn http2_is_agreed_with_alpn_and_refused_clearly_when_not_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca, seen) = server(dir.path(), &["127.0.0.1"], Validity::Current);
    let text = scenario(
        &format!("https://{addr}"),
        &format!("[tls]\nca = \"{ca}\"\n[http]\nversion = \"2\"\nmax_streams = 4\n"),
    );
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.totals.ok, 200, "{:?}", s.endpoints[0].errors_by_kind);
    assert_eq!(
        seen.0[2].load(Ordering::Relaxed),
        200,
        "every request over HTTP/2"
    );
    let t = s.transport.as_ref().unwrap();
    assert_eq!(t.http, "2");
    // 4 connections × 4 streams over 2 threads: far fewer connections than requests.
    assert!(t.connections.opened <= 8, "{}", t.connections.opened);

    // A server that speaks only HTTP/1.1: refused before any load, with the fix (exit 2).
    let pki = Pki::new("h1 only").unwrap();
    let leaf = pki.server(&["127.0.0.1"], Validity::Current).unwrap();
    let config = tls::server_config(&leaf, None, &[b"http/1.1"]).unwrap();
    let seen = Arc::new(Seen::default());
    let addr = serve_tls(app(seen.clone()), config);
    let ca = write(dir.path(), "h1.pem", &pki.ca_pem());
    let text = scenario(
        &format!("https://{addr}"),
        &format!("[tls]\nca = \"{ca}\"\n[http]\nversion = \"2\"\n"),
    );
    let err = loadctl::run::run(&plan(&text), &Default::default()).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        format!("{err:#}").contains("does not offer HTTP/2"),
        "{err:#}"
    );
    assert_eq!(seen.0[1].load(Ordering::Relaxed), 0, "nothing was sent");
}

#[test]
fn h2c_speaks_http2_with_prior_knowledge() {
    let seen = Arc::new(Seen::default());
    let addr = crate::support::serve(app(seen.clone()));
    let text = scenario(&format!("http://{addr}"), "[http]\nversion = \"h2c\"\n");
    let (out, _d) = run_plan(&plan(&text));
    assert_eq!(
        out.summary.totals.ok, 200,
        "{:?}",
        out.summary.endpoints[0].errors_by_kind
    );
    assert_eq!(seen.0[2].load(Ordering::Relaxed), 200);
    assert!(!out.summary.transport.as_ref().unwrap().tls);
}

/// An h2c server on the h2 crate: every `goaway_after`th request on a connection is
/// answered and followed by a graceful GOAWAY; every `refuse_every`th stream is refused
/// (REFUSED_STREAM) and every `reset_every`th reset (INTERNAL_ERROR) instead of answered.
fn h2_server(goaway_after: u64, refuse_every: u64, reset_every: u64) -> SocketAddr {
    crate::support::spawn_server(move |listener| async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(tcp).await else {
                    return;
                };
                let mut n = 0u64;
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    n += 1;
                    if refuse_every > 0 && n.is_multiple_of(refuse_every) {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    if reset_every > 0 && n.is_multiple_of(reset_every) {
                        respond.send_reset(h2::Reason::INTERNAL_ERROR);
                        continue;
                    }
                    let resp = http::Response::builder().status(200).body(()).unwrap();
                    if let Ok(mut body) = respond.send_response(resp, false) {
                        let _ = body.send_data(Bytes::from_static(b"ok"), true);
                    }
                    if goaway_after > 0 && n.is_multiple_of(goaway_after) {
                        conn.graceful_shutdown();
                    }
                }
            });
        }
    })
}

#[test]
fn a_goaway_mid_run_moves_requests_to_a_new_connection() {
    let addr = h2_server(40, 0, 0);
    let text = scenario(&format!("http://{addr}"), "[http]\nversion = \"h2c\"\n");
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.totals.requests, 200);
    assert_eq!(s.totals.errors, 0, "{:?}", s.endpoints[0].errors_by_kind);
    let opened = s.transport.as_ref().unwrap().connections.opened;
    assert!(
        opened >= 4,
        "200 requests, a GOAWAY every 40: {opened} connections"
    );
}

#[test]
fn refused_streams_are_sent_again_and_resets_are_errors() {
    let addr = h2_server(0, 7, 0);
    let text = scenario(&format!("http://{addr}"), "[http]\nversion = \"h2c\"\n");
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.totals.errors, 0, "{:?}", s.endpoints[0].errors_by_kind);
    let c = &s.transport.as_ref().unwrap().connections;
    assert!(c.refused_streams > 0, "{c:?}");

    let addr = h2_server(0, 0, 10);
    let text = scenario(&format!("http://{addr}"), "[http]\nversion = \"h2c\"\n");
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    let resets = s.endpoints[0].errors_by_kind["stream_reset"];
    assert!((10..=30).contains(&resets), "one in ten of 200: {resets}");
    assert_eq!(s.totals.ok + resets, 200);
}

#[test]
fn fresh_connections_add_up_to_the_service_time() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca, _) = server(dir.path(), &["localhost"], Validity::Current);
    let text = scenario(
        &format!("https://localhost:{}", addr.port()),
        &format!("[tls]\nca = \"{ca}\"\nresumption = false\n[http]\nkeep_alive = false\n"),
    );
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    assert_eq!(s.totals.ok, 200, "{:?}", tls_errors(s));
    let t = s.transport.as_ref().unwrap();
    assert_eq!(t.connections.opened, 200, "a connection per request");
    assert_eq!(t.connections.resumed, 0, "resumption off");
    let e = &s.endpoints[0];
    // A host name is resolved for every connection.
    let phases: f64 = ["dns", "connect", "tls", "ttfb", "download"]
        .iter()
        .map(|p| {
            e.phases_ms
                .get(*p)
                .unwrap_or_else(|| panic!("{p}: {:?}", e.phases_ms))
                .mean
        })
        .sum();
    let service = e.service_latency_ms.mean;
    assert!(
        phases <= service * 1.01 + 0.01 && phases >= service * 0.6,
        "phases {phases:.3} ms vs service {service:.3} ms"
    );
}

#[test]
fn resumption_shows_in_the_connection_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca, _) = server(dir.path(), &["127.0.0.1"], Validity::Current);
    let text = scenario(
        &format!("https://{addr}"),
        &format!("[tls]\nca = \"{ca}\"\n[http]\nkeep_alive = false\n"),
    );
    let (out, _d) = run_plan(&plan(&text));
    let c = &out.summary.transport.as_ref().unwrap().connections;
    assert_eq!(c.opened, 200);
    assert!(c.resumed >= 150, "TLS 1.3 tickets: {c:?}");
}

#[test]
fn chat_runs_over_wss() {
    let pki = Pki::new("chat CA").unwrap();
    let leaf = pki.server(&["127.0.0.1"], Validity::Current).unwrap();
    let config = tls::server_config(&leaf, None, &[b"http/1.1"]).unwrap();
    let (router, _) =
        loadctl::testbed::router("chat", &loadctl::testbed::ServiceConfig::default()).unwrap();
    let addr = serve_tls(router, config);
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem());
    let text = format!(
        r#"
name = "wss"
target = "wss://{addr}"
[load]
model = "connections"
connections = 20
connect_rate = 100
hold = "1s"
timeout = "5s"
[generator]
max_send_lag_p99 = "1s"
[chat]
groups = 2
members = 10
publish_rate = 2
grace = "1s"
[tls]
ca = "{ca}"
"#
    );
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    let ws = s.ws.as_ref().unwrap();
    assert_eq!(ws.connected, 20, "{:?}", s.endpoints[0].errors_by_kind);
    assert!(ws.delivered > 0 && ws.lost == 0, "{ws:?}");
    let connect = &s.endpoints[0];
    assert!(
        connect.phases_ms.contains_key("tls"),
        "{:?}",
        connect.phases_ms
    );
}

/// The README's HTTPS run with no cluster: `testbed serve --tls` writes its CA, and `run`
/// trusts it with `--set tls.ca=…`, over HTTP/1.1 and HTTP/2.
#[test]
fn testbed_serve_tls_and_a_run_against_it() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .args([
            "testbed",
            "serve",
            "activities",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "1",
        ])
        .arg("--tls")
        .arg("--tls-dir")
        .arg(&tls_dir)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut addr = None;
    for _ in 0..4 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(rest) = line.split("https://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let addr = addr.expect("the serving line names an https:// address");
    let ca = tls_dir.join("ca.pem");
    assert!(std::fs::read_to_string(&ca)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert!(
        std::fs::read_dir(&tls_dir).unwrap().count() == 1,
        "only the CA certificate is written, never a key"
    );
    let scenario = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/activities-list.toml"
    );
    for version in ["1.1", "2"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_loadctl"))
            .args(["run", scenario, "--target", &format!("https://{addr}")])
            .args([
                "--duration",
                "1s",
                "--rate",
                "50",
                "--set",
                "load.warmup=0s",
                // A debug build's TLS handshakes on a busy machine can delay a send past
                // the generator's own 10 ms check (exit 3): this test is about TLS.
                "--set",
                "generator.max_send_lag_p99=1s",
            ])
            .args(["--set", &format!("tls.ca={}", ca.display())])
            .args(["--set", &format!("http.version={version}")])
            .arg("--out")
            .arg(dir.path().join(format!("run-{version}")))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Exit 1: the scenario's own `rps >= 1000` fails at 50/s; every request succeeded.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("over TLS") && stdout.contains("50 ok · 0 errors"),
            "{stdout}"
        );
    }
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}
