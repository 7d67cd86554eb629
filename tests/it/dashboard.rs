//! `--dashboard` (the `dashboard` exporter) in headless Chromium through playwright-core
//! (`tests/it/js/dashboard.js`): the page shows the request count rising during the run
//! and the verdict after it, keeps serving during the linger, hovers and zooms its charts
//! and loads nothing from elsewhere; a screenshot is kept for a person. And the event
//! stream itself: a page that opens late is given the seconds so far.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{dead_port, node_modules};

fn scenario(dir: &Path, secs: u32) -> std::path::PathBuf {
    let p = dir.join("live.toml");
    std::fs::write(
        &p,
        format!("name = \"live\"\n[load]\nrate = 50\nwarmup = \"1s\"\nduration = \"{secs}s\"\n[[requests]]\nname = \"list\"\npath = \"/api/v1/activities/?page=1\"\n[slo]\n\"error_rate\" = \"< 0.1%\"\n"),
    )
    .unwrap();
    p
}

fn get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    // An event stream does not end: read what came within the timeout.
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_browser_watches_the_run_live_and_sees_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let mut run = Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .args([
            "run",
            scenario(dir.path(), 8).to_str().unwrap(),
            "--no-progress",
        ])
        .args([
            "--dashboard",
            &format!("127.0.0.1:{port}"),
            "--dashboard-linger",
            "40s",
        ])
        .arg("--out")
        .arg(dir.path().join("out"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shot = dir.path().join("dashboard.png");
    let watched = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/js/dashboard.js"))
        .arg(format!("http://127.0.0.1:{port}/"))
        .arg(&shot)
        .env("NODE_PATH", node_modules())
        .output()
        .expect("node runs");
    let _ = run.kill();
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        watched.status.success(),
        "{}\n{stderr}",
        String::from_utf8_lossy(&watched.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&watched.stdout).unwrap();
    assert!(
        seen["second"].as_u64() > seen["first"].as_u64(),
        "the count rose: {seen}"
    );
    assert!(
        seen["running"].as_str().unwrap().starts_with("running"),
        "{seen}"
    );
    assert!(
        seen["verdict"].as_str().unwrap().starts_with("Verdict: "),
        "{seen}"
    );
    let summary = loadctl::summary::load_summary(&dir.path().join("out")).unwrap();
    assert!(
        seen["verdict"]
            .as_str()
            .unwrap()
            .contains(summary.status.label()),
        "the page's verdict is the run's: {seen}"
    );
    assert!(
        seen["tip"].as_str().unwrap().contains("achieved"),
        "hover values: {seen}"
    );
    assert!(
        seen["zoomed"].as_str().unwrap().contains("zoomed"),
        "every chart zooms: {seen}"
    );
    assert_eq!(seen["charts"], 4, "{seen}");
    assert!(
        seen["lines"].as_u64().unwrap() >= 8,
        "the charts have lines: {seen}"
    );
    assert_eq!(seen["report"], 200, "the report is served once written");
    assert_eq!(seen["elsewhere"], serde_json::json!([]), "offline: {seen}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 20_000,
        "a screenshot of the charts"
    );
    // Kept for a person to look at.
    let keep = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png");
    let _ = std::fs::copy(&shot, keep);
    assert!(stderr.contains("keeps the final state for 40s"), "{stderr}");
}

#[test]
fn a_page_that_opens_late_gets_the_seconds_so_far_then_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let mut run = Command::new(env!("CARGO_BIN_EXE_loadctl"))
        .args([
            "run",
            scenario(dir.path(), 3).to_str().unwrap(),
            "--no-progress",
        ])
        .args([
            "--dashboard",
            &format!("127.0.0.1:{port}"),
            "--dashboard-linger",
            "30s",
        ])
        .arg("--out")
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the verdict (the run is 4 s; generous slack for a busy machine).
    let until = Instant::now() + Duration::from_secs(60);
    let mut state = serde_json::Value::Null;
    while Instant::now() < until {
        let r = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| get(port, "/state.json"));
        if let Some(body) = r.as_deref().and_then(|r| r.split("\r\n\r\n").nth(1)) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
                if !v["verdict"].is_null() {
                    state = v;
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(!state.is_null(), "the verdict within a minute");
    let seconds = state["seconds"].as_array().unwrap();
    assert!(
        seconds.len() >= 4,
        "warmup and measured seconds: {}",
        seconds.len()
    );
    let summary = loadctl::summary::load_summary(&dir.path().join("out")).unwrap();
    let last = seconds.last().unwrap();
    assert_eq!(
        last["total_requests"], summary.totals.requests,
        "the totals are the run's"
    );
    let events = get(port, "/events");
    assert!(
        events.contains("content-type: text/event-stream"),
        "{events}"
    );
    assert!(events.contains("event: state\ndata: {"), "{events}");
    assert!(get(port, "/nope").starts_with("HTTP/1.1 404"));
    // Ctrl-C ends the linger at once, and the command exits with the run's own code.
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let until = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(st) = run.try_wait().unwrap() {
            break st.code();
        }
        assert!(Instant::now() < until, "the linger did not end on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, Some(i32::from(summary.status.exit_code())));
}

/// Runs `plan` as `run_plan` does, with a dashboard that lingers; returns its final state
/// as a page opening after the run would get it.
pub fn run_watched(
    plan: &loadctl::scenario::Plan,
    agents: Option<loadctl::run::Agents>,
) -> (
    loadctl::run::RunOutcome,
    tempfile::TempDir,
    serde_json::Value,
) {
    let dir = tempfile::tempdir().unwrap();
    let port = dead_port();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("out")),
        services: Some(loadctl::testbed::services()),
        dashboard: Some(loadctl::export::dashboard::cli(
            addr,
            Duration::from_secs(60),
        )),
        agents,
        ..Default::default()
    };
    let mut o = loadctl::run::run(plan, &opts).unwrap_or_else(|e| panic!("{e:#}"));
    let linger = o.linger.take().expect("the dashboard lingers");
    let resp = get(port, "/state.json");
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or_default();
    let state = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {resp}"));
    // Dropped unwaited: the dashboard stops now.
    drop(linger);
    (o, dir, state)
}

#[test]
fn a_distributed_run_draws_each_agent() {
    let agents: Vec<super::distributed::Agent> = (0..2)
        .map(|k| super::distributed::Agent::start(&format!("d{k}"), &[]))
        .collect();
    let (addr, _) = super::support::counting_target();
    let dir = tempfile::tempdir().unwrap();
    let file = super::distributed::scenario(dir.path(), &format!("http://{addr}"), 100, "3s", "");
    let plan = loadctl::scenario::load(&file, &Default::default()).unwrap();
    let list = super::distributed::agents_of(&file, &agents.iter().collect::<Vec<_>>());
    let (o, _d, state) = run_watched(&plan, Some(list));
    assert!(state["head"]["distributed"].as_bool().unwrap());
    let mut per_agent = [0u64; 2];
    for s in state["seconds"].as_array().unwrap() {
        let a: Vec<u64> = s["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(a.len(), 2, "{s}");
        assert_eq!(
            a.iter().sum::<u64>(),
            s["requests"].as_u64().unwrap(),
            "{s}"
        );
        per_agent[0] += a[0];
        per_agent[1] += a[1];
    }
    for (k, a) in o.summary.agents.iter().enumerate() {
        assert_eq!(per_agent[k], a.requests, "agent {k}: {a:?}");
    }
}
