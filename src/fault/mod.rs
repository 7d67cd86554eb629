//! Faults injected during a run (`[[kube.fault]]`), one module per kind. A kind owns its
//! raw TOML struct, its validation (with line:col) and bounds, how it describes itself,
//! how it is carried out against the cluster, and what its record says in the summary;
//! the scenario, the Kubernetes session and the reports know only the [`Fault`] trait and
//! the generic [`Record`].
//!
//! Adding a kind: a module here, and its line in [`KINDS`]. Its table is declared with
//! [`fault_table!`], which adds the keys every `[[kube.fault]]` has (`at`, `action`, `name`
//! and the recovery band), read by the common part and ignored by the kind.

/// A kind's own table struct: its keys, plus the keys every fault has (read by the common
/// part of `[[kube.fault]]`), so that the kind's struct can deny every other key.
macro_rules! fault_table {
    ($(#[$m:meta])* struct $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $name {
            #[serde(rename = "at")]
            _at: Option<serde::de::IgnoredAny>,
            #[serde(rename = "action")]
            _action: serde::de::IgnoredAny,
            #[serde(rename = "name")]
            _name: Option<serde::de::IgnoredAny>,
            #[serde(rename = "recovery_p99")]
            _recovery_p99: Option<serde::de::IgnoredAny>,
            #[serde(rename = "recovery_errors")]
            _recovery_errors: Option<serde::de::IgnoredAny>,
            $($(#[$fm])* $f: $t),*
        }
    };
}

mod chaos_mesh;
mod drain;
mod evict;
mod network_delay;
mod pod_kill;
mod pods;
mod rollout_restart;
mod stress;

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::diag::Ctx;

/// Every kind: the name a scenario writes (`action = "…"`) and its validator.
pub(crate) const KINDS: &[(&str, Validate)] = &[
    ("pod-kill", pod_kill::validate),
    ("network-delay", network_delay::validate),
    ("rollout-restart", rollout_restart::validate),
    ("stress", stress::validate),
    ("evict", evict::validate),
    ("drain", drain::validate),
];

/// Reads a fault of one kind from its table (at `span`; `field` is `kube.fault[i]`).
pub(crate) type Validate = fn(&mut Ctx<'_>, Range<usize>, &str) -> Option<Arc<dyn Fault>>;

/// The names a scenario may write, for its errors: `"pod-kill"`.
pub fn names() -> String {
    crate::diag::kind_names(KINDS)
}

/// A validated fault of some kind.
pub trait Fault: Send + Sync + std::fmt::Debug {
    /// As a scenario writes it: `pod-kill`.
    fn action(&self) -> &'static str;
    /// What it breaks and when (`at`, as written), for the reader:
    /// `pod-kill one pod (app=flash-order) at 40s, grace 0s`.
    fn describe(&self, at: &str) -> String;
    /// `(selector, mode)` of what it chooses, as the summary names them.
    fn target(&self) -> (String, String);
    /// Before any load: whether the cluster can serve this kind (its CRDs installed, the
    /// permissions granted). An error stops the run with exit 2 and says what to fix.
    fn check(&self, _client: kube::Client, _namespace: String) -> Check {
        Box::pin(async { Ok(()) })
    }
    /// Carries it out now and waits for the recovery, unless the run stops first. When
    /// the run stops, whatever it created in the cluster is removed before it returns.
    fn execute(&self, x: Exec) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// What [`Fault::check`] returns: why the cluster cannot serve the kind.
pub type Check = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'static>>;

/// What a fault is carried out with.
pub struct Exec {
    pub client: kube::Client,
    pub namespace: String,
    /// The load's start: the record's times count from here.
    pub origin: Instant,
    pub record: Arc<Mutex<Record>>,
    pub stop: tokio::sync::watch::Receiver<bool>,
    /// How much faster the cluster's clock runs than the wall clock (1 for a real one):
    /// durations handed to the cluster's own controllers are scaled by it.
    pub time_scale: f64,
}

/// What one fault did, whatever its kind.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// When it took effect, since the load's start.
    pub executed_at: Option<Duration>,
    /// The objects it acted on (pod names).
    pub affected: Vec<String>,
    /// What it did, in a few words: `killed 1`.
    pub outcome: String,
    /// Its kind's own figures: `ready_before = 20`.
    pub detail: Vec<(String, serde_json::Value)>,
    pub errors: Vec<String>,
    /// When the system was whole again, since the load's start.
    pub recovered_at: Option<Duration>,
}

impl Record {
    pub fn lock(r: &Mutex<Record>) -> std::sync::MutexGuard<'_, Record> {
        r.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Carries out `f` at `origin + at`, unless `stop` comes first.
pub async fn run(f: Arc<dyn Fault>, at: Duration, mut x: Exec) {
    tokio::select! {
        _ = tokio::time::sleep_until((x.origin + at).into()) => {}
        _ = x.stop.changed() => return,
    }
    f.execute(x).await
}

/// The kind `action` names, or an error that lists the kinds.
pub(crate) fn validate(
    cx: &mut Ctx<'_>,
    action: &toml::Spanned<String>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Fault>> {
    crate::diag::kind(cx, KINDS, action, field, "action")?(cx, span, field)
}
