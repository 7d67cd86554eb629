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
//! native = true                        # also the latency as a native histogram
//! ```
//!
//! The series are the `prometheus` kind's (`loadctl_requests_total`, `…_errors_total{kind}`,
//! the `loadctl_latency_seconds` histogram per request name, in flight, send lag), each
//! labelled `run_id`, `scenario` and the table's `labels`; in a distributed run the
//! coordinator pushes the merged run (agents export nothing). `build()` sends an empty
//! write first: an endpoint that does not take it stops the run before any load (exit 2).
//! A bounded queue lies between the run and the network: a batch that finds it full is
//! dropped and counted, never waited for; the last state is pushed at the end, and what
//! was sent, retried, failed and dropped is the summary's `exports[]`.

mod proto;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{config, push};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::exphist::ExpHist;
use super::prometheus::page::ExpositionSink;
use super::{Build, Export, Running};
use crate::diag::Ctx;
use crate::metrics::sink::{Final, IntervalSink};

/// Milliseconds since the epoch, now.
fn unix_ms() -> u64 {
    super::unix_ms(SystemTime::now())
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
    ca: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    native: Option<bool>,
}

const MAX_LABELS: usize = 16;

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteWrite {
    pub url: url::Url,
    pub every: Duration,
    pub labels: Vec<(String, String)>,
    /// Headers, token, CA, timeout.
    pub access: config::Access,
    /// Also send the latency as a native histogram (`loadctl_latency_seconds`).
    pub native: bool,
}

fn label_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Export>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let before = cx.count();
    let url = config::url(
        cx,
        r.url.as_ref(),
        span.clone(),
        format!("{field}.url"),
        "http://127.0.0.1:9090/api/v1/write",
    );
    let every = config::every(cx, r.every.as_ref(), format!("{field}.every"));
    let access = config::access(cx, config::access_of!(r), span.clone(), field);
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
        access: access?,
        native: r.native.unwrap_or(false),
    }))
}

impl Export for RemoteWrite {
    fn kind(&self) -> &'static str {
        "remote_write"
    }

    fn describe(&self) -> String {
        format!(
            "remote_write to {} every {}{}",
            config::shown(&self.url),
            humantime::format_duration(self.every),
            if self.native {
                " (native histograms)"
            } else {
                ""
            }
        )
    }

    fn build(&self, cx: &Build<'_>) -> anyhow::Result<Running> {
        let fixed = vec![
            (
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            ),
            (
                http::header::CONTENT_ENCODING,
                HeaderValue::from_static("snappy"),
            ),
            (
                HeaderName::from_static("x-prometheus-remote-write-version"),
                HeaderValue::from_static("0.1.0"),
            ),
        ];
        let target = push::receiver(cx.rt, &self.url, &self.access, fixed, false)?;
        // The healthcheck: an empty write the endpoint must take.
        let queue = push::Queue::start(cx.rt, target, Bytes::from(proto::body(&[])), self.every)?;
        let mut labels = vec![
            ("run_id".to_string(), cx.run_id.to_string()),
            ("scenario".to_string(), cx.scenario.to_string()),
        ];
        labels.extend(self.labels.iter().cloned());
        Ok(Running {
            stats: queue.stats(),
            sink: Box::new(PushSink {
                inner: ExpositionSink::new(cx.scenario, cx.names.to_vec(), Default::default()),
                labels,
                native: self
                    .native
                    .then(|| vec![ExpHist::default(); cx.names.len()]),
                names: cx.names.to_vec(),
                queue,
            }),
            keep: Box::new(()),
            end: None,
        })
    }
}

struct PushSink {
    inner: ExpositionSink,
    labels: Vec<(String, String)>,
    /// `native = true`: each request name's latency since the start.
    native: Option<Vec<ExpHist>>,
    names: Vec<String>,
    queue: push::Queue,
}

impl PushSink {
    fn batch(&self) -> Bytes {
        let now = unix_ms();
        let series_of = |name: &str, more: Vec<(String, String)>, value| {
            let mut labels: Vec<(String, String)> = vec![("__name__".into(), name.into())];
            labels.extend(self.labels.iter().cloned());
            labels.extend(more);
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            proto::Series {
                labels,
                value,
                timestamp_ms: now as i64,
            }
        };
        let mut series: Vec<proto::Series> = self
            .inner
            .samples()
            .into_iter()
            .map(|s| {
                let more = s
                    .labels
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect();
                series_of(s.name, more, proto::Value::Float(s.value))
            })
            .collect();
        for (n, h) in self.names.iter().zip(self.native.iter().flatten()) {
            let more = vec![("request".to_string(), n.clone())];
            series.push(series_of(
                "loadctl_latency_seconds",
                more,
                proto::Value::Histogram(h.clone()),
            ));
        }
        Bytes::from(proto::body(&series))
    }
}

impl IntervalSink for PushSink {
    fn interval(&mut self, f: &Final<'_>) {
        self.inner.take(f);
        if let Some(native) = &mut self.native {
            for (h, e) in native.iter_mut().zip(f.data.everything()) {
                h.add_micros(&e.latency);
            }
        }
        if self.queue.due() {
            self.queue.offer(self.batch());
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        // The last state, then the queue closes and the sender drains it (bounded wait).
        self.queue.offer(self.batch());
        self.queue.close();
        Ok(())
    }
}
