//! `dashboard`: a live web page served by the run, what k6's web dashboard and Locust's
//! UI are to their users: the page at `/`, fed by server-sent events at `/events` (one
//! per final second), draws the planned and achieved rate, the latency percentiles, the
//! errors by kind, the generator's send lag and what is in flight, with the warmup, the
//! stages and the planned faults marked, and the verdict at the end with a link to the
//! run's `report.html` (served at `/report.html` once written). `/state.json` is the same
//! state as one document.
//!
//! ```toml
//! [[export]]
//! kind = "dashboard"
//! listen = "127.0.0.1:5665"
//! linger = "60s"     # keep serving the final state this long after the run
//! ```
//!
//! or `loadctl run … --dashboard 127.0.0.1:5665 --dashboard-linger 60s`. The address is
//! bound before any load (a taken one is exit 2). The page needs no network: its script
//! is inlined (`crate::web`). Lingering happens after the summary is printed; Ctrl-C ends
//! it.

mod board;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use toml::Spanned;

use super::{config, serve, Build, Ending, Export, Running, Stats};
use crate::diag::Ctx;
use crate::metrics::sink::{Final, IntervalSink};
use crate::metrics::ErrorKind;
use board::Board;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    listen: Option<Spanned<String>>,
    linger: Option<Spanned<String>>,
}

/// Where the dashboard listens unless told: k6's port, on loopback.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5665";
/// The longest linger: an hour.
pub const MAX_LINGER: Duration = Duration::from_secs(3600);
/// The report is ours, but still read with a bound.
const MAX_REPORT: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    pub listen: SocketAddr,
    pub linger: Duration,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Export>> {
    let r: Raw = cx.reparse(span, field)?;
    let before = cx.count();
    let listen = match &r.listen {
        None => DEFAULT_LISTEN.parse().ok(),
        Some(l) => config::listen(cx, l, format!("{field}.listen"), DEFAULT_LISTEN),
    };
    let linger = config::duration(
        cx,
        r.linger.as_ref(),
        format!("{field}.linger"),
        (Duration::ZERO, Duration::ZERO, MAX_LINGER),
    );
    if cx.count() != before {
        return None;
    }
    Some(Arc::new(Dashboard {
        listen: listen?,
        linger: linger?,
    }))
}

/// `--dashboard ADDR --dashboard-linger D`: this kind from the command line (the command
/// line refuses a linger over [`MAX_LINGER`]; a library caller's is capped there).
pub fn cli(listen: SocketAddr, linger: Duration) -> Arc<dyn Export> {
    Arc::new(Dashboard {
        listen,
        linger: linger.min(MAX_LINGER),
    })
}

/// The page, its script and style inlined.
fn page() -> String {
    include_str!("page.html")
        .replace("/*CSS*/", crate::web::CHART_CSS)
        .replace("/*JS*/", crate::web::CHART_JS)
}

impl Export for Dashboard {
    fn kind(&self) -> &'static str {
        "dashboard"
    }

    fn describe(&self) -> String {
        format!("dashboard at http://{}/", self.listen)
    }

    fn build(&self, cx: &Build<'_>) -> anyhow::Result<Running> {
        let head = json!({
            "scenario": cx.scenario,
            "run_id": cx.run_id,
            "requests": cx.names,
            "warmup_s": cx.warmup_s,
            "length_s": cx.length_s - cx.warmup_s,
            "marks": cx.marks.iter().map(|m| json!({
                "at_s": m.at_s, "until_s": m.until_s, "kind": m.kind, "text": m.text,
            })).collect::<Vec<_>>(),
            "planned": cx.planned.iter().map(|(t, r)| json!([*t as f64 + 0.5, r])).collect::<Vec<_>>(),
            "distributed": cx.distributed,
            "kube": cx.replicas.is_some(),
        });
        let board = Board::new(head);
        let stats = Arc::new(Stats::default());
        let report = cx.out_dir.join("report.html");
        let (b, s) = (board.clone(), stats.clone());
        let page = page();
        let handler: serve::Handler = Arc::new(move |head| match head.uri.path() {
            "/" | "/index.html" => serve::answer(200, "text/html; charset=utf-8", page.clone()),
            "/events" => {
                s.sent.fetch_add(1, Ordering::Relaxed);
                http::Response::builder()
                    .header("content-type", "text/event-stream")
                    .header("cache-control", "no-store")
                    .body(b.events())
                    .expect("a valid response")
            }
            "/state.json" => serve::answer(200, "application/json", b.state().to_string()),
            "/report.html" => match std::fs::metadata(&report) {
                Ok(m) if m.len() <= MAX_REPORT => match std::fs::read(&report) {
                    Ok(html) => serve::answer(200, "text/html; charset=utf-8", html),
                    Err(e) => serve::answer(500, "text/plain", format!("{e}\n")),
                },
                _ => serve::answer(
                    404,
                    "text/plain",
                    "the report is written when the run ends\n",
                ),
            },
            _ => serve::answer(404, "text/plain", "loadctl's dashboard is at /\n"),
        });
        let server = serve::start(cx.rt, self.listen, handler)?;
        let linger = self.linger;
        let shown = self.describe();
        let at_end = board.clone();
        Ok(Running {
            sink: Box::new(BoardSink {
                board,
                distributed: cx.distributed,
                replicas: cx.replicas.clone(),
            }),
            stats,
            keep: Box::new(server),
            end: Some(Box::new(move |e: &Ending<'_>| {
                at_end.verdict(json!({
                    "status": e.status,
                    "passed": e.passed,
                    "reasons": e.reasons,
                }));
                (!linger.is_zero()).then_some((linger, shown))
            })),
        })
    }
}

/// Hands each final second to the board.
struct BoardSink {
    board: Arc<Board>,
    distributed: bool,
    replicas: Option<super::Replicas>,
}

impl IntervalSink for BoardSink {
    fn interval(&mut self, f: &Final<'_>) {
        let r = f.row;
        let kinds: serde_json::Map<String, serde_json::Value> = ErrorKind::ALL
            .iter()
            .filter(|k| r.errors_by_kind[**k as usize] > 0)
            .map(|k| (k.name().to_string(), json!(r.errors_by_kind[*k as usize])))
            .collect();
        let totals = f.totals.overall();
        let replicas: Vec<serde_json::Value> = self
            .replicas
            .as_ref()
            .map(|r| r())
            .unwrap_or_default()
            .into_iter()
            .map(
                |(name, desired, ready)| json!({ "hpa": name, "desired": desired, "ready": ready }),
            )
            .collect();
        // Per agent in a distributed run (a local run's threads are no one's concern).
        let agents = if self.distributed { f.sources } else { &[] };
        self.board.second(json!({
            "agents": agents,
            "replicas": replicas,
            // The middle of the second, as the planned rate is drawn.
            "t": f.idx as f64 + 0.5,
            "requests": r.all.requests,
            "ok": r.all.ok,
            "errors": r.all.errors,
            "dropped": r.all.dropped,
            "p50_ms": r.all.p50_ms,
            "p95_ms": r.all.p95_ms,
            "p99_ms": r.all.p99_ms,
            "send_lag_p99_ms": r.send_lag_p99_ms,
            "in_flight": r.in_flight,
            "errors_by_kind": kinds,
            "total_requests": totals.counts.requests(),
            "total_errors": totals.counts.error_count(),
        }));
    }
}
