//! `[[prometheus.scrape]]` against the embedded activities service's own `/metrics`: the
//! server's count of requests equals loadctl's, its percentiles and rate stand beside
//! loadctl's in the summary, the console and the report, and SLOs can judge them; a scrape
//! that fails is counted with its reason and never charged to the target.

use loadctl::report::Status;

use crate::support::{dead_port, plan, run_plan};

fn scenario(url: &str) -> String {
    format!(
        r#"
name = "prom"
[embedded]
latency = "2ms"
[load]
rate = 200
duration = "4s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "list"
path = "/api/v1/activities/?page={{{{rand_int(1, 50)}}}}"
[[prometheus.scrape]]
name = "svc"
url = "{url}"
every = "1s"
requests = 'http_requests_total{{path="/api/v1/activities/"}}'
latency = 'http_request_duration_seconds_bucket{{path="/api/v1/activities/"}}'
[slo]
"svc.server_p99" = "< 5s"
"svc.server_rps" = ">= 1"
"#
    )
}

#[test]
fn the_servers_view_stands_beside_the_clients() {
    let (out, _d) = run_plan(&plan(&scenario("/metrics")));
    let s = &out.summary;
    assert_eq!(s.totals.errors, 0);
    let p = &s.prometheus[0];
    assert_eq!(
        (p.name.as_str(), p.errors),
        ("svc", 0),
        "{:?}",
        p.last_error
    );
    assert!(p.scrapes >= 4, "{}", p.scrapes);
    // Every request loadctl saw answered, the server counted: nothing lost between them.
    assert_eq!(p.server_requests, Some(s.totals.requests as f64));
    assert_eq!(p.count_gap, Some(0.0));
    let server = p.server_latency_ms.unwrap();
    // The injected 2 ms happen inside the server: both views see them.
    assert!(server.p50 >= 2.0 && server.p99 >= server.p50, "{server:?}");
    assert!(p.server_rps.unwrap() > 100.0);
    assert!(!p.series.is_empty());
    for r in &s.slo {
        assert!(r.observed.is_some() && r.pass, "{r:?}");
    }
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
    let console = loadctl::report::console::render(s, "out");
    assert!(console.contains("server vs client (svc"), "{console}");
    let html = std::fs::read_to_string(out.out_dir.join("report.html")).unwrap();
    assert!(html.contains("The server's view") && html.contains("server p99 (svc)"));
    let csv = std::fs::read_to_string(out.out_dir.join("timeseries.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "svc_server_rps")
        .expect("server columns");
    let filled = csv
        .lines()
        .skip(1)
        .filter(|l| !l.split(',').nth(col).unwrap_or("").is_empty())
        .count();
    assert!(filled >= 2, "{csv}");
}

#[test]
fn a_failing_scrape_is_counted_not_charged_to_the_target() {
    let url = format!("http://127.0.0.1:{}/metrics", dead_port());
    let text = scenario(&url).replace(
        "\"svc.server_p99\" = \"< 5s\"\n\"svc.server_rps\" = \">= 1\"\n",
        "\"p99\" = \"< 1s\"\n",
    );
    let (out, _d) = run_plan(&plan(&text));
    let s = &out.summary;
    let p = &s.prometheus[0];
    assert_eq!(p.errors, p.scrapes);
    assert!(
        p.last_error.as_deref().unwrap().contains("connect"),
        "{p:?}"
    );
    assert_eq!(p.server_requests, None);
    assert_eq!(s.totals.errors, 0);
    assert_eq!(s.status, Status::Pass, "{:?}", s.reasons);
}

#[test]
fn scrape_mistakes_are_scenario_errors() {
    let cases = [
        ("url = \"ftp://x/metrics\"", "is not an http://"),
        (
            "url = \"/metrics\"\nrequests = 'x{a=1}'",
            "not a series selector",
        ),
        ("url = \"/metrics\"", "needs `requests`"),
    ];
    for (body, want) in cases {
        let text = format!(
            "name = \"p\"\n[load]\nrate = 1\nduration = \"1s\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n[[prometheus.scrape]]\nname = \"svc\"\n{body}\n"
        );
        let e = loadctl::scenario::parse(
            std::path::Path::new("t.toml"),
            &text,
            &Default::default(),
            &|_| None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(want), "{body}: {e}");
    }
    let text = "name = \"p\"\n[load]\nrate = 1\nduration = \"1s\"\n[[requests]]\nname = \"a\"\npath = \"/\"\n[slo]\n\"a.server_p99\" = \"< 1s\"\n";
    let e = loadctl::scenario::parse(
        std::path::Path::new("t.toml"),
        text,
        &Default::default(),
        &|_| None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("scoped to a [[prometheus.scrape]]"), "{e}");
}

#[test]
fn a_scrape_target_that_never_answers_only_costs_its_timeout() {
    // Accepts and holds every connection, never answering.
    let addr = crate::support::spawn_server(|listener| async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let text = scenario(&format!("http://{addr}/metrics")).replace(
        "\"svc.server_p99\" = \"< 5s\"\n\"svc.server_rps\" = \">= 1\"\n",
        "",
    );
    let started = std::time::Instant::now();
    let (out, _d) = run_plan(&plan(&text));
    let p = &out.summary.prometheus[0];
    assert_eq!(p.errors, p.scrapes);
    assert!(
        p.last_error
            .as_deref()
            .unwrap()
            .contains("no answer within"),
        "{p:?}"
    );
    assert_eq!(out.summary.status, Status::Pass);
    // 4 s of load; the last scrape adds at most its 1-s period (generous slack for CI).
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
