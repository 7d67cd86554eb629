//! The engine against the embedded reference service: counts, injected faults, and
//! coordinated-omission correction. Only lower bounds and ratios on times: the machines
//! running these are shared and noisy.

use crate::support::{dead_port, plan, run_plan};
use loadctl::report::Status;

#[test]
fn open_model_sends_the_planned_count() {
    let p = plan(
        r#"
name = "count"
[load]
rate = 400
duration = "3s"
warmup = "1s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "list"
path = "/api/v1/activities/?page={{rand_int(1, 50)}}"
[[requests]]
name = "health"
path = "/api/v1/health/"
weight = 0.25
"#,
    );
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    let planned = 1200.0;
    let sent = (s.totals.requests + s.totals.dropped) as f64;
    assert!(
        (sent - planned).abs() <= planned * 0.01,
        "sent {sent}, planned {planned}"
    );
    assert_eq!(s.load.planned_requests, Some(1200));
    assert_eq!(s.totals.errors, 0, "{:?}", s.endpoints);
    // The mix follows the weights (1 : 0.25) within a generous band.
    let share = s.endpoints[1].requests as f64 / s.totals.requests as f64;
    assert!((0.12..0.28).contains(&share), "health share {share}");
    assert!(s.endpoints[0].bytes_received > s.endpoints[1].bytes_received);
    assert_eq!(
        s.endpoints[0].status_codes.get("200"),
        Some(&s.endpoints[0].requests)
    );
    assert_eq!(s.status, Status::Pass);
}

#[test]
fn injected_latency_shows_in_p50() {
    let p = plan(
        r#"
name = "latency"
[load]
model = "closed"
vus = 4
duration = "2s"
[embedded]
latency = "20ms"
[[requests]]
name = "get"
path = "/api/v1/activities/1/"
"#,
    );
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert!(s.totals.requests > 10);
    assert!(s.latency_ms.p50 >= 20.0, "p50 {}", s.latency_ms.p50);
    assert!(s.service_latency_ms.p50 >= 20.0);
    // Closed model: four users each waiting ≥ 20 ms cannot exceed 200 req/s.
    assert!(s.totals.rps <= 200.0 + 1.0, "rps {}", s.totals.rps);
}

#[test]
fn injected_errors_give_their_rate() {
    let p = plan(
        r#"
name = "errors"
[load]
rate = 1000
duration = "3s"
[generator]
max_send_lag_p99 = "1s"
[embedded]
error_rate = "1%"
[[requests]]
name = "get"
path = "/api/v1/users/{{rand_int(1, 5000)}}/"
[slo]
"error_rate" = "< 0.1%"
"availability" = ">= 90%"
"#,
    );
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert!(s.totals.requests >= 2900);
    // 3,000 draws at 1%: ±3 standard deviations is about ±0.55 points.
    assert!(
        (0.0045..0.0155).contains(&s.totals.error_rate),
        "error rate {}",
        s.totals.error_rate
    );
    let e = &s.endpoints[0];
    assert_eq!(e.errors_by_kind["http_5xx"], e.errors);
    assert_eq!(e.status_codes.get("500"), Some(&e.errors));
    assert!((s.totals.availability - (1.0 - s.totals.error_rate)).abs() < 1e-9);
    assert_eq!(s.status, Status::Fail);
    assert!(!s.slo[0].pass && s.slo[1].pass, "{:?}", s.slo);
}

#[test]
fn a_stall_shows_in_corrected_latency_but_not_in_service_time() {
    // Two connections, 200 req/s, and a 600 ms stall every 2 s: requests due during a
    // stall wait for a connection. Measured from their intended start they are late;
    // measured from their actual send (what wrk and ab report) they are fast.
    let p = plan(
        r#"
name = "stall"
[load]
rate = 200
duration = "4s"
connections = 2
[generator]
max_send_lag_p99 = "1s"
[embedded]
stall = "600ms"
stall_every = "2s"
[[requests]]
name = "get"
path = "/api/v1/activities/?page=1"
"#,
    );
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.totals.errors, 0);
    assert!(
        s.latency_ms.p99 >= 300.0,
        "corrected p99 {}",
        s.latency_ms.p99
    );
    assert!(
        s.service_latency_ms.p99 * 3.0 < s.latency_ms.p99,
        "service p99 {} vs corrected p99 {}",
        s.service_latency_ms.p99,
        s.latency_ms.p99
    );
    assert!(s.generator.queue_wait_p99_ms >= 300.0, "{:?}", s.generator);
    // The wait is the target's back-pressure, not the generator's lateness.
    assert!(s.generator.send_lag_p99_ms * 3.0 < s.generator.queue_wait_p99_ms);
}

#[test]
fn unreachable_target_counts_connect_errors() {
    let port = dead_port();
    let p = plan(&format!(
        r#"
name = "dead"
target = "http://127.0.0.1:{port}"
[load]
rate = 100
duration = "1s"
timeout = "1s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "get"
path = "/"
"#
    ));
    let (out, _dir) = run_plan(&p);
    let s = &out.summary;
    assert_eq!(s.totals.ok, 0);
    assert_eq!(s.endpoints[0].errors_by_kind["connect"], s.totals.requests);
    assert!(s.totals.requests >= 99);
    assert_eq!(s.status, Status::Fail);
    assert!(
        s.reasons
            .iter()
            .any(|r| r.contains("not one request succeeded")),
        "{:?}",
        s.reasons
    );
}

#[test]
fn closed_iterations_reproduce_ab() {
    let p = plan(
        r#"
name = "ab"
[load]
model = "closed"
vus = 7
iterations = 100
[[requests]]
name = "list"
path = "/api/v1/activities/"
"#,
    );
    let (out, _dir) = run_plan(&p);
    assert_eq!(out.summary.totals.requests, 100);
    assert_eq!(out.summary.totals.ok, 100);
    assert!(out.summary.duration_s > 0.0 && out.summary.duration_s < 600.0);
}

#[test]
fn a_ramp_follows_its_stages() {
    let p = plan(
        r#"
name = "ramp"
[load]
stages = [{ duration = "2s", target = 300 }, { duration = "1s", target = 300 }]
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "health"
path = "/api/v1/health/"
"#,
    );
    let (out, dir) = run_plan(&p);
    assert_eq!(
        out.summary.totals.requests + out.summary.totals.dropped,
        600
    );
    let ts = std::fs::read_to_string(dir.path().join("out/timeseries.csv")).unwrap();
    let all: Vec<u64> = ts
        .lines()
        .filter(|l| l.contains(",all,"))
        .map(|l| l.split(',').nth(4).unwrap().parse().unwrap())
        .collect();
    // 0→300/s over 2 s then 300/s: about 75, 225, 300 per second.
    assert!(all.len() >= 3, "{ts}");
    assert!(all[0] < all[1] && all[1] < all[2], "{all:?}");
}

#[test]
fn the_hlog_holds_every_measured_request_exactly() {
    use base64::Engine as _;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::Histogram;

    let p = plan(
        r#"
name = "hlog"
[load]
rate = 300
duration = "2s"
warmup = "1s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "a"
path = "/api/v1/health/"
[[requests]]
name = "b"
path = "/api/v1/activities/7/"
"#,
    );
    let (out, dir) = run_plan(&p);
    let log = std::fs::read(dir.path().join("out/histograms.hlog")).unwrap();
    let mut merged: std::collections::BTreeMap<String, Histogram<u64>> = Default::default();
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(&log) {
        if let Ok(LogEntry::Interval(h)) = entry {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .unwrap();
            let hist: Histogram<u64> = de.deserialize(&mut bytes.as_slice()).unwrap();
            let tag = h.tag().unwrap().as_str().to_string();
            match merged.get_mut(&tag) {
                Some(m) => m.add(&hist).unwrap(),
                None => {
                    merged.insert(tag, hist);
                }
            }
        }
    }
    let s = &out.summary;
    for e in &s.endpoints {
        let lat = &merged[&format!("lat.{}", e.name)];
        assert_eq!(lat.len(), e.requests, "{}", e.name);
        assert_eq!(merged[&format!("svc.{}", e.name)].len(), e.requests);
        // Merging the per-second histograms gives the summary's percentiles exactly.
        assert_eq!(
            lat.value_at_quantile(0.99) as f64 / 1000.0,
            e.latency_ms.p99
        );
    }
    let warm: u64 = ["warmup.a", "warmup.b"]
        .iter()
        .filter_map(|t| merged.get(*t))
        .map(|h| h.len())
        .sum();
    assert_eq!(warm, 300, "the warmup's requests are logged apart");
    assert_eq!(merged["send_lag"].len(), s.totals.requests);
}
