//! The run store and the nightly gate: recording runs (idempotent, labelled, migrated,
//! refused when newer, safe with two writers at once) and `loadctl trend`'s change points
//! and exit codes, through the binary; the trend page in headless Chromium.

use std::path::{Path, PathBuf};

use loadctl::history::store::{Added, Store};
use loadctl::summary::Summary;

use super::support::{counting_target, plan, run_plan};

/// A real run's summary, to vary.
fn base() -> Summary {
    let (addr, _) = counting_target();
    let text = format!(
        "name = \"nightly\"\ntarget = \"http://{addr}\"\n[load]\nmodel = \"closed\"\nvus = 1\niterations = 20\nduration = \"10s\"\n[[requests]]\nname = \"u\"\npath = \"/u/a\"\n[slo]\np99 = \"< 150ms\"\n"
    );
    let (o, _d) = run_plan(&plan(&text));
    o.summary
}

/// Night `i`'s summary with `p99` and `rps` as given.
fn night(base: &Summary, i: usize, p99: f64, rps: f64) -> Summary {
    let mut s = base.clone();
    s.started_at = format!("2026-11-{:02}T02:{:02}:00Z", 1 + i / 60, i % 60);
    s.latency_ms.p99 = p99;
    s.latency_ms.p50 = p99 / 3.0;
    s.totals.rps = rps;
    s
}

/// Deterministic noise: ±`amp` around 1.
fn wobble(i: usize, amp: f64) -> f64 {
    let x = ((i as u64 * 2_654_435_761) % 1000) as f64 / 1000.0;
    1.0 + amp * (2.0 * x - 1.0)
}

fn store_with(db: &Path, series: &[(f64, f64)]) {
    let b = base();
    let mut st = Store::open(db).unwrap();
    for (i, (p99, rps)) in series.iter().enumerate() {
        st.add(
            &night(&b, i, *p99, *rps),
            None,
            &[("rev".into(), format!("r{i}"))],
        )
        .unwrap();
    }
}

use super::support::loadctl_out as loadctl;

fn trend(db: &Path, out: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "trend",
        "--db",
        db.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--gate",
    ];
    args.extend_from_slice(extra);
    loadctl(&args)
}

#[test]
fn a_new_regression_fails_the_gate_and_an_improvement_passes_it() {
    let dir = tempfile::tempdir().unwrap();
    // p99 steps up 20 % at night 16 (±3 % noise); rps stays.
    let worse: Vec<(f64, f64)> = (0..24)
        .map(|i| {
            (
                if i < 16 { 50.0 } else { 60.0 } * wobble(i, 0.03),
                1000.0 * wobble(i + 7, 0.02),
            )
        })
        .collect();
    let db = dir.path().join("worse.db");
    store_with(&db, &worse);
    let out = dir.path().join("t1");
    let (code, stdout, stderr) = trend(
        &db,
        &out,
        &["--markdown", dir.path().join("t.md").to_str().unwrap()],
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("p99 (all) regressed at run 17"), "{stdout}");
    let t: loadctl::history::trend::Trend =
        serde_json::from_slice(&std::fs::read(out.join("trend.json")).unwrap()).unwrap();
    let p99 = t.metrics.iter().find(|m| m.metric == "p99").unwrap();
    assert_eq!(p99.changes.len(), 1, "{:?}", p99.changes);
    assert_eq!(p99.changes[0].at, 16);
    assert!(p99.changes[0].regression && p99.changes[0].p_value < 0.01);
    assert_eq!(p99.threshold, Some(150.0), "the SLO's line");
    let rps = t.metrics.iter().find(|m| m.metric == "rps").unwrap();
    assert!(rps.changes.is_empty(), "{:?}", rps.changes);
    let md = std::fs::read_to_string(dir.path().join("t.md")).unwrap();
    assert!(
        md.contains("❌ regression") && md.contains("| p99 |"),
        "{md}"
    );

    // The same step downwards is an improvement: found, not a regression.
    let better: Vec<(f64, f64)> = worse.iter().map(|(p, r)| (110.0 - p, *r)).collect();
    let db = dir.path().join("better.db");
    store_with(&db, &better);
    let (code, stdout, _) = trend(&db, &dir.path().join("t2"), &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("improvement"), "{stdout}");
    // A step below the minimum change is not a regression either.
    let (code, stdout, _) = trend(
        &dir.path().join("worse.db"),
        &dir.path().join("t3"),
        &["--min-change", "30%"],
    );
    assert_eq!(code, 0, "{stdout}");
}

#[test]
fn the_store_adds_once_keeps_labels_and_survives_two_writers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let b = base();
    let mut st = Store::open(&db).unwrap();
    let first = st
        .add(&b, None, &[("branch".into(), "main".into())])
        .unwrap();
    let Added::New(id) = first else {
        panic!("{first:?}")
    };
    assert_eq!(st.add(&b, None, &[]).unwrap(), Added::Already(id));
    assert_eq!(
        st.labels(id).unwrap(),
        vec![("branch".to_string(), "main".to_string())]
    );
    let d = st.details(id).unwrap().unwrap();
    assert!(d.figures.iter().any(|(s, m, _)| s == "all" && m == "p99"));
    assert!(d.figures.iter().any(|(s, m, _)| s == "u" && m == "rps"));
    assert_eq!(d.slos.len(), 1);
    drop(st);
    // Two writers at once: every run lands.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (db, b) = (db.clone(), b.clone());
            std::thread::spawn(move || {
                let mut st = Store::open(&db).unwrap();
                for i in 0..40 {
                    st.add(&night(&b, w * 100 + i, 10.0 + i as f64, 5.0), None, &[])
                        .unwrap();
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
    let st = Store::open(&db).unwrap();
    assert_eq!(st.runs(None, None).unwrap().len(), 81);
    let mut st = st;
    assert_eq!(st.prune(10).unwrap(), 71);
    assert_eq!(st.runs(Some("nightly"), None).unwrap().len(), 10);
}

#[test]
fn a_store_of_a_newer_schema_or_a_bad_question_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    Store::open(&db).unwrap();
    {
        let c = rusqlite::Connection::open(&db).unwrap();
        c.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    let (code, _, err) = loadctl(&["history", "list", "--db", db.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("schema version 99, newer than"), "{err}");
    // An old file (schema 0: an empty SQLite database) is migrated forward.
    let old = dir.path().join("old.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch("CREATE TABLE x (y)")
        .unwrap();
    assert_eq!(
        loadctl(&["history", "list", "--db", old.to_str().unwrap()]).0,
        0
    );
    let notdb = dir.path().join("not.db");
    std::fs::write(
        &notdb,
        "this is not SQLite, it is a text file of some length",
    )
    .unwrap();
    assert_eq!(
        loadctl(&["history", "list", "--db", notdb.to_str().unwrap()]).0,
        2
    );
    let db = dir.path().join("two.db");
    store_with(&db, &[(1.0, 1.0); 3]);
    for bad in [
        vec!["--alpha", "2"],
        vec!["--scenario", "nope"],
        vec!["--metric", "p77x"],
        vec!["--last", "0"],
        vec!["--min-change", "lots"],
    ] {
        let (code, _, err) = trend(&db, &dir.path().join("t"), &bad);
        assert_eq!(code, 2, "{bad:?}: {err}");
    }
}

#[test]
fn run_records_and_gates_and_history_imports_old_folders() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nightly.db");
    let (addr, _) = counting_target();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!("name = \"cli\"\ntarget = \"http://{addr}\"\n[load]\nmodel = \"closed\"\nvus = 1\niterations = 10\nduration = \"5s\"\n[[requests]]\nname = \"u\"\npath = \"/u/b\"\n"),
    )
    .unwrap();
    let mut outs: Vec<PathBuf> = Vec::new();
    for i in 0..2 {
        let out = dir.path().join(format!("run{i}"));
        let (code, stdout, err) = loadctl(&[
            "run",
            scenario.to_str().unwrap(),
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
            "--history",
            db.to_str().unwrap(),
            "--label",
            &format!("rev=r{i}"),
            "--gate-trend",
        ]);
        assert_eq!(code, 0, "{stdout}{err}");
        assert!(
            stdout.contains("history") && stdout.contains("gate PASS"),
            "{stdout}"
        );
        outs.push(out);
    }
    let (_, list, _) = loadctl(&["history", "list", "--db", db.to_str().unwrap()]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("rev=r1"), "{list}");
    // Importing the folders again adds nothing; a fresh store takes both from reports/.
    let (code, out, _) = loadctl(&[
        "history",
        "import",
        dir.path().to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("0 runs added of 2"), "{out}");
    let fresh = dir.path().join("fresh.db");
    let (_, out, _) = loadctl(&[
        "history",
        "import",
        dir.path().to_str().unwrap(),
        "--db",
        fresh.to_str().unwrap(),
    ]);
    assert!(out.starts_with("2 runs added of 2"), "{out}");
    assert_eq!(
        loadctl(&[
            "history",
            "add",
            "/nonexistent",
            "--db",
            fresh.to_str().unwrap()
        ])
        .0,
        2
    );
    assert_eq!(
        loadctl(&[
            "history",
            "add",
            outs[0].to_str().unwrap(),
            "--db",
            fresh.to_str().unwrap(),
            "--label",
            "bad label"
        ])
        .0,
        2
    );
}

#[test]
fn the_trend_page_loads_offline_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let series: Vec<(f64, f64)> = (0..20)
        .map(|i| (if i < 12 { 40.0 } else { 50.0 } * wobble(i, 0.02), 900.0))
        .collect();
    store_with(&db, &series);
    let out = dir.path().join("trend");
    assert_eq!(trend(&db, &out, &[]).0, 1);
    let l = super::report::load(&out.join("trend.html"));
    assert!(l.requests.is_empty(), "the page fetched: {:?}", l.requests);
    assert!(l.console.is_empty(), "{:?}", l.console);
    assert!(
        l.dom.contains("gate FAIL") && l.dom.contains("<svg"),
        "{}",
        &l.dom[..l.dom.len().min(400)]
    );
    assert!(l.dom.contains("regression"));
}
