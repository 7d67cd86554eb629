//! `--metrics-listen`: the run's live figures scraped by the test while the run goes,
//! parsed with loadctl's exposition parser: counters that only grow, a latency histogram
//! whose buckets are cumulative, one series per request name.

use std::io::{Read, Write};
use std::time::Duration;

use loadctl::metrics::promtext::{parse, Sample, Selector};
use loadctl::run::{run, RunOptions};

use crate::support::plan;

fn scrape(addr: std::net::SocketAddr) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn total(samples: &[Sample], sel: &str, suffix: &str) -> f64 {
    let sel = Selector::parse(sel).unwrap();
    samples
        .iter()
        .filter(|s| sel.matches(s, suffix))
        .map(|s| s.value)
        .sum()
}

#[test]
fn live_figures_are_served_while_the_run_goes() {
    let port = crate::support::dead_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let p = plan(
        r#"
name = "live"
[load]
rate = 200
duration = "4s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "list"
path = "/api/v1/activities/?page=1"
[[requests]]
name = "health"
path = "/api/v1/health/"
weight = 0.5
"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: Some(dir.path().join("out")),
        metrics_listen: Some(addr),
        services: Some(loadctl::testbed::services()),
        ..RunOptions::default()
    };
    let runner = std::thread::spawn(move || run(&p, &opts).unwrap());
    let mut pages = Vec::new();
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(body) = scrape(addr) {
            if !body.is_empty() {
                pages.push(parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}")));
            }
        }
        if runner.is_finished() {
            break;
        }
    }
    let out = runner.join().unwrap();
    assert!(
        pages.len() >= 3,
        "scraped {} pages during the run",
        pages.len()
    );
    let counts: Vec<f64> = pages
        .iter()
        .map(|p| total(p, r#"loadctl_requests_total{request="list"}"#, ""))
        .collect();
    assert!(counts.windows(2).all(|w| w[1] >= w[0]), "{counts:?}");
    assert!(*counts.last().unwrap() > 0.0);
    let last = pages.last().unwrap();
    assert!(total(last, r#"loadctl_requests_total{request="health"}"#, "") > 0.0);
    // Cumulative buckets, +Inf equal to the count.
    let buckets: Vec<f64> = last
        .iter()
        .filter(|s| {
            s.name == "loadctl_latency_seconds_bucket" && s.label("request") == Some("list")
        })
        .map(|s| s.value)
        .collect();
    assert_eq!(buckets.len(), 14);
    assert!(buckets.windows(2).all(|w| w[1] >= w[0]));
    let count = total(last, r#"loadctl_latency_seconds_count{request="list"}"#, "");
    assert_eq!(*buckets.last().unwrap(), count);
    assert_eq!(out.summary.totals.errors, 0);
    // The server stops with the run.
    assert!(scrape(addr).is_none());
}

/// `[[export]] kind = "prometheus"` in the scenario serves the same page as the flag, and
/// `validate` says so.
#[test]
fn an_export_in_the_scenario_serves_the_page() {
    let port = crate::support::dead_port();
    let text = format!(
        "name = \"exported\"\n[load]\nrate = 100\nduration = \"3s\"\n[[requests]]\nname = \"list\"\npath = \"/api/v1/activities/?page=1\"\n[[export]]\nkind = \"prometheus\"\nlisten = \"127.0.0.1:{port}\"\n"
    );
    let p = plan(&text);
    assert!(
        loadctl::report::describe::describe(&p).contains(&format!(
            "export     prometheus at http://127.0.0.1:{port}/metrics"
        )),
        "{}",
        loadctl::report::describe::describe(&p)
    );
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: Some(dir.path().join("out")),
        services: Some(loadctl::testbed::services()),
        ..RunOptions::default()
    };
    let runner = std::thread::spawn(move || run(&p, &opts).unwrap());
    let mut seen = 0.0f64;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(250));
        if let Some(body) = scrape(addr) {
            if let Ok(page) = parse(&body) {
                seen = seen.max(total(
                    &page,
                    r#"loadctl_requests_total{request="list"}"#,
                    "",
                ));
            }
        }
        if runner.is_finished() {
            break;
        }
    }
    let out = runner.join().unwrap();
    assert!(seen > 0.0, "no requests on the exported page");
    assert!(seen <= out.summary.totals.requests as f64 + 1e-9);
    assert!(scrape(addr).is_none());
}

/// An exporter that cannot start (its address is taken) stops the run before any load,
/// with exit 2 and the exporter named; nothing is written.
#[test]
fn an_export_that_cannot_start_stops_the_run_before_any_load() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (target, seen) = crate::support::counting_target();
    let p = plan(&format!(
        "name = \"x\"\ntarget = \"http://{target}\"\n[load]\nrate = 50\nduration = \"2s\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n[[export]]\nkind = \"prometheus\"\nlisten = \"{addr}\"\n"
    ));
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: Some(dir.path().join("out")),
        ..RunOptions::default()
    };
    let err = run(&p, &opts).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err:#}");
    let text = format!("{err:#}");
    assert!(text.contains("[[export]] prometheus at"), "{text}");
    assert!(text.contains("cannot listen there"), "{text}");
    assert!(
        seen.lock().unwrap().is_empty(),
        "sent before the exporter started"
    );
}

/// Each exporter's table is its kind's own struct: an unknown kind lists the kinds, a key
/// the kind does not take and an address that is none are refused at their line:col.
#[test]
fn export_tables_are_validated_by_their_kind() {
    let head = "name = \"x\"\ntarget = \"http://127.0.0.1:1\"\n[load]\nrate = 5\nduration = \"1s\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n";
    let err = |tail: &str| {
        loadctl::scenario::parse(
            std::path::Path::new("e.toml"),
            &format!("{head}{tail}"),
            &loadctl::scenario::Overrides::default(),
            &|_| None,
        )
        .unwrap_err()
        .to_string()
    };
    let e = err("[[export]]\nkind = \"statsd\"\n");
    assert!(
        e.contains("e.toml:10:8: export[0].kind: `statsd`: the kinds available are \"prometheus\""),
        "{e}"
    );
    let e = err("[[export]]\nkind = \"prometheus\"\nlisten = \"127.0.0.1:9464\"\npush = true\n");
    assert!(
        e.contains("e.toml:12:1: export[0]: unknown field `push`"),
        "{e}"
    );
    let e = err("[[export]]\nkind = \"prometheus\"\nlisten = \"localhost\"\n");
    assert!(
        e.contains("e.toml:11:10: export[0].listen: `localhost` is not an address"),
        "{e}"
    );
    let e = err("[[export]]\nkind = \"prometheus\"\n");
    assert!(e.contains("export[0].listen: missing"), "{e}");
}
