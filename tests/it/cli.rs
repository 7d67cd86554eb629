//! The documented exit codes and behaviours, through the built binary.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use loadctl::report::Summary;

use crate::support::dead_port;

fn loadctl() -> Command {
    Command::cargo_bin("loadctl").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn summary(dir: &Path) -> Summary {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("summary.json does not match the schema: {e}\n{text}"))
}

const QUICK: &str = r#"
name = "quick"
[load]
rate = 200
duration = "1s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "list_activities"
path = "/api/v1/activities/"
"#;

#[test]
fn exit_0_when_every_slo_passes() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "s.toml",
        &format!("{QUICK}[slo]\n\"error_rate\" = \"< 0.1%\"\n\"p99\" = \"< 10s\"\n"),
    );
    let out_dir = dir.path().join("out");
    let out = loadctl()
        .args([
            "run",
            f.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("PASS  error_rate < 0.1%"), "{stdout}");
    assert!(stdout.contains("list_activities"), "{stdout}");
    let s = summary(&out_dir);
    assert_eq!(s.totals.requests, 200);
    for f in [
        "summary.json",
        "summary.csv",
        "timeseries.csv",
        "histograms.hlog",
        "junit.xml",
        "report.html",
    ] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Not a terminal: plain progress lines instead of a bar.
    assert!(String::from_utf8_lossy(&out.stderr).contains("achieved"));
}

#[test]
fn exit_1_when_an_slo_fails() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "s.toml",
        &format!("{QUICK}[slo]\n\"p50\" = \"< 1us\"\n"),
    );
    let out = loadctl()
        .args(["run", f.to_str().unwrap(), "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  p50 < 1us"));
    let junit = std::fs::read_to_string(dir.path().join("out/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testcase classname="quick.slo" name="p50 &lt; 1us" time="0">"#),
        "{junit}"
    );
    assert!(junit.contains(r#"failures="1""#), "{junit}");
    let s = summary(&dir.path().join("out"));
    assert_eq!(s.status, loadctl::report::Status::Fail);
    assert!(!s.slo[0].pass);
}

#[test]
fn exit_1_with_connect_errors_when_the_target_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.toml", QUICK);
    let out = loadctl()
        .args(["run", f.to_str().unwrap(), "--no-progress", "--target"])
        .arg(format!("http://127.0.0.1:{}", dead_port()))
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let s = summary(&dir.path().join("out"));
    assert!(s.endpoints[0].errors_by_kind["connect"] > 0);
    assert_eq!(s.totals.ok, 0);
}

#[test]
fn exit_2_lists_every_scenario_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "bad.toml",
        "name = \"bad\"\n[load]\nrate = 0\nduration = \"1s\"\n[[requests]]\nname = \"a\"\npath = \"x\"\n",
    );
    for cmd in ["validate", "run"] {
        let out = loadctl().args([cmd, f.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("bad.toml has 2 errors"), "{err}");
        assert!(err.contains("bad.toml:3:8: load.rate"), "{err}");
        assert!(err.contains("bad.toml:7:8: requests[0].path"), "{err}");
    }
}

#[test]
fn dashboard_flags_are_bounded_and_paired() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.toml", QUICK);
    let f = f.to_str().unwrap();
    for (args, says) in [
        (
            vec!["--dashboard", "127.0.0.1:0", "--dashboard-linger", "2h"],
            "at most 1h",
        ),
        (
            vec!["--dashboard", "127.0.0.1:0", "--dashboard-linger", "soon"],
            "such as 60s",
        ),
        (vec!["--dashboard-linger", "60s"], "--dashboard <ADDR>"),
        (vec!["--dashboard", "localhost"], "--dashboard"),
    ] {
        let out = loadctl().args(["run", f]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn exit_2_for_usage_errors_and_implicit_remote_targets() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.toml", QUICK);
    let out = loadctl()
        .args(["run", f.to_str().unwrap(), "--set", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = loadctl()
        .args(["run", "/nonexistent/scenario.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read scenario /nonexistent/scenario.toml"));
    let out = loadctl().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A request URL that leaves loopback without a named target is refused before sending.
    let remote = QUICK.replace(
        "path = \"/api/v1/activities/\"",
        "path = \"http://192.0.2.7/x\"",
    );
    let f = write(dir.path(), "remote.toml", &remote);
    let out = loadctl()
        .args(["run", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not loopback"));
}

#[test]
fn exit_3_when_the_generator_cannot_hold_the_load() {
    let dir = tempfile::tempdir().unwrap();
    // One connection and one request in flight cannot carry 50,000 req/s: most are dropped.
    let f = write(
        dir.path(),
        "s.toml",
        "name = \"overload\"\n[load]\nrate = 50000\nduration = \"1s\"\nconnections = 1\nmax_in_flight = 1\n[generator]\nthreads = 1\n[[requests]]\nname = \"h\"\npath = \"/api/v1/health/\"\n",
    );
    let out = loadctl()
        .args(["run", f.to_str().unwrap(), "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let s = summary(&dir.path().join("out"));
    assert_eq!(s.status, loadctl::report::Status::Invalid);
    assert!(!s.generator.valid);
    assert!(s.generator.dropped > 0);
    assert_eq!(s.totals.requests + s.totals.dropped, 50_000);
    assert!(s.reasons[0].contains("dropped"), "{:?}", s.reasons);
}

#[test]
fn sigint_writes_interrupted_reports_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "s.toml",
        &QUICK.replace("duration = \"1s\"", "duration = \"60s\""),
    );
    let out_dir = dir.path().join("out");
    let mut child = loadctl()
        .args([
            "run",
            f.to_str().unwrap(),
            "--no-progress",
            "--out",
            out_dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it send for a while (the hlog appears once the engine runs).
    let start = Instant::now();
    while !out_dir.join(".histograms.hlog.tmp").exists()
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let s = summary(&out_dir);
    assert_eq!(s.status, loadctl::report::Status::Interrupted);
    assert!(s.totals.requests > 0);
    assert!(s.duration_s < 60.0);
    assert!(out_dir.join("timeseries.csv").is_file());
    assert!(out_dir.join("histograms.hlog").is_file());
}

#[test]
fn a_second_sigint_stops_at_once_with_130_and_no_half_written_files() {
    // A target that never answers: the first interrupt waits for in-flight requests (2 s
    // of grace), and the second lands inside that wait.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "s.toml",
        &format!(
            "name = \"stall\"\ntarget = \"http://{addr}\"\n[load]\nrate = 50\nduration = \"60s\"\ntimeout = \"30s\"\nconnections = 4\n[generator]\nmax_send_lag_p99 = \"1s\"\n[[requests]]\nname = \"get\"\npath = \"/\"\n"
        ),
    );
    let out_dir = dir.path().join("out");
    let child = loadctl()
        .args(["run", f.to_str().unwrap(), "--no-progress", "--out"])
        .arg(&out_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !out_dir.join(".histograms.hlog.tmp").exists()
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signals to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    std::thread::sleep(Duration::from_millis(300));
    let second = Instant::now();
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted again"), "{stderr}");
    // At once: not after the 2-s grace, let alone the 30-s timeout.
    assert!(
        second.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        second.elapsed()
    );
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "half-written files left: {left:?}");
}

#[test]
fn validate_prints_the_expanded_plan() {
    let out = loadctl()
        .args([
            "validate",
            "scenarios/activities-list.toml",
            "--rate",
            "2000",
            "--duration",
            "10s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("peak 2000 req/s"), "{text}");
    assert!(
        text.contains("planned    20000 requests measured"),
        "{text}"
    );
    assert!(text.contains("p95 < 100ms"), "{text}");
}

#[test]
fn every_shipped_scenario_validates() {
    for entry in std::fs::read_dir("scenarios").unwrap() {
        let path = entry.unwrap().path();
        let out = loadctl().arg("validate").arg(&path).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn testbed_serve_runs_on_its_own() {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = loadctl()
        .args([
            "testbed",
            "serve",
            "activities",
            "--listen",
            "127.0.0.1:0",
            "--threads",
            "1",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /api/v1/health/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn write_run(dir: &Path, s: &Summary) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(s).unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}

#[test]
fn compare_exits_1_on_a_regression_and_speaks_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let base = write_run(&dir.path().join("base"), &crate::summary::synthetic());
    let new = write_run(&dir.path().join("new"), &crate::summary::regressed());
    let out = loadctl()
        .arg("compare")
        .arg(&base)
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("8 regressions"), "{text}");
    let out = loadctl()
        .arg("compare")
        .arg(&base)
        .arg(&new)
        .args(["--format", "md"])
        .output()
        .unwrap();
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("| scope | metric | base | new | delta | tolerance | verdict |"),
        "{md}"
    );
    assert!(md.contains("**REGRESSION**"), "{md}");
    let out = loadctl()
        .arg("compare")
        .arg(&base)
        .arg(&new)
        .args([
            "--tolerance",
            "p99=50%",
            "--tolerance",
            "p95=50%",
            "--tolerance",
            "rps=20%",
            "--tolerance",
            "error_rate=0.5",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = loadctl()
        .arg("compare")
        .arg(&base)
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("a loadctl run folder"));
}

#[test]
fn run_with_a_baseline_fails_on_regression() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "s.toml", QUICK);
    // A baseline far better than anything this machine does: the run must regress.
    let mut fast = crate::summary::synthetic();
    fast.scenario = "quick".into();
    fast.endpoints[0].name = "list_activities".into();
    fast.totals.rps = 1e9;
    fast.endpoints[0].rps = 1e9;
    let fast = write_run(&dir.path().join("fast"), &fast);
    let out = loadctl()
        .args(["run", f.to_str().unwrap(), "--no-progress", "--out"])
        .arg(dir.path().join("out1"))
        .arg("--baseline")
        .arg(&fast)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let s = summary(&dir.path().join("out1"));
    let c = s.baseline.expect("comparison in summary.json");
    assert!(c
        .rows
        .iter()
        .any(|r| r.scope == "all" && r.metric == "rps" && r.regression));
    assert!(
        s.reasons
            .iter()
            .any(|r| r.starts_with("regression against the baseline: all rps")),
        "{:?}",
        s.reasons
    );
    let junit = std::fs::read_to_string(dir.path().join("out1/junit.xml")).unwrap();
    assert!(junit.contains("classname=\"quick.baseline\""), "{junit}");

    // A baseline this run cannot be worse than: slow, with the same (zero) error rate.
    let mut slow = crate::summary::synthetic();
    slow.totals.rps = 1.0;
    slow.totals.error_rate = 0.0;
    slow.latency_ms.p95 = 1e9;
    slow.latency_ms.p99 = 1e9;
    slow.endpoints.clear();
    let slow = write_run(&dir.path().join("slow"), &slow);
    let out = loadctl()
        .args(["run", f.to_str().unwrap(), "--no-progress", "--out"])
        .arg(dir.path().join("out2"))
        .arg("--baseline")
        .arg(&slow)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no regression"));
}

/// The shipped flash-sale scenario, cut down, against the embedded service with its
/// deliberate oversell bug: the run fails (exit 1) because verification catches it.
#[test]
fn flash_sale_verification_fails_the_run_on_an_oversell() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let out = loadctl()
        .args(["run", "scenarios/flash-sale-10k.toml", "--no-progress"])
        .args([
            "--rate",
            "500",
            "--duration",
            "1s",
            "--set",
            "load.warmup=0s",
        ])
        .args(["--set", "generator.max_send_lag_p99=1s"])
        .args([
            "--set",
            "embedded.stock=10",
            "--set",
            "embedded.unsafe_stock=true",
        ])
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  stock_ledger: oversold == 0"),
        "{stdout}"
    );
    let s = summary(&out_dir);
    let oversold = s
        .verify
        .iter()
        .find(|c| c.check == "oversold == 0")
        .unwrap();
    assert!(!oversold.pass, "{:?}", s.verify);
    let junit = std::fs::read_to_string(out_dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="stock_ledger: oversold == 0""#)
            && junit.contains("observed oversold = "),
        "{junit}"
    );
    // Sold-out answers are counted as the outcome they are, not as errors.
    let order = s
        .endpoints
        .iter()
        .find(|e| e.name == "place_order")
        .unwrap();
    assert!(order.outcomes["sold_out"] > 0, "{order:?}");
    assert_eq!(s.totals.errors, 0);
}

/// `ci/nightly-perf.sh` against the embedded service: the first good run becomes the
/// baseline, the next is compared with it, and a breach fails the gate without replacing it.
#[test]
fn nightly_script_gates_and_keeps_the_last_good_run() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "quick.toml", QUICK);
    let bin = assert_cmd::cargo::cargo_bin("loadctl");
    let (artifacts, baselines) = (dir.path().join("art"), dir.path().join("base"));
    let nightly = |scenario: &Path| {
        Command::new("bash")
            .arg("ci/nightly-perf.sh")
            .arg(scenario)
            .env("LOADCTL", &bin)
            .env("ARTIFACTS", &artifacts)
            .env("BASELINES", &baselines)
            .env("HISTORY", dir.path().join("history.db"))
            .env("REV", "abc123")
            .output()
            .unwrap()
    };
    let first = nightly(&good);
    assert_eq!(
        first.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(baselines.join("quick/summary.json").is_file());

    let second = nightly(&good);
    let md = String::from_utf8_lossy(&second.stdout);
    // Two loopback runs a second apart may differ by more than a tolerance on this shared
    // machine; what must hold is that the second was compared with the first.
    assert!(md.contains("## quick against its last good run"), "{md}");
    assert!(md.contains("### loadctl comparison:"), "{md}");
    // With HISTORY, each night is recorded and its trend is in the page.
    assert!(md.contains("## quick over the recorded nights"), "{md}");
    assert!(md.contains("### loadctl trend: quick"), "{md}");

    let breach = write(
        dir.path(),
        "quick.toml",
        &format!("{QUICK}[slo]\n\"p50\" = \"< 1us\"\n"),
    );
    let before = summary(&baselines.join("quick")).started_at;
    let third = nightly(&breach);
    assert_eq!(third.status.code(), Some(1));
    assert_eq!(
        summary(&baselines.join("quick")).started_at,
        before,
        "a failed run must not become the baseline"
    );
    assert!(String::from_utf8_lossy(&third.stdout).contains("| quick | 1 | fail |"));
    let runs = std::fs::read_dir(&artifacts)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("report.html").is_file())
        .count();
    assert_eq!(runs, 3, "every run's folder is kept");
    let list = loadctl()
        .args(["history", "list", "--db"])
        .arg(dir.path().join("history.db"))
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(list.contains("rev=abc123"), "{list}");
}

/// `loadctl report DIR` through the binary: it rewrites the derived files and exits with
/// the run's own code; a folder without a run is a clear error.
#[test]
fn report_command_rerenders_and_exits_with_the_runs_code() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "quick.toml",
        &format!("{QUICK}[slo]\n\"p50\" = \"< 1us\"\n"),
    );
    let out_dir = dir.path().join("out");
    let run = loadctl()
        .args(["run", "--no-progress", "--out"])
        .arg(&out_dir)
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    std::fs::remove_file(out_dir.join("report.html")).unwrap();
    let out = loadctl().arg("report").arg(&out_dir).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("quick · FAIL · re-rendered"));
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains(r#"<span class="verdict">FAIL</span>"#));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = loadctl().arg("report").arg(&empty).output().unwrap();
    // Not a run folder: the user's to fix, like `compare` (exit 2), and nothing is written.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is") && err.contains("a loadctl run folder"),
        "{err}"
    );
}

/// A chat scenario needing more open files than the system allows stops with exit 2 and
/// says how to fix it, before sending anything.
#[test]
fn a_chat_run_beyond_the_open_file_limit_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "huge.toml",
        r#"
name = "huge"
[embedded]
service = "chat"
[load]
model = "connections"
connections = 600000
connect_rate = 1000
hold = "1s"
[chat]
groups = 30000
members = 20
publish_rate = 1
"#,
    );
    let out = loadctl()
        .args(["run", "--no-progress", "--out"])
        .arg(dir.path().join("out"))
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // Twice the connections (the embedded gateway holds the other ends), beyond the
    // kernel's ceiling even for root.
    assert!(err.contains("needs 1200512 open files"), "{err}");
    assert!(err.contains("ulimit -n"), "{err}");
}
