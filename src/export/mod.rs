//! Live exporters (`[[export]]`, and `--metrics-listen` for the first kind): each kind is a
//! module that owns its raw TOML struct, its validation with line:col, how it describes
//! itself, and `build()`, which starts it on the run's side runtime before any load (a
//! failure there is a setup error, exit 2: the healthcheck) and returns the sink that
//! gets every final second. A sink must not block the control loop: what takes time
//! (serving, pushing) runs on the runtime it was built with.
//!
//! Adding a kind: a module here, and its line in [`KINDS`].

pub mod prometheus;
pub mod remote_write;

use std::ops::Range;
use std::sync::Arc;

use crate::diag::Ctx;
use crate::metrics::sink::IntervalSink;

/// Every kind: the name a scenario writes (`kind = "…"`) and its validator.
pub(crate) const KINDS: &[(&str, Validate)] = &[
    ("prometheus", prometheus::validate),
    ("remote_write", remote_write::validate),
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
}

/// A started exporter: the sink of the run's seconds, and what keeps it running until
/// the run's reports are written (dropping it stops the exporter).
pub struct Running {
    pub sink: Box<dyn IntervalSink>,
    pub keep: Box<dyn Send>,
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
