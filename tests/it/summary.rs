//! The summary.json schema (pinned by a deny_unknown_fields round trip) and snapshots of
//! the console and CSV renderings of a fixed synthetic run.

use std::time::Duration;

use loadctl::metrics::connection::{Phase, Phases, RetryCause, TlsReason};
use loadctl::metrics::{ConnSample, EndpointData, ErrorKind};
use loadctl::slo;
use loadctl::summary::connection::{phases_ms, ConnSummary, TransportSummary};
use loadctl::summary::{
    endpoint_summary, figures, GeneratorSummary, LoadSummary, Status, Summary, SCHEMA_VERSION,
};

/// A fixed run: 1,000 requests on one endpoint, latencies 1..=1000 ms, 10 of them 503s.
pub fn synthetic() -> Summary {
    let mut e = EndpointData::new();
    for i in 1..=1000u64 {
        e.latency.record(i * 1000).unwrap();
        e.service.record(i * 500).unwrap();
        let code = if i % 100 == 0 { 503 } else { 200 };
        e.counts.status[code] += 1;
        if code == 503 {
            e.counts.errors[ErrorKind::Http5xx as usize] += 1;
        } else {
            e.counts.ok += 1;
        }
        e.counts.bytes += 100;
        // Every request has its ttfb and download; one in a hundred opened a connection.
        let mut ph = Phases::default();
        ph.set(Phase::Ttfb, Duration::from_micros(i * 400));
        ph.set(Phase::Download, Duration::from_micros(i * 100));
        if i % 100 == 1 {
            ph.set(Phase::Connect, Duration::from_micros(200 + i));
            ph.set(Phase::Tls, Duration::from_micros(1500 + i));
            ph.opened = 1;
            ph.resumed = i > 1;
        }
        e.phases_mut().record(&ph);
        e.counts.conn.record(&ConnSample {
            phases: ph,
            ..Default::default()
        });
    }
    e.counts.conn.tls[TlsReason::UnknownIssuer as usize] = 2;
    e.counts.conn.refused = 3;
    e.counts.conn.retried[RetryCause::RefusedStream as usize] = 3;
    let window = 10.0;
    let slos = vec![
        slo::parse("p95", "< 100ms", &["list"]).unwrap(),
        slo::parse("error_rate", "< 2%", &["list"]).unwrap(),
    ];
    let results = slo::evaluate(&slos, |_, m| match m {
        slo::Metric::Latency(_) => Some(950.0),
        slo::Metric::ErrorRate => Some(0.01),
        _ => None,
    });
    let ep = endpoint_summary(
        "list",
        "GET",
        "/api/v1/activities/?page={{rand_int(1, 500)}}",
        &e,
        window,
        &[],
    );
    Summary {
        schema_version: SCHEMA_VERSION,
        loadctl_version: "test".into(),
        scenario: "synthetic".into(),
        description: "fixed data".into(),
        status: Status::Fail,
        reasons: vec!["SLO p95 < 100ms failed: observed 950.000 ms".into()],
        stopped_early: None,
        started_at: "2026-11-23T08:00:00Z".into(),
        duration_s: window,
        warmup_s: 0.0,
        target: "https://127.0.0.1:8443".into(),
        load: LoadSummary {
            model: loadctl::summary::schema::LoadModel::Open,
            peak_rate: Some(100.0),
            planned_requests: Some(1000),
            connections: Some(256),
            max_in_flight: Some(10_000),
            vus: None,
            iterations: None,
            think_time_ms: None,
            timeout_ms: Duration::from_secs(10).as_secs_f64() * 1000.0,
            flow_steps: vec![],
        },
        totals: figures(&e, window),
        outcomes: Default::default(),
        latency_ms: ep.latency_ms,
        service_latency_ms: ep.service_latency_ms,
        phases_ms: phases_ms(&e),
        transport: Some(TransportSummary {
            http: "2".into(),
            tls: true,
            insecure: false,
            no_keep_alive: false,
            max_requests_per_connection: None,
            max_connection_age_s: Some(10.0),
            connections: ConnSummary::of(&e.counts.conn),
        }),
        endpoints: vec![ep],
        slo: results,
        generator: GeneratorSummary {
            threads: 2,
            send_lag_p50_ms: 0.05,
            send_lag_p99_ms: 0.2,
            send_lag_max_ms: 1.5,
            queue_wait_p99_ms: 0.0,
            peak_in_flight: 12,
            dropped: 0,
            dropped_ratio: 0.0,
            max_dropped_ratio: 0.001,
            max_send_lag_p99_ms: 10.0,
            valid: true,
        },
        baseline: None,
        verify: vec![slo::checks::CheckResult {
            name: "ledger".into(),
            check: "oversold == 0".into(),
            pass: true,
            observed: "oversold = 0".into(),
        }],
        notes: vec![],
        ws: None,
        kube: Some(kube_section()),
        prometheus: vec![],
        balance: Some(balance_section()),
        distributed: None,
        agents: vec![],
        exports: vec![loadctl::summary::exports::ExportSummary {
            kind: "remote_write".into(),
            to: "remote_write to http://127.0.0.1:9090/api/v1/write every 5s".into(),
            sent: 12,
            retried: 2,
            failed: 1,
            dropped: 0,
            last_error: Some("answered 503".into()),
        }],
    }
}

/// Three pods, one of them new and slow to its share, and a client that moved.
fn balance_section() -> loadctl::summary::balance::BalanceSummary {
    use loadctl::summary::balance::*;
    let be = |name: &str, requests, share, ratio, first_s| BackendSummary {
        name: name.into(),
        requests,
        share,
        ratio: Some(ratio),
        errors: 1,
        p50_ms: Some(4.5),
        p99_ms: Some(38.0),
        first_s: Some(first_s),
        last_s: Some(9),
    };
    BalanceSummary {
        source: "header x-served-by".into(),
        known: true,
        notes: vec!["10 of 1010 answers named no backend (header x-served-by); the shares are of the others".into()],
        answered: 1010,
        unnamed: 10,
        backends: vec![
            be("flash-order-7d4b9c6f5-bcdfg", 450, 0.45, 1.21, 0),
            be("flash-order-7d4b9c6f5-hjklm", 450, 0.45, 1.21, 0),
            be("flash-order-7d4b9c6f5-npqrs", 100, 0.10, 0.5, 6),
        ],
        imbalance: Some(1.21),
        cv: Some(0.36),
        imbalance_per_second: Some(PerSecond { p50: 1.1, max: 1.5 }),
        fair_over: "ready pods".into(),
        band: 0.2,
        new_replicas: vec![NewReplica {
            pod: "flash-order-7d4b9c6f5-npqrs".into(),
            ready_s: 5.5,
            first_request_s: Some(0.5),
            fair_share_s: None,
        }],
        new_replica_first_request_s: Some(0.5),
        new_replica_fair_share_s: Some(4.5),
        seconds: (0..10)
            .map(|t| BalanceSecond {
                t,
                counts: vec![45, 45, if t >= 6 { 25 } else { 0 }],
                in_service: if t >= 6 { 3 } else { 2 },
            })
            .collect(),
        affinity: Some(AffinitySummary {
            mode: "client-ip".into(),
            clients: 40,
            violations: 1,
            untracked: 0,
            examples: vec!["127.0.0.9: flash-order-7d4b9c6f5-bcdfg (s 0–4) → flash-order-7d4b9c6f5-hjklm (s 5–9)".into()],
        }),
    }
}

/// A scale-out from 5 to 20 with a pod killed at its peak.
fn kube_section() -> loadctl::summary::kube::KubeSummary {
    use loadctl::summary::kube::*;
    let p = |t_s, desired, current, ready, at_max| ReplicaPoint {
        t_s,
        desired,
        current,
        ready,
        at_max,
    };
    KubeSummary {
        namespace: "flash-sale".into(),
        server: "http://127.0.0.1:6443/".into(),
        hpas: vec![HpaSummary {
            name: "flash-order".into(),
            deployment: "flash-order".into(),
            min_replicas: 5,
            max_replicas: 20,
            timeline: vec![
                p(0.0, 5, 5, 5, false),
                p(15.5, 10, 5, 5, false),
                p(30.5, 20, 10, 10, true),
                p(41.0, 20, 20, 20, true),
            ],
            first_scale_up_s: Some(15.5),
            levels: vec![Level {
                replicas: 10,
                decision_s: Some(15.5),
                capacity_s: Some(30.5),
            }],
            max_desired: 20,
            max_ready: 20,
            at_max: vec![Period {
                start_s: 30.5,
                end_s: None,
            }],
            scale_down_start_s: None,
            pod_restarts: 0,
            pods_seen: 21,
            watch_errors: vec!["20.0 s: watch hpa/flash-order: too old resource version".into()],
        }],
        expectations: vec![
            ExpectationResult {
                hpa: "flash-order".into(),
                expectation: "desired replicas >= 10 within 30s".into(),
                pass: true,
                observed: "desired replicas reached 10 at 15.5 s".into(),
            },
            ExpectationResult {
                hpa: "flash-order".into(),
                expectation: "never at maxReplicas (ScalingLimited/TooManyReplicas)".into(),
                pass: false,
                observed: "ScalingLimited from 30.5 s (1 period)".into(),
            },
        ],
        faults: vec![FaultSummary {
            action: "pod-kill".into(),
            selector: "app=flash-order".into(),
            mode: "one pod".into(),
            at_s: 50.0,
            executed_s: Some(50.0),
            affected: vec!["flash-order-7d4b9c6f5-pv4mz".into()],
            outcome: "killed 1".into(),
            detail: [("ready_before".to_string(), serde_json::json!(20))]
                .into_iter()
                .collect(),
            errors: vec![],
            window_start_s: Some(50.0),
            window_end_s: Some(55.25),
            recovered: true,
            requests: 10_500,
            errors_in_window: 42,
            availability: Some(0.996),
            p99_ms: Some(11.5),
            name: "pod-kill".into(),
            before: Some(Stretch {
                start_s: 44.0,
                end_s: 50.0,
                requests: 12_000,
                availability: Some(1.0),
                error_rate: Some(0.0),
                p50_ms: Some(2.1),
                p99_ms: Some(6.0),
                rps: 2000.0,
            }),
            during: Some(Stretch {
                start_s: 50.0,
                end_s: 56.0,
                requests: 10_500,
                availability: Some(0.996),
                error_rate: Some(0.004),
                p50_ms: Some(2.4),
                p99_ms: Some(11.5),
                rps: 1750.0,
            }),
            after: None,
            recovery_s: Some(3.75),
            recovery_band: Some([1.5, 0.001]),
        }],
        warnings: vec![],
    }
}

#[test]
fn summary_json_round_trips_with_unknown_fields_denied() {
    let s = synthetic();
    let json = serde_json::to_string_pretty(&s).unwrap();
    let back: Summary = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json);
    // An unexpected field is a schema change, not something to ignore.
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["totals"]["surprise"] = 1.into();
    assert!(serde_json::from_value::<Summary>(v).is_err());
    insta::assert_snapshot!("summary_json", json);
}

#[test]
fn figures_follow_the_definitions() {
    let s = synthetic();
    assert_eq!(s.totals.requests, 1000);
    assert_eq!(s.totals.errors, 10);
    assert!((s.totals.error_rate - 0.01).abs() < 1e-12);
    assert!((s.totals.availability - 0.99).abs() < 1e-12);
    assert!((s.totals.rps - 100.0).abs() < 1e-12);
    assert!((s.latency_ms.p50 - 500.0).abs() < 1.0);
    assert!((s.latency_ms.p99 - 990.0).abs() < 1.0);
    assert_eq!(s.endpoints[0].status_codes["503"], 10);
}

#[test]
fn console_summary_snapshot() {
    let text = loadctl::report::console::render(&synthetic(), "reports/synthetic-20261123T080000Z");
    insta::assert_snapshot!("console", text);
}

#[test]
fn summary_csv_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    loadctl::report::csv::write_summary_csv(dir.path(), &synthetic()).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("summary.csv")).unwrap();
    insta::assert_snapshot!("summary_csv", csv);
}

#[test]
fn junit_snapshot() {
    insta::assert_snapshot!("junit", loadctl::report::junit::render(&synthetic()));
}

/// The synthetic run, slower: p95 and p99 up 20%, RPS down 10%, one more error in 1,000.
pub fn regressed() -> Summary {
    let mut s = synthetic();
    s.started_at = "2026-11-24T08:00:00Z".into();
    for l in [&mut s.latency_ms, &mut s.endpoints[0].latency_ms] {
        l.p95 *= 1.2;
        l.p99 *= 1.2;
    }
    s.totals.rps *= 0.9;
    s.endpoints[0].rps *= 0.9;
    s.totals.error_rate += 0.001;
    s.endpoints[0].error_rate += 0.001;
    s
}

#[test]
fn comparison_flags_what_crossed_a_tolerance() {
    use loadctl::report::compare::{render_md, render_text};
    use loadctl::scenario::Tolerances;
    use loadctl::summary::compare::compare;
    let c = compare(&synthetic(), &regressed(), &Tolerances::default());
    let flagged: Vec<(String, String)> = c
        .rows
        .iter()
        .filter(|r| r.regression)
        .map(|r| (r.scope.clone(), r.metric.clone()))
        .collect();
    // +20% p95/p99 (> 10%), -10% RPS (> 5%), +0.1 points errors (> 0.05), overall and per request.
    assert_eq!(flagged.len(), 8, "{flagged:?}");
    assert_eq!(c.regressions, 8);
    let same = compare(&synthetic(), &synthetic(), &Tolerances::default());
    assert_eq!(same.regressions, 0);
    let loose = Tolerances {
        p99: 0.5,
        p95: 0.5,
        rps: 0.2,
        error_rate_points: 0.2,
    };
    assert_eq!(compare(&synthetic(), &regressed(), &loose).regressions, 0);
    insta::assert_snapshot!("compare_text", render_text(&c));
    insta::assert_snapshot!("compare_md", render_md(&c));
}
