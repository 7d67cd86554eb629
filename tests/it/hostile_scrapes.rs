//! Scrape targets and `--metrics-listen` clients as hostile peers: a page of a million
//! series, a histogram of 100,000 buckets, a page that trickles, and a half-sent request
//! to the live exporter. Memory stays bounded, the run ends by its documented deadline,
//! and every report is written.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadctl::run::{run, RunOptions};

use crate::support::{counting_target, plan, run_plan};

type Pages = Arc<dyn Fn(u64) -> String + Send + Sync>;

/// Serves `page(n)` to the `n`th request, from a thread per connection.
fn page_server(page: Pages, trickle: bool) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for (n, mut s) in l.incoming().flatten().enumerate() {
            let page = page(n as u64 + 1);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                    page.len()
                );
                if s.write_all(head.as_bytes()).is_err() {
                    return;
                }
                if trickle {
                    for b in page.as_bytes().iter().take(600) {
                        if s.write_all(&[*b]).is_err() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                } else {
                    let _ = s.write_all(page.as_bytes());
                }
            });
        }
    });
    addr
}

fn scrape_scenario(target: SocketAddr, metrics: SocketAddr, duration: &str, every: &str) -> String {
    format!(
        r#"
name = "scrape"
target = "http://{target}"
[load]
rate = 50
duration = "{duration}"
timeout = "1s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "get"
path = "/u/a"
[[prometheus.scrape]]
name = "svc"
url = "http://{metrics}/metrics"
every = "{every}"
requests = 'http_requests_total{{path="/u"}}'
latency = 'http_request_duration_seconds{{path="/u"}}'
"#
    )
}

/// This process's peak resident memory, in MiB (nextest runs each test in a process).
fn peak_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap()
        / 1024
}

#[test]
fn a_page_of_half_a_million_series_costs_what_the_page_costs() {
    let mut page = String::with_capacity(16 << 20);
    let mut i = 0u64;
    // Just under the page cap (16 MiB).
    while page.len() < (15 << 20) {
        page.push_str(&format!("noise_total{{i=\"{i}\",k=\"v\"}} {i}\n"));
        i += 1;
    }
    page.push_str("http_requests_total{path=\"/u\"} 7\n");
    page.push_str("http_request_duration_seconds_bucket{path=\"/u\",le=\"0.1\"} 7\n");
    page.push_str("http_request_duration_seconds_bucket{path=\"/u\",le=\"+Inf\"} 7\n");
    assert!(i > 400_000, "{i} series");
    let page = Arc::new(page);
    let metrics = page_server(Arc::new(move |_| page.to_string()), false);
    let (target, _seen) = counting_target();
    let before = peak_mib();
    let (out, _d) = run_plan(&plan(&scrape_scenario(target, metrics, "3s", "1s")));
    let p = &out.summary.prometheus[0];
    assert_eq!(p.errors, 0, "{p:?}");
    let grew = peak_mib().saturating_sub(before);
    eprintln!("{i} series: the generator's peak grew {grew} MiB");
    // The page itself (15 MiB, held once per scrape), never a copy per sample.
    assert!(grew < 120, "the scrapes grew the generator by {grew} MiB");
}

#[test]
fn a_histogram_of_a_hundred_thousand_buckets_does_not_delay_the_end() {
    // Each scrape counts n observations more in every bucket.
    let metrics = page_server(
        Arc::new(|n| {
            let mut page = String::new();
            for le in 0..100_000u64 {
                page.push_str(&format!(
                    "http_request_duration_seconds_bucket{{path=\"/u\",le=\"{}\"}} {}\n",
                    le as f64 / 1000.0,
                    (le + 1) * n
                ));
            }
            page.push_str(&format!(
                "http_request_duration_seconds_bucket{{path=\"/u\",le=\"+Inf\"}} {}\n",
                100_001 * n
            ));
            page
        }),
        false,
    );
    let (target, _seen) = counting_target();
    let started = Instant::now();
    let (out, _d) = run_plan(&plan(&scrape_scenario(target, metrics, "3s", "1s")));
    let took = started.elapsed();
    eprintln!("100,000 buckets: a 3-s run took {took:?}");
    let p = &out.summary.prometheus[0];
    assert_eq!(p.errors, 0, "{p:?}");
    assert!(p.server_latency_ms.is_some());
    // 3 s of load, the drain, the last scrape (at most 2 s), and generous slack.
    assert!(took < Duration::from_secs(3 + 1 + 2 + 4), "took {took:?}");
}

#[test]
fn a_trickling_page_in_flight_when_the_load_ends_gives_way_to_the_last_scrape() {
    let metrics = page_server(Arc::new(|_| "x".repeat(10_000)), true);
    let (target, _seen) = counting_target();
    let started = Instant::now();
    // The first scrape (at the start) trickles for its whole 5-s limit; the load ends at
    // 1 s: that scrape is cut short, and the last one is bounded by 2 s.
    let (out, _d) = run_plan(&plan(&scrape_scenario(target, metrics, "1s", "30s")));
    let took = started.elapsed();
    eprintln!("trickling page: a 1-s run took {took:?}");
    let p = &out.summary.prometheus[0];
    assert!(p.errors >= 1, "{p:?}");
    assert!(
        took < Duration::from_millis(1_000 + 1_000 + 2_000 + 1_500),
        "took {took:?}"
    );
}

#[test]
fn a_half_sent_request_to_the_live_exporter_never_holds_the_end() {
    let port = crate::support::dead_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (target, _seen) = counting_target();
    let p = plan(&format!(
        r#"
name = "live-hostile"
target = "http://{target}"
[load]
rate = 50
duration = "2s"
timeout = "1s"
[[requests]]
name = "get"
path = "/u/a"
"#
    ));
    // Half a request head, sent once the exporter listens, and held for 30 s.
    let holder = std::thread::spawn(move || {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok(mut s) = TcpStream::connect(addr) {
                let _ = s.write_all(b"GET /metr");
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        out: Some(dir.path().join("out")),
        metrics_listen: Some(addr),
        services: Some(loadctl::testbed::services()),
        ..RunOptions::default()
    };
    let started = Instant::now();
    let outcome = run(&p, &opts).unwrap();
    let took = started.elapsed();
    eprintln!("half-sent request to the exporter: a 2-s run took {took:?}");
    assert!(took < Duration::from_secs(2 + 1 + 1 + 5), "took {took:?}");
    for f in [
        "summary.json",
        "report.html",
        "histograms.hlog",
        "junit.xml",
    ] {
        assert!(outcome.out_dir.join(f).exists(), "{f} was not written");
    }
    drop(holder);
}
