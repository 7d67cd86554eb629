//! `remote_write`: pushes the run's live figures to a Prometheus remote-write endpoint
//! (Prometheus with `--web.enable-remote-write-receiver`, Mimir, Thanos, Grafana Cloud,
//! VictoriaMetrics…) every `every`, so a CI runner or a generator behind NAT, which no
//! Prometheus can scrape, still shows up on the team's dashboards.
//!
//! ```toml
//! [[export]]
//! kind = "remote_write"
//! url = "http://127.0.0.1:9090/api/v1/write"
//! every = "5s"
//! labels = { team = "shop" }
//! headers = { "X-Scope-OrgID" = "perf" }
//! bearer_env = "REMOTE_WRITE_TOKEN"    # optional: Authorization: Bearer from this variable
//! ```
//!
//! The series are the `prometheus` kind's (`loadctl_requests_total`, `…_errors_total{kind}`,
//! the `loadctl_latency_seconds` histogram per request name, in flight, send lag), each
//! labelled `run_id`, `scenario` and the table's `labels`; in a distributed run the
//! coordinator pushes the merged run (agents export nothing). `build()` sends an empty
//! write first: an endpoint that does not take it stops the run before any load (exit 2).
//! A bounded queue lies between the run and the network: a batch that finds it full is
//! dropped and counted, never waited for; the last state is pushed at the end, and what
//! was sent, retried, failed and dropped is said on stderr.

mod proto;
mod push;

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::prometheus::page::ExpositionSink;
use super::{Build, Export, Running};
use crate::diag::Ctx;
use crate::metrics::sink::{Final, IntervalSink};

/// Milliseconds since the epoch, now.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    url: Option<Spanned<String>>,
    every: Option<Spanned<String>>,
    #[serde(default)]
    labels: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    headers: IndexMap<String, Spanned<String>>,
    bearer_env: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

/// Batches waiting to be sent at most; more are dropped (and counted).
const QUEUE: usize = 16;
const MAX_LABELS: usize = 16;
const DEFAULT_EVERY: Duration = Duration::from_secs(5);
/// How long the end of the run waits for the last pushes.
const FINAL_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWrite {
    pub url: url::Url,
    pub every: Duration,
    pub labels: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub bearer_env: Option<String>,
    pub timeout: Duration,
}

fn label_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

fn seconds(
    cx: &mut Ctx<'_>,
    v: Option<&Spanned<String>>,
    field: String,
    (def, lo, hi): (Duration, Duration, Duration),
) -> Option<Duration> {
    let Some(v) = v else { return Some(def) };
    match humantime::parse_duration(v.get_ref().trim()) {
        Ok(d) if (lo..=hi).contains(&d) => Some(d),
        _ => {
            cx.err(
                v.span(),
                field,
                format!(
                    "`{}`: a duration from {} to {}",
                    v.get_ref(),
                    humantime::format_duration(lo),
                    humantime::format_duration(hi)
                ),
            );
            None
        }
    }
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Export>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let before = cx.count();
    let url = match &r.url {
        Some(u) => match url::Url::parse(u.get_ref()) {
            Ok(p) if matches!(p.scheme(), "http" | "https") && p.host_str().is_some() => Some(p),
            _ => {
                cx.err(
                    u.span(),
                    format!("{field}.url"),
                    format!(
                        "`{}` is not an http(s) URL such as http://127.0.0.1:9090/api/v1/write",
                        u.get_ref()
                    ),
                );
                None
            }
        },
        None => {
            cx.err(
                span.clone(),
                format!("{field}.url"),
                "missing; the remote-write endpoint, such as http://127.0.0.1:9090/api/v1/write",
            );
            None
        }
    };
    let every = seconds(
        cx,
        r.every.as_ref(),
        format!("{field}.every"),
        (
            DEFAULT_EVERY,
            Duration::from_secs(1),
            Duration::from_secs(600),
        ),
    );
    let timeout = seconds(
        cx,
        r.timeout.as_ref(),
        format!("{field}.timeout"),
        (
            Duration::from_secs(10),
            Duration::from_millis(100),
            Duration::from_secs(60),
        ),
    );
    if r.labels.len() > MAX_LABELS {
        cx.err(
            span.clone(),
            format!("{field}.labels"),
            format!("at most {MAX_LABELS} labels"),
        );
    }
    for (k, v) in &r.labels {
        if !label_name(k) || ["run_id", "scenario", "request", "kind", "le"].contains(&k.as_str()) {
            cx.err(v.span(), format!("{field}.labels.{k}"), "a label name is letters, digits and `_`, not starting with `__`, and not one loadctl sets (run_id, scenario, request, kind, le)");
        }
    }
    for (k, v) in &r.headers {
        if HeaderName::from_bytes(k.as_bytes()).is_err()
            || HeaderValue::from_str(v.get_ref()).is_err()
        {
            cx.err(
                v.span(),
                format!("{field}.headers.{k}"),
                "not a valid header name and value",
            );
        }
    }
    if let Some(b) = &r.bearer_env {
        if b.get_ref().is_empty()
            || !b
                .get_ref()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            cx.err(
                b.span(),
                format!("{field}.bearer_env"),
                "the name of an environment variable (letters, digits, `_`)",
            );
        }
    }
    if cx.count() != before {
        return None;
    }
    Some(Arc::new(RemoteWrite {
        url: url?,
        every: every?,
        labels: r
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect(),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect(),
        bearer_env: r.bearer_env.map(|b| b.into_inner()),
        timeout: timeout?,
    }))
}

impl RemoteWrite {
    fn header_values(&self) -> anyhow::Result<Vec<(HeaderName, HeaderValue)>> {
        let mut out = Vec::new();
        for (k, v) in &self.headers {
            out.push((
                HeaderName::from_bytes(k.as_bytes())?,
                HeaderValue::from_str(v)?,
            ));
        }
        if let Some(var) = &self.bearer_env {
            let token = std::env::var(var).map_err(|_| {
                anyhow::anyhow!("bearer_env: the environment variable {var} is not set")
            })?;
            let mut v = HeaderValue::from_str(&format!("Bearer {token}"))?;
            v.set_sensitive(true);
            out.push((http::header::AUTHORIZATION, v));
        }
        Ok(out)
    }
}

impl Export for RemoteWrite {
    fn kind(&self) -> &'static str {
        "remote_write"
    }

    fn describe(&self) -> String {
        // The URL without what could be a secret in it.
        let mut shown = self.url.clone();
        let _ = shown.set_password(None);
        shown.set_query(None);
        format!(
            "remote_write to {shown} every {}",
            humantime::format_duration(self.every)
        )
    }

    fn build(&self, cx: &Build<'_>) -> anyhow::Result<Running> {
        let headers = self.header_values()?;
        let target = cx
            .rt
            .block_on(push::target(&self.url, headers, self.timeout))?;
        let stats = Arc::new(push::Stats::default());
        // The healthcheck: an empty write the endpoint must take.
        cx.rt
            .block_on(async {
                let mut conn = None;
                push::send(&target, &mut conn, Bytes::from(proto::body(&[])), &stats).await
            })
            .map_err(|e| {
                anyhow::anyhow!("{}: the endpoint does not take a write: {e}", self.url)
            })?;
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let task = cx.rt.spawn(push::run(target, rx, stats.clone()));
        let run_id = format!("{}-{}", cx.scenario, unix_ms());
        let mut labels = vec![
            ("run_id".to_string(), run_id),
            ("scenario".to_string(), cx.scenario.to_string()),
        ];
        labels.extend(self.labels.iter().cloned());
        Ok(Running {
            sink: Box::new(PushSink {
                inner: ExpositionSink::new(cx.scenario, cx.names.to_vec(), Default::default()),
                labels,
                every: self.every,
                last: None,
                tx: Some(tx),
                stats: stats.clone(),
                task: Some((cx.rt.clone(), task)),
                shown: self.describe(),
            }),
            keep: Box::new(()),
        })
    }
}

struct PushSink {
    inner: ExpositionSink,
    labels: Vec<(String, String)>,
    every: Duration,
    last: Option<Instant>,
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    stats: Arc<push::Stats>,
    task: Option<(tokio::runtime::Handle, tokio::task::JoinHandle<()>)>,
    shown: String,
}

impl PushSink {
    fn batch(&self) -> Bytes {
        let now = unix_ms();
        let series: Vec<proto::Series> = self
            .inner
            .samples()
            .into_iter()
            .map(|s| {
                let mut labels: Vec<(String, String)> = vec![("__name__".into(), s.name.into())];
                labels.extend(self.labels.iter().cloned());
                labels.extend(s.labels.into_iter().map(|(k, v)| (k.to_string(), v)));
                labels.sort_by(|a, b| a.0.cmp(&b.0));
                proto::Series {
                    labels,
                    value: s.value,
                    timestamp_ms: now as i64,
                }
            })
            .collect();
        Bytes::from(proto::body(&series))
    }

    fn enqueue(&mut self) {
        let body = self.batch();
        if let Some(tx) = &self.tx {
            if tx.try_send(body).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl IntervalSink for PushSink {
    fn interval(&mut self, f: &Final<'_>) {
        self.inner.take(f);
        if self.last.is_none_or(|t| t.elapsed() >= self.every) {
            self.last = Some(Instant::now());
            self.enqueue();
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        // The last state, then the queue closes and the sender drains it (bounded wait).
        self.enqueue();
        self.tx = None;
        if let Some((rt, task)) = self.task.take() {
            let _ = rt.block_on(async { tokio::time::timeout(FINAL_WAIT, task).await });
        }
        let s = &self.stats;
        let (sent, retried, failed, dropped) = (
            s.sent.load(Ordering::Relaxed),
            s.retried.load(Ordering::Relaxed),
            s.failed.load(Ordering::Relaxed),
            s.dropped.load(Ordering::Relaxed),
        );
        let last = s
            .last_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        eprintln!(
            "loadctl: {}: {sent} pushes sent, {retried} retried, {failed} failed, {dropped} dropped (queue full){}",
            self.shown,
            if last.is_empty() { String::new() } else { format!("; last failure: {last}") }
        );
        Ok(())
    }
}
