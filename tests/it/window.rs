//! Windowed SLOs against a target that stalls once, for a tenth of a second: the whole-run
//! p99 passes, the same p99 judged in every 5-s window fails, with the worst window named;
//! with `abort = true` the run ends as soon as that window closes, exit 1, reports complete.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use loadctl::report::Status;

use crate::support::{plan, run_plan, serve};

/// Answers at once, except requests arriving 7.0–7.1 s after the first one: 300 ms.
fn stalls_once() -> std::net::SocketAddr {
    let first: Arc<Mutex<Option<Instant>>> = Arc::default();
    serve(Router::new().route(
        "/x",
        get(move || {
            let first = first.clone();
            async move {
                let t0 = *first.lock().unwrap().get_or_insert_with(Instant::now);
                let at = t0.elapsed();
                if at >= Duration::from_millis(7000) && at < Duration::from_millis(7100) {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                "ok"
            }
        }),
    ))
}

fn scenario(addr: std::net::SocketAddr, duration: &str, abort: bool) -> String {
    format!(
        r#"
name = "window"
target = "http://{addr}"
[load]
rate = 200
duration = "{duration}"
timeout = "5s"
[generator]
max_send_lag_p99 = "1s"
[[requests]]
name = "x"
path = "/x"
[slo]
"p99" = "< 100ms"
"x.p99" = {{ threshold = "< 100ms", every = "5s", abort = {abort} }}
"#
    )
}

#[test]
fn a_stall_in_one_window_fails_the_windowed_slo_only() {
    let (out, _d) = run_plan(&plan(&scenario(stalls_once(), "15s", false)));
    let s = &out.summary;
    let whole = &s.slo[0];
    assert!(
        whole.pass,
        "20 slow of 3,000 stay under the whole-run p99: {whole:?}"
    );
    let w = &s.slo[1];
    assert!(!w.pass, "{w:?}");
    assert_eq!(w.every_s, Some(5.0));
    let counts = w.windows.unwrap();
    assert_eq!((counts.judged, counts.failed), (3, 1), "{w:?}");
    assert_eq!(w.worst_window, Some([5.0, 10.0]));
    assert!(w.observed.unwrap() >= 100.0);
    assert_eq!(s.status, Status::Fail);
    assert!(s.stopped_early.is_none());
}

#[test]
fn abort_ends_the_run_when_a_window_fails() {
    let (out, _d) = run_plan(&plan(&scenario(stalls_once(), "40s", true)));
    let s = &out.summary;
    assert_eq!((s.status, out.exit_code()), (Status::Fail, 1));
    let why = s.stopped_early.as_deref().expect("aborted");
    assert!(why.contains("x.p99") && why.contains("5–10 s"), "{why}");
    assert!(s.reasons[0].starts_with("aborted early"), "{:?}", s.reasons);
    assert!(
        s.duration_s < 40.0,
        "the window was cut short: {}",
        s.duration_s
    );
    for f in [
        "summary.json",
        "report.html",
        "junit.xml",
        "timeseries.csv",
        "histograms.hlog",
    ] {
        assert!(out.out_dir.join(f).is_file(), "{f}");
    }
}
