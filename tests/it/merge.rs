//! `loadctl merge`: two runs of one scenario merged exactly from their interval logs: the
//! totals add up, every percentile is the one of all requests together (checked against an
//! independent merge of the two logs), and the merged folder is a run folder in its own
//! right (re-rendered byte for byte); runs of different scenarios are refused.

use std::path::Path;

use loadctl::metrics::{hlog, new_histogram, LatencyStats};

use crate::support::{plan, run_plan};

const SCENARIO: &str = r#"
name = "merge"
[embedded]
latency = "1ms..6ms"
[load]
rate = 150
duration = "3s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "list"
path = "/api/v1/activities/?page=1"
[[requests]]
name = "health"
path = "/api/v1/health/"
weight = 0.3
[slo]
"p99" = "< 1s"
"list.p99" = { threshold = "< 1s", every = "1s" }
"#;

fn loadctl() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_loadctl"))
}

fn p99_of_logs(dirs: &[&Path]) -> f64 {
    let names = vec!["list".to_string(), "health".to_string()];
    let mut h = new_histogram();
    for d in dirs {
        for (idx, data) in hlog::read(&d.join("histograms.hlog"), &names)
            .unwrap()
            .intervals
        {
            if idx >= 0 {
                for e in &data.endpoints {
                    h.add(&e.latency).unwrap();
                }
            }
        }
    }
    LatencyStats::of(&h).p99
}

#[test]
fn two_runs_merge_exactly() {
    let (a, _da) = run_plan(&plan(SCENARIO));
    let (b, _db) = run_plan(&plan(SCENARIO));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged");
    let o = loadctl()
        .arg("merge")
        .arg(&a.out_dir)
        .arg(&b.out_dir)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let m = loadctl::summary::load_summary(&out).unwrap();
    let (sa, sb) = (&a.summary, &b.summary);
    assert_eq!(m.totals.requests, sa.totals.requests + sb.totals.requests);
    assert_eq!(m.totals.ok, sa.totals.ok + sb.totals.ok);
    for (i, e) in m.endpoints.iter().enumerate() {
        assert_eq!(
            e.requests,
            sa.endpoints[i].requests + sb.endpoints[i].requests
        );
    }
    assert_eq!(m.load.planned_requests, Some(900));
    assert_eq!(m.latency_ms.p99, p99_of_logs(&[&a.out_dir, &b.out_dir]));
    assert!(m.notes[0].starts_with("merged from 2 runs"));
    // The windowed objective is judged again on the merged seconds.
    let w = m.slo[1].windows.unwrap();
    assert_eq!((w.judged, w.failed), (3, 0), "{:?}", m.slo[1]);
    let merged_first_window = {
        let names = vec!["list".to_string(), "health".to_string()];
        let log = hlog::read(&out.join("histograms.hlog"), &names).unwrap();
        let mut h = new_histogram();
        for (idx, d) in &log.intervals {
            if *idx == 0 || *idx == 1 || *idx == 2 {
                h.add(&d.endpoints[0].latency).unwrap();
            }
        }
        LatencyStats::of(&h).max
    };
    assert!(m.slo[1].observed.unwrap() <= merged_first_window);
    assert_eq!(
        m.generator.threads,
        sa.generator.threads + sb.generator.threads
    );
    // A run folder like any other: re-rendered as written.
    let before = std::fs::read(out.join("report.html")).unwrap();
    let r = loadctl().arg("report").arg(&out).output().unwrap();
    assert_eq!(r.status.code(), Some(0));
    assert_eq!(std::fs::read(out.join("report.html")).unwrap(), before);
}

#[test]
fn runs_of_other_scenarios_or_the_same_folder_twice_are_refused() {
    let (a, _da) = run_plan(&plan(SCENARIO));
    let (b, _db) = run_plan(&plan(
        &SCENARIO.replace("name = \"merge\"", "name = \"other\""),
    ));
    let dir = tempfile::tempdir().unwrap();
    let o = loadctl()
        .arg("merge")
        .arg(&a.out_dir)
        .arg(&b.out_dir)
        .arg("--out")
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("merge runs of one scenario"));
    let o = loadctl()
        .arg("merge")
        .arg(&a.out_dir)
        .arg(&a.out_dir)
        .arg("--out")
        .arg(dir.path().join("m2"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("m").exists() && !dir.path().join("m2").exists());
}
