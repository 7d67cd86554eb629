//! Live exporters (`[[export]]`, and `--metrics-listen` for the first kind): each kind is a
//! module that owns its raw TOML struct, its validation with line:col, how it describes
//! itself, and `build()`, which starts it on the run's side runtime before any load (a
//! failure there is a setup error, exit 2: the healthcheck) and returns the sink that
//! gets every final second. A sink must not block the control loop: what takes time
//! (serving, pushing) runs on the runtime it was built with.
//!
//! Every kind counts what it sent, retried, failed to send and dropped in its [`Stats`]
//! (the summary's `exports[]`), and may be told how the run ended once the reports are on
//! disk ([`Ending`]: the verdict an annotation or a dashboard shows).
//!
//! Adding a kind: a module here, and its line in [`KINDS`].

mod config;
pub mod dashboard;
pub mod exphist;
pub mod grafana;
pub mod otlp;
mod pb;
pub mod prometheus;
mod push;
pub mod remote_write;
pub mod serve;

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::diag::Ctx;
use crate::metrics::sink::IntervalSink;

/// Every kind: the name a scenario writes (`kind = "…"`) and its validator.
pub(crate) const KINDS: &[(&str, Validate)] = &[
    ("prometheus", prometheus::validate),
    ("remote_write", remote_write::validate),
    ("otlp", otlp::validate),
    ("grafana_annotations", grafana::validate),
    ("dashboard", dashboard::validate),
];

/// Reads an exporter of one kind from its table (at `span`; `field` is `export[i]`).
pub(crate) type Validate = fn(&mut Ctx<'_>, Range<usize>, &str) -> Option<Arc<dyn Export>>;

/// A validated exporter of some kind.
pub trait Export: Send + Sync + std::fmt::Debug {
    /// As a scenario writes it: `prometheus`.
    fn kind(&self) -> &'static str;
    /// For the reader: `prometheus at http://127.0.0.1:9464/metrics`.
    fn describe(&self) -> String;
    /// Starts it before any load; an error stops the run before it begins.
    fn build(&self, cx: &Build<'_>) -> anyhow::Result<Running>;
}

/// What an exporter is built with.
pub struct Build<'a> {
    /// The scenario's name and its request names, in order.
    pub scenario: &'a str,
    pub names: &'a [String],
    /// The run's side runtime.
    pub rt: &'a tokio::runtime::Handle,
    /// The run's id in what is exported (`run_id` label, `loadctl.run_id` attribute).
    pub run_id: &'a str,
    /// The warmup: the seconds a sink gets count from its end (the first warmup second
    /// is `-warmup`).
    pub warmup_s: f64,
    /// How long the load is planned to last, warmup included.
    pub length_s: f64,
    /// Open model: the planned requests of each second (warmup seconds negative).
    pub planned: &'a [(i64, f64)],
    /// What is planned to happen when: stages, faults.
    pub marks: &'a [Mark],
    /// The run's output folder (where `report.html` will be).
    pub out_dir: &'a Path,
    /// Whether the load runs on agents (a sink's `sources` are then the agents).
    pub distributed: bool,
    /// With `[kube]`: each watched HPA's replicas now.
    pub replicas: Option<Replicas>,
}

/// Each watched HPA's replicas now: `(name, desired, ready)`.
pub type Replicas = Arc<dyn Fn() -> Vec<(String, u32, u32)> + Send + Sync>;

/// Something planned to happen at a time of the run: a stage of the load or a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Seconds from the measured window's start (the scale of a sink's seconds).
    pub at_s: f64,
    /// Where it ends, for a span (a ramp, the warmup).
    pub until_s: Option<f64>,
    /// `stage` or `fault`.
    pub kind: &'static str,
    pub text: String,
}

/// A started exporter: the sink of the run's seconds, its counters, what keeps it running
/// until the run's reports are written (dropping it stops the exporter) and what it does
/// once the run has ended.
pub struct Running {
    pub sink: Box<dyn IntervalSink>,
    pub stats: Arc<Stats>,
    pub keep: Box<dyn Send>,
    pub end: Option<OnEnd>,
}

/// What an exporter does once the run has ended (annotate the verdict, show it): it may
/// ask to go on serving for a while (`(how long, what it is)`: a dashboard's linger),
/// which the command does after the summary is printed.
pub type OnEnd = Box<dyn FnOnce(&Ending<'_>) -> Option<(std::time::Duration, String)> + Send>;

/// How the run ended, once its reports are on disk.
pub struct Ending<'a> {
    /// `PASS`, `FAIL`, `INVALID`, `INTERRUPTED`.
    pub status: &'a str,
    pub passed: bool,
    pub reasons: &'a [String],
    /// The run's `report.html`.
    pub report: &'a Path,
    /// The load's wall-clock start and end.
    pub started: SystemTime,
    pub ended: SystemTime,
}

/// What an exporter did, counted as it goes.
#[derive(Debug, Default)]
pub struct Stats {
    /// Batches (or pages, events) delivered.
    pub sent: AtomicU64,
    /// Attempts made again after a failure that may pass later (5xx, 429, a lost
    /// connection).
    pub retried: AtomicU64,
    /// Batches given up on.
    pub failed: AtomicU64,
    /// Batches never sent: the queue to the network was full.
    pub dropped: AtomicU64,
    /// The last failure, as text (empty: none).
    pub last_error: Mutex<String>,
}

impl Stats {
    pub fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.error(why);
    }

    /// A failure that lost nothing (one a retry may mend, a client gone).
    pub fn error(&self, why: String) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// `(sent, retried, failed, dropped, last_error)` now.
    pub fn read(&self) -> (u64, u64, u64, u64, Option<String>) {
        let last = self
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (
            self.sent.load(Ordering::Relaxed),
            self.retried.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
            (!last.is_empty()).then_some(last),
        )
    }
}

/// Milliseconds since the epoch of `t`.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A run's id in what it exports: the scenario and the start, in milliseconds since the
/// epoch.
pub fn run_id(scenario: &str) -> String {
    format!("{scenario}-{}", unix_ms(SystemTime::now()))
}

/// The kind `kind` names, or an error that lists the kinds.
pub(crate) fn validate(
    cx: &mut Ctx<'_>,
    kind: &toml::Spanned<String>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Export>> {
    crate::diag::kind(cx, KINDS, kind, field, "kind")?(cx, span, field)
}

/// The kinds a scenario may write, for its errors: `"prometheus"`.
pub fn names() -> String {
    crate::diag::kind_names(KINDS)
}

/// Starts every exporter, in order; the first that fails stops the others (they are
/// dropped) and is the error.
pub fn start_all(exports: &[Arc<dyn Export>], cx: &Build<'_>) -> anyhow::Result<Vec<Running>> {
    exports
        .iter()
        .map(|e| {
            e.build(cx)
                .map_err(|err| err.context(format!("[[export]] {}", e.describe())))
        })
        .collect()
}
