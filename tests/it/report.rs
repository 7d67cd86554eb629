//! `report.html` checked the way a person would look at it: rendered from a fixed
//! synthetic run, opened in headless Chromium with every network request trapped, with
//! the console read, the DOM after scripts inspected and a screenshot taken. Also: the
//! JUnit file read by a JUnit-consuming library, `timeseries.csv` pinned, and `loadctl
//! report` re-rendering a real run's files byte for byte.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use loadctl::metrics::aggregate::{RowStats, SeriesRow};
use loadctl::metrics::{ErrorKind, IntervalData, ERROR_KINDS};
use loadctl::report::html::ReportData;

use crate::summary::{regressed, synthetic};

/// Ten seconds of the synthetic run (1,000 requests at 100/s), with a latency bump and a
/// few 503s in the middle.
fn synthetic_series() -> Vec<SeriesRow> {
    (0..10)
        .map(|i| {
            let p50 = 400.0 + 20.0 * i as f64;
            let stats = RowStats {
                requests: 100,
                ok: 99,
                errors: 1,
                dropped: 0,
                p50_ms: Some(p50),
                p95_ms: Some(p50 * 2.0),
                p99_ms: Some(p50 * 2.3),
                max_ms: Some(p50 * 2.5),
            };
            let mut errors_by_kind = [0; ERROR_KINDS];
            errors_by_kind[ErrorKind::Http5xx as usize] = 1;
            SeriesRow {
                idx: i,
                all: stats.clone(),
                endpoints: vec![stats],
                in_flight: 3 + i as u64 % 4,
                send_lag_p99_ms: Some(0.2 + 0.01 * i as f64),
                errors_by_kind,
            }
        })
        .collect()
}

fn synthetic_totals() -> IntervalData {
    let mut t = IntervalData::new(1);
    for i in 1..=1000u64 {
        t.endpoints[0].latency.record(i * 1000).unwrap();
    }
    t
}

fn render_synthetic(dir: &Path, with_baseline: bool) -> PathBuf {
    let mut s = synthetic();
    if with_baseline {
        s.baseline = Some(loadctl::summary::compare::compare(
            &synthetic(),
            &regressed(),
            &loadctl::scenario::Tolerances::default(),
        ));
    }
    let totals = synthetic_totals();
    let planned: Vec<(i64, f64)> = (0..10).map(|i| (i, 100.0)).collect();
    let html = loadctl::report::html::render(&ReportData {
        summary: &s,
        series: &synthetic_series(),
        planned: &planned,
        latency: &totals.overall().latency,
        endpoint_latency: vec![&totals.endpoints[0].latency],
    });
    let path = dir.join("report.html");
    std::fs::write(&path, html).unwrap();
    path
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("LOADCTL_CHROMIUM") {
        return p.into();
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(dir) = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|d| d.join(name).is_file())
        {
            return dir.join(name);
        }
    }
    panic!(
        "the report test needs headless Chromium: install it with `apt-get install chromium` \
         (.ci/run does), or point LOADCTL_CHROMIUM at a Chromium binary"
    );
}

/// A proxy that answers nothing and records who called: the browser is pointed at it for
/// every request, loopback included, so any fetch the page makes is seen here.
struct Trap {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

/// Chromium's own housekeeping (clock check, component updates, account probes) goes to
/// these hosts even for an empty page and despite --disable-background-networking; a report
/// never names them (checked on the HTML), so they are not the page's requests.
const BROWSER_HOSTS: [&str; 7] = [
    ".google.com",
    ".googleapis.com",
    ".gstatic.com",
    ".gvt1.com",
    ".gvt2.com",
    ".googleusercontent.com",
    ".appspot.com",
];

fn is_browser_own(request_line: &str) -> bool {
    let target = request_line.split(' ').nth(1).unwrap_or("");
    let host = target
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    BROWSER_HOSTS.iter().any(|h| host.ends_with(h))
}

impl Trap {
    fn new() -> Trap {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, st) = (hits.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        let _ = c.set_nonblocking(false);
                        let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                        let mut buf = [0u8; 1024];
                        let n = c.read(&mut buf).unwrap_or(0);
                        let text = String::from_utf8_lossy(&buf[..n]);
                        let line = text.lines().next().unwrap_or("(no request line)");
                        h.lock().unwrap().push(line.to_string());
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        Trap { port, hits, stop }
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) struct Loaded {
    pub(crate) dom: String,
    pub(crate) console: Vec<String>,
    /// Request lines of what the page fetched.
    pub(crate) requests: Vec<String>,
}

fn browser(page: &Path, extra: &[&str]) -> (String, String, Vec<String>) {
    let trap = Trap::new();
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--log-level=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--proxy-server=http://127.0.0.1:{}", trap.port))
        .arg("--proxy-bypass-list=<-loopback>")
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Give a late fetch a moment to reach the trap before counting.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let page_requests: Vec<String> = trap
        .hits
        .lock()
        .unwrap()
        .iter()
        .filter(|l| !is_browser_own(l))
        .cloned()
        .collect();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        page_requests,
    )
}

pub(crate) fn load(page: &Path) -> Loaded {
    let (dom, stderr, requests) = browser(page, &["--dump-dom"]);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Loaded {
        dom,
        console,
        requests,
    }
}

#[test]
fn the_browser_check_sees_requests_and_console_errors() {
    // The control: a page that fetches and throws must be caught, or the real check
    // below would pass for nothing. (The fetch reaches only the trap; port 8123, not a
    // port on Chromium's unsafe list, which it would refuse before any request.)
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        r#"<!DOCTYPE html><html><body><img src="http://127.0.0.1:8123/x.png"><script>throw new Error("boom")</script></body></html>"#,
    )
    .unwrap();
    let l = load(&page);
    assert!(
        l.requests
            .iter()
            .any(|r| r.contains("127.0.0.1:8123/x.png")),
        "the image fetch went unseen: {:?}",
        l.requests
    );
    assert!(
        l.console.iter().any(|c| c.contains("Uncaught Error: boom")),
        "{:?}",
        l.console
    );
}

#[test]
fn report_html_loads_offline_without_errors_and_shows_verdict_and_charts() {
    let dir = tempfile::tempdir().unwrap();
    let page = render_synthetic(dir.path(), true);
    let html = std::fs::read_to_string(&page).unwrap();
    for h in BROWSER_HOSTS {
        assert!(
            !html.contains(h.trim_start_matches('.')),
            "the report names {h}"
        );
    }
    // Nothing in the file loads from outside it: no external src, href, url() or @import.
    let external: Vec<&str> = [
        "src=\"http",
        "href=\"http",
        "url(http",
        "url(\"http",
        "@import",
    ]
    .iter()
    .filter(|p| html.contains(*p))
    .copied()
    .collect();
    assert!(external.is_empty(), "external references: {external:?}");
    let l = load(&page);
    assert!(
        l.requests.is_empty(),
        "the report fetched: {:?}",
        l.requests
    );
    assert!(l.console.is_empty(), "console: {:#?}", l.console);
    assert!(
        l.dom.contains(r#"data-ready="1""#),
        "the inline script did not finish"
    );
    // Verdict first, with the failing SLO named.
    let verdict = l.dom.find(r#"id="verdict""#).expect("verdict banner");
    assert!(l.dom[verdict..].starts_with(r#"id="verdict"><span class="verdict">FAIL</span>"#));
    assert!(l
        .dom
        .contains("SLO p95 &lt; 100ms failed: observed 950.000 ms"));
    // Charts: RPS, latency, errors, spectrum, send lag, in flight.
    let charts = l.dom.matches("<svg").count();
    assert!(charts >= 6, "{charts} charts");
    for title in [
        "Requests per second: planned and achieved",
        "Latency, all requests (from intended start)",
        "Errors per second by kind",
        "Latency by percentile (HDR, measured window)",
        "Send lag: the generator's own lateness",
    ] {
        assert!(l.dom.contains(title), "missing chart {title}");
    }
    assert!(
        l.dom.contains("SLO p95 &lt; 100ms"),
        "threshold line in the legend"
    );
    assert!(l.dom.contains(r#"id="endpoints""#) && l.dom.contains(r#"id="baseline""#));
    assert!(l.dom.contains("REGRESSION"));
    assert!(l.dom.contains("oversold == 0"), "verification table");

    // Every time chart was drawn again by the chart script (hover and zoom).
    let holders = html.matches(r#"class="lc-live""#).count();
    assert!(holders >= 5, "{holders} time charts");
    assert_eq!(l.dom.matches(r#"class="lc-chart""#).count(), holders);

    // And as a picture, for a person to look at (kept under target/).
    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/report-screenshot.png");
    let (_, _, requests) = browser(
        &page,
        &[
            "--window-size=1280,2400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert!(requests.is_empty(), "{requests:?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(png.len() > 20_000, "a blank page? {} bytes", png.len());
}

#[test]
fn junit_is_read_by_a_junit_library() {
    let xml = loadctl::report::junit::render(&synthetic());
    let suites = junit_parser::from_reader(std::io::Cursor::new(xml.as_bytes())).unwrap();
    assert_eq!(suites.suites.len(), 1);
    let suite = &suites.suites[0];
    assert_eq!(suite.name, "synthetic");
    assert_eq!(suite.tests, suite.cases.len() as u64);
    let failed: Vec<&str> = suite
        .cases
        .iter()
        .filter(|c| c.status.is_failure())
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "synthetic.slo::p95 < 100ms",
            "synthetic.kube::hpa/flash-order: never at maxReplicas (ScalingLimited/TooManyReplicas)"
        ]
    );
    assert_eq!(suite.failures, 2);
    let p95 = suite
        .cases
        .iter()
        .find(|c| c.original_name == "p95 < 100ms")
        .unwrap();
    assert_eq!(p95.classname.as_deref(), Some("synthetic.slo"));
    assert_eq!(p95.status.failure_as_ref().message, "observed 950.000 ms");
    assert!(suite
        .cases
        .iter()
        .any(|c| c.original_name == "ledger: oversold == 0" && c.status.is_success()));
}

#[test]
fn timeseries_csv_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    loadctl::report::csv::write_timeseries(dir.path(), &["list".into()], &synthetic_series(), &[])
        .unwrap();
    let csv = std::fs::read_to_string(dir.path().join("timeseries.csv")).unwrap();
    insta::assert_snapshot!("timeseries_csv", csv);
}

#[test]
fn report_rerenders_a_run_byte_for_byte() {
    let p = crate::support::plan(
        r#"
name = "rerender"
[load]
rate = 200
duration = "2s"
warmup = "1s"
[generator]
max_send_lag_p99 = "1s"
[embedded]
error_rate = "2%"
[[requests]]
name = "list"
path = "/api/v1/activities/?page={{rand_int(1, 20)}}"
[[requests]]
name = "health"
path = "/api/v1/health/"
weight = 0.5
[slo]
"p99" = "< 1s"
"#,
    );
    let (out, _dir) = crate::support::run_plan(&p);
    let dir = &out.out_dir;
    let files = ["summary.csv", "timeseries.csv", "junit.xml", "report.html"];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    for f in files {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let s = loadctl::report::rerender(dir).unwrap();
    assert_eq!(s.scenario, "rerender");
    for (f, b) in files.iter().zip(&before) {
        let after = std::fs::read(dir.join(f)).unwrap();
        assert!(after == *b, "{f} differs after re-rendering");
    }
    // Not a file of empty rows: the per-second counters came back, errors included (2%
    // injected 500s), which the histograms alone could not give.
    let ts = String::from_utf8(before[1].clone()).unwrap();
    let errors: u64 = ts
        .lines()
        .filter(|l| l.split(',').nth(3) == Some("all"))
        .map(|l| l.split(',').nth(6).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(errors > 0, "{ts}");
}

#[test]
fn report_charts_show_values_on_hover_and_zoom_together() {
    let dir = tempfile::tempdir().unwrap();
    let page = render_synthetic(dir.path(), true);
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/js/report_hover.js"))
        .arg(format!("file://{}", page.display()))
        .env("NODE_PATH", super::support::node_modules())
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["holders"], seen["drawn"], "{seen}");
    let tip = seen["tip"].as_str().unwrap();
    assert!(
        tip.starts_with("t = ") && tip.contains("achieved (completed/s): "),
        "{seen}"
    );
    let all_zoomed = |k: &str| {
        seen[k]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t.as_str().unwrap().contains("(zoomed"))
    };
    assert!(all_zoomed("zoomed"), "a drag zooms every chart: {seen}");
    let none_zoomed = seen["whole"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| !t.as_str().unwrap().contains("(zoomed"));
    assert!(none_zoomed, "a double-click shows the whole run: {seen}");
}
