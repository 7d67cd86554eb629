//! `otlp`: pushes the run's live figures as OpenTelemetry metrics (OTLP over HTTP with
//! protobuf, or over gRPC) to a collector, Grafana Alloy, or any backend that takes OTLP,
//! every `every`.
//!
//! ```toml
//! [[export]]
//! kind = "otlp"
//! endpoint = "http://127.0.0.1:4318"   # http/protobuf: /v1/metrics is added to a bare origin
//! protocol = "http/protobuf"           # or "grpc" (endpoint http://127.0.0.1:4317)
//! temporality = "cumulative"           # or "delta"
//! every = "5s"
//! attributes = { "deployment.environment" = "ci" }
//! headers = { "X-Scope-OrgID" = "perf" }
//! bearer_env = "OTLP_TOKEN"
//! ```
//!
//! Metrics, each with the attribute `request` (and `kind` for errors): `loadctl.requests`,
//! `loadctl.ok`, `loadctl.dropped`, `loadctl.errors` (monotonic sums), `loadctl.latency`
//! (an exponential histogram, seconds), `loadctl.in_flight` and `loadctl.send_lag.p99`
//! (gauges). The resource says `service.name = "loadctl"`, `loadctl.run_id`,
//! `loadctl.scenario`. `build()` exports an empty request first: an endpoint that does not
//! take it stops the run before any load (exit 2). Sending goes through the same bounded
//! queue and retries as `remote_write`.

mod figures;
mod proto;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderValue;
use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::{config, push, Build, Export, Running};
use crate::diag::Ctx;
use crate::metrics::sink::{Final, IntervalSink};
use crate::metrics::ErrorKind;
use figures::Figures;
use proto::{Data, Span, Temporality, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    endpoint: Option<Spanned<String>>,
    protocol: Option<Spanned<String>>,
    temporality: Option<Spanned<String>>,
    every: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    #[serde(default)]
    attributes: IndexMap<String, Spanned<String>>,
    #[serde(default)]
    headers: IndexMap<String, Spanned<String>>,
    bearer_env: Option<Spanned<String>>,
    ca: Option<Spanned<String>>,
}

const MAX_ATTRIBUTES: usize = 16;
/// The path of OTLP/gRPC's metrics export.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

#[derive(Debug, Clone, PartialEq)]
pub struct Otlp {
    /// Where the requests go (for HTTP, `/v1/metrics` already added to a bare origin).
    pub url: url::Url,
    pub grpc: bool,
    pub temporality: Temporality,
    pub every: Duration,
    pub attributes: Vec<(String, String)>,
    /// Headers, token, CA, timeout.
    pub access: config::Access,
}

/// One of `allowed`, or an error naming them.
fn choice(
    cx: &mut Ctx<'_>,
    v: Option<&Spanned<String>>,
    field: String,
    allowed: &[&'static str],
) -> Option<&'static str> {
    let Some(v) = v else { return Some(allowed[0]) };
    let found = allowed
        .iter()
        .find(|a| **a == v.get_ref().as_str())
        .copied();
    if found.is_none() {
        let names: Vec<String> = allowed.iter().map(|a| format!("\"{a}\"")).collect();
        cx.err(
            v.span(),
            field,
            format!("`{}`: write one of {}", v.get_ref(), names.join(", ")),
        );
    }
    found
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Export>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let before = cx.count();
    let protocol = choice(
        cx,
        r.protocol.as_ref(),
        format!("{field}.protocol"),
        &["http/protobuf", "grpc"],
    );
    let temporality = choice(
        cx,
        r.temporality.as_ref(),
        format!("{field}.temporality"),
        &["cumulative", "delta"],
    );
    let grpc = protocol == Some("grpc");
    let example = if grpc {
        "http://127.0.0.1:4317"
    } else {
        "http://127.0.0.1:4318"
    };
    let url = config::url(
        cx,
        r.endpoint.as_ref(),
        span.clone(),
        format!("{field}.endpoint"),
        example,
    );
    let every = config::every(cx, r.every.as_ref(), format!("{field}.every"));
    if r.attributes.len() > MAX_ATTRIBUTES {
        cx.err(
            span.clone(),
            format!("{field}.attributes"),
            format!("at most {MAX_ATTRIBUTES} attributes"),
        );
    }
    for (k, v) in &r.attributes {
        if k.is_empty()
            || k.len() > 255
            || ["service.name", "loadctl.run_id", "loadctl.scenario"].contains(&k.as_str())
        {
            cx.err(
                v.span(),
                format!("{field}.attributes.{k}"),
                "an attribute name of 1 to 255 characters, not one loadctl sets (service.name, loadctl.run_id, loadctl.scenario)",
            );
        }
    }
    let access = config::access(cx, config::access_of!(r), span.clone(), field);
    if cx.count() != before {
        return None;
    }
    let mut url = url?;
    if grpc {
        url.set_path(GRPC_PATH);
    } else if url.path().is_empty() || url.path() == "/" {
        url.set_path("/v1/metrics");
    }
    Some(Arc::new(Otlp {
        url,
        grpc,
        temporality: if temporality? == "delta" {
            Temporality::Delta
        } else {
            Temporality::Cumulative
        },
        every: every?,
        attributes: r
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().clone()))
            .collect(),
        access: access?,
    }))
}

impl Export for Otlp {
    fn kind(&self) -> &'static str {
        "otlp"
    }

    fn describe(&self) -> String {
        format!(
            "otlp ({}, {}) to {} every {}",
            if self.grpc { "grpc" } else { "http/protobuf" },
            match self.temporality {
                Temporality::Delta => "delta",
                Temporality::Cumulative => "cumulative",
            },
            config::shown(&self.url),
            humantime::format_duration(self.every)
        )
    }

    fn build(&self, cx: &Build<'_>) -> anyhow::Result<Running> {
        let fixed = if self.grpc {
            Vec::new()
        } else {
            vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            )]
        };
        let target = push::receiver(cx.rt, &self.url, &self.access, fixed, self.grpc)?;
        // The healthcheck: a request with no metrics, which a receiver must take.
        let queue = push::Queue::start(cx.rt, target, Bytes::new(), self.every)?;
        let mut resource = vec![
            ("service.name".to_string(), "loadctl".to_string()),
            ("loadctl.run_id".to_string(), cx.run_id.to_string()),
            ("loadctl.scenario".to_string(), cx.scenario.to_string()),
        ];
        resource.extend(self.attributes.iter().cloned());
        let now = unix_ns(SystemTime::now());
        Ok(Running {
            stats: queue.stats(),
            sink: Box::new(OtlpSink {
                names: cx.names.to_vec(),
                total: vec![Figures::default(); cx.names.len()],
                since: vec![Figures::default(); cx.names.len()],
                start_ns: now,
                last_ns: now,
                in_flight: 0,
                send_lag_s: 0.0,
                temporality: self.temporality,
                resource,
                queue,
            }),
            keep: Box::new(()),
            end: None,
        })
    }
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

struct OtlpSink {
    names: Vec<String>,
    /// Since the run's start (cumulative) and since the last export (delta).
    total: Vec<Figures>,
    since: Vec<Figures>,
    start_ns: u64,
    last_ns: u64,
    in_flight: u64,
    send_lag_s: f64,
    temporality: Temporality,
    resource: Vec<(String, String)>,
    queue: push::Queue,
}

impl OtlpSink {
    /// The request of the figures now; a delta export empties what it reported.
    fn batch(&mut self) -> Bytes {
        let now = unix_ns(SystemTime::now());
        let (figs, start) = match self.temporality {
            Temporality::Cumulative => (&self.total, self.start_ns),
            Temporality::Delta => (&self.since, self.last_ns),
        };
        let span = Span {
            start_ns: start,
            time_ns: now,
        };
        let t = self.temporality;
        let sum = |get: &dyn Fn(&Figures) -> u64| {
            let points = self
                .names
                .iter()
                .zip(figs)
                .map(|(n, f)| proto::number(&[("request", n)], span, Value::Int(get(f) as i64)))
                .collect();
            Data::Sum(t, points)
        };
        let mut metrics = vec![
            proto::metric(
                "loadctl.requests",
                "Completed requests (ok, declared outcomes and errors).",
                "{request}",
                sum(&|f| f.requests),
            ),
            proto::metric(
                "loadctl.ok",
                "Requests answered as expected.",
                "{request}",
                sum(&|f| f.ok),
            ),
            proto::metric(
                "loadctl.dropped",
                "Requests due while max_in_flight were outstanding: never sent.",
                "{request}",
                sum(&|f| f.dropped),
            ),
        ];
        // Error kinds the run has met so far (all of them would be mostly zeros).
        let mut errors = Vec::new();
        for &k in ErrorKind::ALL {
            let i = k as usize;
            for (j, n) in self.names.iter().enumerate() {
                if self.total[j].errors[i] > 0 {
                    let v = figs[j].errors[i] as i64;
                    errors.push(proto::number(
                        &[("request", n), ("kind", k.name())],
                        span,
                        Value::Int(v),
                    ));
                }
            }
        }
        if !errors.is_empty() {
            metrics.push(proto::metric(
                "loadctl.errors",
                "Failed requests by kind.",
                "{request}",
                Data::Sum(t, errors),
            ));
        }
        let hist = self
            .names
            .iter()
            .zip(figs)
            .map(|(n, f)| proto::exp_point(&[("request", n)], span, &f.latency))
            .collect();
        metrics.push(proto::metric(
            "loadctl.latency",
            "Latency from the intended start (open model) or the send.",
            "s",
            Data::ExpHistogram(t, hist),
        ));
        let gauge = |v: Value| Data::Gauge(vec![proto::number(&[], span, v)]);
        metrics.push(proto::metric(
            "loadctl.in_flight",
            "Requests due and not complete at the last second.",
            "{request}",
            gauge(Value::Int(self.in_flight as i64)),
        ));
        metrics.push(proto::metric(
            "loadctl.send_lag.p99",
            "The generator's own lateness, p99 of the last second.",
            "s",
            gauge(Value::Double(self.send_lag_s)),
        ));
        let body = proto::request(&self.resource, &metrics);
        if self.temporality == Temporality::Delta {
            self.since.iter_mut().for_each(|f| *f = Figures::default());
        }
        self.last_ns = now;
        Bytes::from(body)
    }
}

impl IntervalSink for OtlpSink {
    fn interval(&mut self, f: &Final<'_>) {
        for ((t, s), e) in self
            .total
            .iter_mut()
            .zip(self.since.iter_mut())
            .zip(f.data.everything())
        {
            t.add(&e);
            s.add(&e);
        }
        self.in_flight = f.data.in_flight;
        self.send_lag_s = f.row.send_lag_p99_ms.unwrap_or(0.0) / 1000.0;
        if self.queue.due() {
            let b = self.batch();
            self.queue.offer(b);
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        let b = self.batch();
        self.queue.offer(b);
        self.queue.close();
        Ok(())
    }
}
