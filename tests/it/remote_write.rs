//! `[[export]] kind = "remote_write"` against a real Prometheus (Debian's, with its
//! remote-write receiver on, on loopback): what the run pushed is what Prometheus answers
//! for the run's series. And against hostile endpoints: one that refuses the healthcheck
//! stops the run before any load (exit 2); one that stops answering mid-run never holds
//! the run past its end by more than the documented final wait.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{counting_target, plan, run_plan};

struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn prometheus() -> Prometheus {
    prometheus_with(&[])
}

fn prometheus_with(flags: &[&str]) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.path().join("p.yml"), "global:\n  scrape_interval: 1m\n").unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.path().join("p.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the remote-write test needs Prometheus: `apt-get install prometheus` (ci/test.sh does)");
    let p = Prometheus {
        child,
        port,
        _dir: dir,
    };
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        if http_get(port, "/-/ready")
            .is_some_and(|r| r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"))
        {
            return p;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("Prometheus did not become ready");
}

/// The value Prometheus answers for an instant query (after pushes arrived).
fn query(port: u16, q: &str) -> Option<f64> {
    let enc: String = url::form_urlencoded::byte_serialize(q.as_bytes()).collect();
    let resp = http_get(port, &format!("/api/v1/query?query={enc}"))?;
    let body = resp.split("\r\n\r\n").nth(1)?;
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn a_real_prometheus_holds_what_the_run_pushed() {
    let prom = prometheus();
    let (addr, _) = counting_target();
    let text = format!(
        "name = \"pushed\"\ntarget = \"http://{addr}\"\n[load]\nmodel = \"closed\"\nvus = 2\nthink_time = \"20ms\"\nduration = \"3s\"\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[[export]]\nkind = \"remote_write\"\nurl = \"http://127.0.0.1:{}/api/v1/write\"\nevery = \"1s\"\nlabels = {{ team = \"shop\" }}\n",
        prom.port
    );
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(o.exit_code(), 0, "{:?}", o.summary.reasons);
    let sent = o.summary.totals.requests as f64;
    let mut got = None;
    // Pushed samples are queryable at once; give a busy machine a few tries.
    for _ in 0..20 {
        got = query(
            prom.port,
            "loadctl_requests_total{team=\"shop\",scenario=\"pushed\",request=\"u\"}",
        );
        if got == Some(sent) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(got, Some(sent), "Prometheus holds the run's final count");
    let count = query(prom.port, "loadctl_latency_seconds_count{team=\"shop\"}");
    assert_eq!(count, Some(sent));
    let errors = query(prom.port, "sum(loadctl_errors_total{team=\"shop\"})");
    assert_eq!(errors, Some(0.0));
}

#[test]
fn native_histograms_reach_a_prometheus_that_takes_them() {
    let prom = prometheus_with(&["--enable-feature=native-histograms"]);
    let (addr, _) = counting_target();
    let text = format!(
        "name = \"native\"\ntarget = \"http://{addr}\"\n[load]\nmodel = \"closed\"\nvus = 2\nthink_time = \"20ms\"\nduration = \"3s\"\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[[export]]\nkind = \"remote_write\"\nurl = \"http://127.0.0.1:{}/api/v1/write\"\nevery = \"1s\"\nnative = true\n",
        prom.port
    );
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(o.exit_code(), 0, "{:?}", o.summary.reasons);
    assert_eq!(o.summary.exports[0].failed, 0, "{:?}", o.summary.exports);
    let sent = o.summary.totals.requests as f64;
    let q = "histogram_count(loadctl_latency_seconds{scenario=\"native\",request=\"u\"})";
    let mut got = None;
    for _ in 0..20 {
        got = query(prom.port, q);
        if got == Some(sent) {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(got, Some(sent), "the native histogram counts every request");
    // Its median agrees with the summary's within the buckets' 9 % width.
    let p50 = query(
        prom.port,
        "histogram_quantile(0.5, loadctl_latency_seconds{scenario=\"native\"})",
    )
    .unwrap();
    let want = o.summary.latency_ms.p50 / 1000.0;
    assert!(
        (p50 - want).abs() <= want * 0.1,
        "p50 {p50} s, summary {want} s"
    );
}

#[test]
fn an_endpoint_that_refuses_the_healthcheck_stops_the_run_before_any_load() {
    let (addr, seen) = counting_target();
    let dead = super::support::dead_port();
    let text = format!(
        "name = \"x\"\ntarget = \"http://{addr}\"\n[load]\nrate = 50\nduration = \"2s\"\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[[export]]\nkind = \"remote_write\"\nurl = \"http://127.0.0.1:{dead}/api/v1/write\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("o")),
        ..Default::default()
    };
    let e = loadctl::run::run(&plan(&text), &opts).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e:#}");
    assert!(format!("{e:#}").contains("does not take a write"), "{e:#}");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

#[test]
fn an_endpoint_that_never_answers_the_healthcheck_is_exit_2_in_bounded_time() {
    // Accepts, reads, never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                let mut sink = [0u8; 65536];
                while s.read(&mut sink).is_ok_and(|n| n > 0) {}
            });
        }
    });
    let (addr, seen) = counting_target();
    let text = format!(
        "name = \"x\"\ntarget = \"http://{addr}\"\n[load]\nrate = 50\nduration = \"2s\"\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[[export]]\nkind = \"remote_write\"\nurl = \"http://127.0.0.1:{port}/api/v1/write\"\ntimeout = \"60s\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("o")),
        ..Default::default()
    };
    let started = Instant::now();
    let e = loadctl::run::run(&plan(&text), &opts).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e:#}");
    assert!(format!("{e:#}").contains("no answer within 10s"), "{e:#}");
    // The healthcheck's documented bound is 10 s: generous slack for a busy machine.
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

#[test]
fn an_endpoint_that_stops_answering_never_holds_the_run() {
    // Answers the healthcheck, then reads and never answers again.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut first = true;
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            if first {
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n");
                first = false;
                // Keep the connection: the sender reuses it and then gets silence.
                std::thread::spawn(move || {
                    let mut sink = [0u8; 65536];
                    while s.read(&mut sink).is_ok_and(|n| n > 0) {}
                });
            } else {
                std::thread::spawn(move || {
                    let mut sink = [0u8; 65536];
                    while s.read(&mut sink).is_ok_and(|n| n > 0) {}
                });
            }
        }
    });
    let (addr, _) = counting_target();
    let text = format!(
        "name = \"stall\"\ntarget = \"http://{addr}\"\n[load]\nmodel = \"closed\"\nvus = 2\nthink_time = \"20ms\"\nduration = \"2s\"\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[[export]]\nkind = \"remote_write\"\nurl = \"http://127.0.0.1:{port}/api/v1/write\"\nevery = \"1s\"\ntimeout = \"1s\"\n"
    );
    let started = Instant::now();
    let (o, _d) = run_plan(&plan(&text));
    assert_eq!(
        o.exit_code(),
        0,
        "the target's verdict, not the exporter's: {:?}",
        o.summary.reasons
    );
    let ex = &o.summary.exports[0];
    assert!(ex.failed > 0, "the silent pushes are counted: {ex:?}");
    assert!(
        ex.last_error
            .as_deref()
            .is_some_and(|e| e.contains("no answer") || e.contains("not taken")),
        "{ex:?}"
    );
    // 2 s of load, then at most the 10 s final wait: generous slack for a busy machine.
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn remote_write_tables_are_validated_with_positions() {
    let text = "name = \"v\"\n[load]\nrate = 1\nduration = \"1s\"\n[[requests]]\nname = \"u\"\npath = \"/\"\n[[export]]\nkind = \"remote_write\"\nurl = \"ftp://x\"\nevery = \"0s\"\nlabels = { run_id = \"a\" }\nbearer_env = \"A-B\"\n";
    let e = loadctl::scenario::parse(
        std::path::Path::new("v.toml"),
        text,
        &Default::default(),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    for want in [
        "v.toml:10:7: export[0].url",
        "v.toml:11:9: export[0].every",
        "export[0].labels.run_id",
        "export[0].bearer_env",
    ] {
        assert!(e.contains(want), "missing `{want}` in:\n{e}");
    }
}
