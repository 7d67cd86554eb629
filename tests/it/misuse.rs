//! Absurd scenarios and command-line misuse: each is refused with exit 2, the position and
//! the fix (or the bound) before anything is sent; damaged run folders are refused before
//! anything is written; a closed stdout changes no exit code; no value a feeder or the
//! environment supplies can make the request builder panic.

use std::path::Path;
use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

use crate::support::plan;

fn loadctl() -> Command {
    Command::cargo_bin("loadctl").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const REQ: &str = "[[requests]]\nname = \"a\"\npath = \"/a\"\n";

/// `loadctl validate` on `text`: (exit code, stderr).
fn validate(dir: &Path, text: &str, extra: &[&str]) -> (Option<i32>, String) {
    let f = write(dir, "s.toml", text);
    let out = loadctl()
        .arg("validate")
        .arg(&f)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn absurd_numbers_are_refused_with_their_bound() {
    let dir = tempfile::tempdir().unwrap();
    let head = "name = \"x\"\n[load]\n";
    let table: &[(String, &str, &str)] = &[
        (format!("{head}rate = 1e12\nduration = \"1s\"\n{REQ}"), "s.toml:3:8: load.rate:", "10000000 per second"),
        (format!("{head}rate = 10\nduration = \"1y\"\n{REQ}"), "s.toml:4:12: load.duration:", "1day"),
        (format!("{head}vus = 1000000000\nduration = \"1s\"\n{REQ}"), "s.toml:3:7: load.vus:", "above the 100000"),
        (format!("{head}vus = 1000000\nduration = \"1s\"\n{REQ}"), "s.toml:3:7: load.vus:", "above the 100000"),
        (format!("{head}rate = 10\nduration = \"1s\"\nmax_in_flight = 100000000\n{REQ}"), "s.toml:5:17: load.max_in_flight:", "1000000"),
        (format!("{head}rate = 10\nduration = \"1s\"\ntimeout = \"2h\"\n{REQ}"), "s.toml:5:11: load.timeout:", "10m"),
        (format!("{head}rate = 10\nduration = \"1s\"\nwarmup = \"3h\"\n{REQ}"), "s.toml:5:10: load.warmup:", "1h"),
        (format!("{head}stages = [{{ duration = \"20h\", target = 5 }}, {{ duration = \"20h\", target = 5 }}]\n{REQ}"), "s.toml:3:10: load.stages:", "24 h"),
        (format!("name = \"x\"\n[generator]\nthreads = 100000\n[load]\nrate = 1\nduration = \"1s\"\n{REQ}"), "s.toml:3:11: generator.threads:", "256"),
        (format!("name = \"x\"\n[generator]\nwake_grain = \"5ms\"\n[load]\nrate = 1\nduration = \"1s\"\n{REQ}"), "s.toml:3:14: generator.wake_grain:", "1ms"),
    ];
    for (text, at, says) in table {
        let (code, err) = validate(dir.path(), text, &[]);
        assert_eq!(code, Some(2), "{text}\n{err}");
        assert!(
            err.contains(at) && err.contains(says),
            "expected {at} … {says}, got:\n{err}"
        );
    }
}

#[test]
fn feeders_are_bounded_and_regular_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.csv");
    let f = std::fs::File::create(&huge).unwrap();
    f.set_len(100 << 20).unwrap();
    let binary = dir.path().join("binary.csv");
    std::fs::write(&binary, [b'u', b'\n', 0xff, 0xfe, 0x00, b'\n']).unwrap();
    for (file, says) in [
        (huge.display().to_string(), "at most 64 MiB"),
        ("/dev/zero".to_string(), "not a regular file"),
        (dir.path().display().to_string(), "not a regular file"),
        (binary.display().to_string(), "binary.csv"),
    ] {
        let text = format!(
            "name = \"x\"\n[load]\nrate = 1\nduration = \"1s\"\n[[feeders]]\nname = \"u\"\nfile = \"{file}\"\n{REQ}"
        );
        let (code, err) = validate(dir.path(), &text, &[]);
        assert_eq!(code, Some(2), "{file}: {err}");
        assert!(
            err.contains("s.toml:7:") && err.contains(says),
            "{file}: {err}"
        );
    }
}

#[test]
fn paths_that_cannot_be_sent_are_refused_where_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let head = "name = \"x\"\n[load]\nrate = 1\nduration = \"1s\"\n[[requests]]\nname = \"a\"\n";
    for (path, col) in [
        ("/a b", "7:11"),
        ("/a\\tb", "7:11"),
        ("/x{{env.SPACED}}", "7:9"),
    ] {
        let text = format!("{head}path = \"{path}\"\n");
        let f = write(dir.path(), "p.toml", &text);
        let out = loadctl()
            .arg("validate")
            .arg(&f)
            .env("SPACED", "has space")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {err}");
        assert!(
            err.contains(&format!("p.toml:{col}: requests[0].path")),
            "{path}: {err}"
        );
        assert!(err.contains("percent-encoded"), "{err}");
    }
    // A user name before the host is refused (and never resolved).
    let text = format!("name = \"x\"\ntarget = \"http://127.0.0.1@192.0.2.1:9\"\n[load]\nrate = 1\nduration = \"1s\"\n{REQ}");
    let (code, err) = validate(dir.path(), &text, &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("s.toml:2:10: target:") && err.contains("user information"),
        "{err}"
    );
}

#[test]
fn command_line_values_are_blamed_on_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("name = \"x\"\n[load]\nrate = 5\nduration = \"1s\"\n{REQ}");
    let (code, err) = validate(dir.path(), &text, &["--rate", "abc"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("  --rate abc: load.rate: expects a number"),
        "{err}"
    );
    let (code, err) = validate(dir.path(), &text, &["--set", "load.rate=1e12"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("  --set load.rate=1e12: load.rate:"), "{err}");
    // A type error in the file names the field and the fix.
    let (code, err) = validate(dir.path(), &text.replace("rate = 5", "rate = \"5\""), &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("s.toml:3:8: load.rate: expects a number"),
        "{err}"
    );
    // Not UTF-8: the byte offset, once.
    let f = dir.path().join("latin1.toml");
    std::fs::write(&f, b"name = \"caf\xe9\"\n").unwrap();
    let out = loadctl().arg("validate").arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(err.matches("not UTF-8").count(), 1, "{err}");
    assert!(
        err.contains("latin1.toml:1:12:") && err.contains("byte offset 11"),
        "{err}"
    );
}

#[test]
fn steps_without_a_flow_table_are_a_flow() {
    let dir = tempfile::tempdir().unwrap();
    let text = "name = \"x\"\n[load]\nrate = 5\nduration = \"1s\"\n[[flow.steps]]\nname = \"a\"\npath = \"/a\"\n";
    let (code, err) = validate(dir.path(), text, &[]);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_closed_or_full_stdout_keeps_the_exit_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = assert_cmd::cargo::cargo_bin("loadctl");
    let scenario = root.join("scenarios/activities-list.toml");
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" validate "$1" | true; echo "${PIPESTATUS[0]}""#)
        .arg(&bin)
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(&bin)
        .arg("validate")
        .arg(&scenario)
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unusable_output_folder_is_exit_2_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "a-file", "");
    let scenario = write(
        dir.path(),
        "s.toml",
        &format!("name = \"x\"\n[load]\nrate = 5\nduration = \"1s\"\n{REQ}"),
    );
    for out_dir in [file.clone(), file.join("below")] {
        let out = loadctl()
            .args(["run", "--no-progress", "--out"])
            .arg(&out_dir)
            .arg(&scenario)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", out_dir.display());
        assert!(
            err.contains("--out") || err.contains("output folder"),
            "{err}"
        );
    }
}

#[test]
fn damaged_run_folders_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(
        dir.path(),
        "s.toml",
        "name = \"x\"
[load]
rate = 20
duration = \"1s\"
[[requests]]
name = \"list\"
path = \"/api/v1/activities/?page=1\"
",
    );
    let good = dir.path().join("run");
    let run = loadctl()
        .args(["run", "--no-progress", "--out"])
        .arg(&good)
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let series = std::fs::read(good.join("timeseries.csv")).unwrap();
    let report = |d: &Path| {
        let out = loadctl().arg("report").arg(d).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // An empty interval log.
    let empty_log = dir.path().join("empty-log");
    copy_dir(&good, &empty_log);
    std::fs::write(empty_log.join("histograms.hlog"), "").unwrap();
    let (code, err) = report(&empty_log);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a loadctl interval log"), "{err}");
    assert_eq!(
        std::fs::read(empty_log.join("timeseries.csv")).unwrap(),
        series
    );

    // A summary from a future schema.
    let future = dir.path().join("future");
    copy_dir(&good, &future);
    let text = std::fs::read_to_string(future.join("summary.json")).unwrap();
    let text = text.replacen("\"schema_version\": 1", "\"schema_version\": 99", 1);
    std::fs::write(future.join("summary.json"), text).unwrap();
    let (code, err) = report(&future);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("schema_version 99"), "{err}");

    // A summary that is not JSON, and a folder that does not exist.
    let garbage = dir.path().join("garbage");
    copy_dir(&good, &garbage);
    std::fs::write(garbage.join("summary.json"), "{ not json").unwrap();
    assert_eq!(report(&garbage).0, Some(2));
    assert_eq!(report(&dir.path().join("missing")).0, Some(2));

    // Leftovers of an interrupted write are ignored.
    std::fs::write(good.join(".report.html.tmp"), "half").unwrap();
    assert_eq!(report(&good).0, Some(0));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn the_request_builder_never_panics_on_any_value() {
    // Every kind of value a feeder column or an extracted value can hold, rendered into a
    // path, a header and a body: the builder either builds a request or says it cannot.
    let p = plan(
        r#"
name = "fuzz"
target = "http://127.0.0.1:9"
[load]
rate = 1
duration = "1s"
[flow]
[[flow.steps]]
name = "login"
path = "/login"
extract = { token = { json = "/token" } }
[[flow.steps]]
name = "use"
path = "/items/{{token}}?q={{token}}"
headers = { Authorization = "Bearer {{token}}", X-Id = "{{token}}" }
body = { token = "{{token}}" }
"#,
    );
    let step = &p.workload.requests()[1];
    let prepared = loadctl::engine::request::Prepared::new(step, 0, "127.0.0.1:9", "/base");
    let mut rng = fastrand::Rng::with_seed(7);
    let seq = std::sync::atomic::AtomicU64::new(0);
    let alphabet: Vec<char> = (0u32..0x80)
        .filter_map(char::from_u32)
        .chain(['é', 'ü', '日', '\u{2028}', '\u{feff}', '🙂', '\u{7f}'])
        .collect();
    let (mut built, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let len = rng.usize(0..40);
        let value: String = (0..len)
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        match prepared.build(&mut rng, &seq, &[value]) {
            Some(_) => built += 1,
            None => refused += 1,
        }
    }
    assert!(built > 0 && refused > 0, "built {built}, refused {refused}");
}

#[test]
fn a_value_that_breaks_the_path_at_run_time_is_not_the_targets_error() {
    // The login answers a token with a space: the next step's path cannot be built from
    // it. Those requests are counted as request_invalid, not sent, not errors.
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/login",
            get(|| async { axum::Json(serde_json::json!({"token": "a b"})) }),
        )
        .route("/items/{id}", get(|| async { "ok" }));
    let addr = crate::support::serve(app);
    let p = plan(&format!(
        r#"
name = "invalid"
target = "http://{addr}"
[load]
rate = 20
duration = "1s"
[[flow.steps]]
name = "login"
path = "/login"
extract = {{ token = {{ json = "/token" }} }}
[[flow.steps]]
name = "item"
path = "/items/{{{{token}}}}"
"#
    ));
    let (out, _dir) = crate::support::run_plan(&p);
    let s = &out.summary;
    let (login, item) = (&s.endpoints[0], &s.endpoints[1]);
    assert_eq!(login.ok, 20);
    assert_eq!(item.request_invalid, 20, "{item:?}");
    assert_eq!((item.requests, item.errors, s.totals.errors), (0, 0, 0));
    let console = loadctl::report::console::render(s, "out");
    assert!(console.contains("request_invalid"), "{console}");
}

/// A library caller that hands in no reference services (what a build without the
/// `testbed` feature is) is told to name a target, with exit 2, and nothing is written.
#[test]
fn a_scenario_without_a_target_and_no_reference_services_asks_for_one() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(&format!(
        "name = \"t\"\n[load]\nmodel = \"closed\"\nvus = 1\nduration = \"1s\"\n{REQ}"
    ));
    let opts = loadctl::run::RunOptions {
        out: Some(dir.path().join("out")),
        ..Default::default()
    };
    let err = loadctl::run::run(&p, &opts).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err:#}");
    let text = format!("{err:#}");
    assert!(text.contains("names no target"), "{text}");
    assert!(text.contains("--target"), "{text}");
    assert!(!dir.path().join("out").exists());
}
