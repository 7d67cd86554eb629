//! `loadctl capacity` against the embedded activities service given a known capacity
//! (`[embedded] capacity`: one FIFO server, a fixed service time of 1/N s): the search
//! finds it within its precision; a `max` below it reports `max`; a generator that must
//! drop bounds the search as `generator`; a certain failure stops its step early; an
//! interrupt writes the partial `capacity.json` and exits 130; with `[kube]` on the
//! simulated control plane each step records the HPA's replicas. No timing upper bounds.

use std::path::Path;

use loadctl::capacity::{search, CapacityOptions, CapacityOutcome};
use loadctl::report::Status;

use crate::support::plan;

fn scenario(embedded: &str, load: &str, capacity: &str) -> String {
    format!(
        r#"
name = "cap"
[embedded]
{embedded}
[load]
rate = 100
duration = "10s"
timeout = "5s"
{load}
[generator]
max_send_lag_p99 = "50ms"
[[requests]]
name = "list"
path = "/api/v1/activities/?page=1"
[slo]
"p95" = "< 50ms"
"availability" = ">= 99.99%"
[capacity]
settle = "1s"
{capacity}
"#
    )
}

/// Short steps, for the tests that need several.
const STEP: &str = "step = \"2s\"\n";

fn run(text: &str) -> (CapacityOutcome, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let opts = CapacityOptions {
        out: Some(dir.path().join("out")),
        services: Some(loadctl::testbed::services()),
        ..CapacityOptions::default()
    };
    let out = search(&plan(text), &opts).unwrap_or_else(|e| panic!("{e:#}"));
    (out, dir)
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn finds_a_known_capacity_within_its_precision() {
    let truth = 1500.0;
    let text = scenario(
        &format!("capacity = {truth}"),
        "",
        &format!("{STEP}min = 250\nmax = 20000\nprecision = \"5%\"\nrequire = \">= 1000\""),
    );
    let (out, _d) = run(&text);
    let r = &out.result;
    let found = r.capacity_rps.expect("a rate passed");
    // Bisection ends within 5% of a passing rate; a rate a little above the truth may
    // still pass a 3-s step (its queue has not yet grown past 50 ms).
    assert!(
        found >= truth * 0.85 && found <= truth * 1.03,
        "found {found} for {truth}: {:?}",
        r.steps.iter().map(|s| (s.rate, s.pass)).collect::<Vec<_>>()
    );
    let [lo, hi] = r.bracket.unwrap();
    assert!((hi - lo) / lo <= 0.05 && lo == found);
    assert_eq!(r.bound, "slo:p95");
    assert_eq!(r.status, Status::Pass, "{:?}", r.reasons);
    assert!(r.require.as_ref().unwrap().met);
    assert_eq!(r.exit_code(), 0);
    // Growth first (250, 500, 1000, 2000), then bisection.
    let phases: Vec<&str> = r.steps.iter().map(|s| s.phase.as_str()).collect();
    assert_eq!(&phases[..4], ["growth"; 4]);
    assert!(phases[4..].iter().all(|p| *p == "bisect"));
    // Every step is a run of its own; the search's files beside them.
    for s in &r.steps {
        assert!(
            out.out_dir.join(&s.dir).join("summary.json").is_file(),
            "{}",
            s.dir
        );
    }
    let json = read_json(&out.out_dir.join("capacity.json"));
    assert_eq!(json["capacity_rps"].as_f64(), Some(found));
    let html = std::fs::read_to_string(out.out_dir.join("report.html")).unwrap();
    assert!(html.contains("Latency against offered rate") && html.contains("id=\"steps\""));
}

#[test]
fn a_max_below_the_capacity_is_reported_as_max_and_a_requirement_can_fail() {
    let text = scenario(
        "capacity = 3000",
        "",
        &format!("{STEP}min = 200\nmax = 400\nrequire = \">= 1000\""),
    );
    let (out, _d) = run(&text);
    let r = &out.result;
    assert_eq!(r.capacity_rps, Some(400.0));
    assert_eq!(r.bound, "max");
    let rates: Vec<f64> = r.steps.iter().map(|s| s.rate).collect();
    assert_eq!(rates, [200.0, 400.0]);
    assert!(!r.require.as_ref().unwrap().met);
    assert_eq!((r.status, r.exit_code()), (Status::Fail, 1));
}

#[test]
fn a_generator_that_must_drop_bounds_the_search_as_generator() {
    // Every request takes 5 ms and only one may be in flight: beyond about 200/s the
    // generator drops, which says nothing of the target.
    let text = scenario(
        "latency = \"5ms\"",
        "connections = 1\nmax_in_flight = 1",
        &format!("{STEP}min = 50\nmax = 100000"),
    );
    let (out, _d) = run(&text);
    let r = &out.result;
    assert_eq!(r.bound, "generator", "{:?}", r.steps);
    assert_eq!((r.status, r.exit_code()), (Status::Invalid, 3));
    let last = r.steps.last().unwrap();
    assert!(last.dropped > 0 && !last.pass);
    assert!(
        r.reasons[0].contains("generator could not hold"),
        "{:?}",
        r.reasons
    );
}

#[test]
fn a_certain_failure_stops_its_step_early() {
    // 2,000/s against a 500/s server with a 20-s step: the p95 is lost in seconds.
    let text = scenario(
        "capacity = 500",
        "",
        "min = 2000\nmax = 4000\nstep = \"20s\"",
    );
    let (out, _d) = run(&text);
    let r = &out.result;
    assert_eq!(r.steps.len(), 1);
    let s = &r.steps[0];
    assert!(
        s.stopped_early
            .as_deref()
            .unwrap()
            .contains("can no longer pass"),
        "{s:?}"
    );
    assert!(
        s.judged_s < 20.0,
        "stopped before the window's end: {}",
        s.judged_s
    );
    assert_eq!(r.bound, "below_min");
    assert_eq!((r.status, r.exit_code()), (Status::Fail, 1));
    let summary = read_json(&out.out_dir.join(&s.dir).join("summary.json"));
    assert!(summary["stopped_early"].is_string());
}

#[test]
fn an_interrupted_search_writes_its_partial_result_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cap.toml");
    std::fs::write(
        &file,
        scenario(
            "capacity = 100000",
            "",
            "min = 100\nmax = 100000\nstep = \"3s\"",
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .arg("capacity")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let result = out.join("capacity.json");
    for _ in 0..600 {
        if result.is_file() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(result.is_file(), "the first step finished");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let json = read_json(&result);
    assert_eq!(json["status"], "interrupted");
    assert_eq!(json["bound"], "interrupted");
    assert!(!json["steps"].as_array().unwrap().is_empty());
    assert!(out.join("report.html").is_file());
}

#[test]
fn with_kube_each_step_records_the_hpa_replicas() {
    let text = r#"
name = "cap-hpa"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 20
replica_capacity = 150
[load]
rate = 100
duration = "10s"
timeout = "5s"
connections = 64
[generator]
max_send_lag_p99 = "50ms"
[[requests]]
name = "view_item"
path = "/api/v1/flash/items/{{rand_int(1, 10)}}"
[kube]
namespace = "flash-sale"
[[kube.expect]]
hpa = "flash-order"
replicas_at_least = 5           # its floor: what each step records is the point here
within = "10s"
[slo]
"p99" = "< 2s"
[capacity]
min = 200
max = 400
step = "2s"
settle = "1s"
hpa_settle_max = "1s"
"#;
    let (out, _d) = run(text);
    let r = &out.result;
    assert_eq!(r.steps.len(), 2, "{:?}", r.steps);
    for s in &r.steps {
        let hpa = s
            .replicas
            .get("flash-order")
            .unwrap_or_else(|| panic!("{s:?}"));
        assert!(hpa.ready >= 1 && hpa.max_replicas == 20, "{hpa:?}");
    }
    assert!(r.replicas_at_capacity.contains_key("flash-order"));
    let html = std::fs::read_to_string(out.out_dir.join("report.html")).unwrap();
    assert!(html.contains("flash-order:"));
}

#[test]
fn an_hpa_still_scaling_makes_the_step_settle_again() {
    // 1,500 views/s need about ten replicas of flash-order (150/s each, 5 at first): the
    // HPA is still deciding during the first attempt's judged window, so the step runs
    // again at the same rate with the longer settle.
    let text = r#"
name = "cap-hpa-moving"
[embedded]
service = "flash-sale"
simulate_cluster = true
time_scale = 20
replica_capacity = 150
[load]
rate = 100
duration = "10s"
timeout = "5s"
connections = 256
[generator]
max_send_lag_p99 = "100ms"
[[requests]]
name = "view_item"
path = "/api/v1/flash/items/{{rand_int(1, 10)}}"
[kube]
namespace = "flash-sale"
[[kube.expect]]
hpa = "flash-order"
replicas_at_least = 5
within = "10s"
[slo]
"p99" = "< 5s"
[capacity]
min = 1500
max = 1500
step = "3s"
settle = "1s"
hpa_stable = "2s"
hpa_settle_max = "6s"
"#;
    let (out, _d) = run(text);
    let r = &out.result;
    let phases: Vec<&str> = r.steps.iter().map(|s| s.phase.as_str()).collect();
    assert_eq!(phases, ["growth", "settle_again"], "{:?}", r.steps);
    assert!(r.steps[0].replicas["flash-order"].moving);
}
