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
    let m = crate::support::merge_ok(&[&a.out_dir, &b.out_dir], &out);
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

/// Two generators made by `--shard 0/2` and `--shard 1/2` at the same time: the target
/// sees the planned count exactly, no unique feeder row and no `{{seq}}` twice, and the
/// merge of the two folders is the whole run.
#[test]
fn shards_split_the_schedule_and_merge_into_the_whole_run() {
    let (addr, seen) = crate::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let users: String = (0..1000).map(|i| format!("u{i}\n")).collect();
    std::fs::write(dir.path().join("users.csv"), format!("user\n{users}")).unwrap();
    let file = dir.path().join("shard.toml");
    std::fs::write(
        &file,
        format!(
            r#"
name = "shard"
target = "http://{addr}"
[load]
rate = 200
duration = "3s"
[generator]
max_send_lag_p99 = "1s"
[[feeders]]
name = "users"
file = "users.csv"
mode = "unique"
[[requests]]
name = "get"
path = "/u/{{{{user}}}}?seq={{{{seq}}}}"
"#
        ),
    )
    .unwrap();
    let run = |k: usize| {
        let file = file.clone();
        let out = dir.path().join(format!("s{k}"));
        std::thread::spawn(move || {
            loadctl()
                .arg("run")
                .arg(&file)
                .args(["--shard", &format!("{k}/2"), "--no-progress", "--out"])
                .arg(&out)
                .output()
                .unwrap()
        })
    };
    let (a, b) = (run(0), run(1));
    for o in [a.join().unwrap(), b.join().unwrap()] {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 600, "the planned 200/s × 3 s, split not copied");
    let users: std::collections::BTreeSet<&str> =
        seen.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(users.len(), 600, "no unique row used twice");
    let seqs: std::collections::BTreeSet<&str> =
        seen.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(seqs.len(), 600, "no seq twice");
    let s0 = loadctl::summary::load_summary(&dir.path().join("s0")).unwrap();
    assert_eq!(s0.load.planned_requests, Some(300));
    assert!(s0.notes.iter().any(|n| n.starts_with("shard 0 of 2")));
    let out = dir.path().join("merged");
    let m = crate::support::merge_ok(&[dir.path().join("s0"), dir.path().join("s1")], &out);
    assert_eq!(
        (m.totals.requests, m.load.planned_requests),
        (600, Some(600))
    );
}
