//! The scenario file as written: serde structs that mirror the TOML one to one.
//!
//! Everything is optional here and `deny_unknown_fields` everywhere, so that a misspelt key
//! is a parse error while a missing or out-of-range value is a validation error that can be
//! reported together with all the others. Values keep their spans for those messages.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// The file as serde reads it. Tables that a sub-table header may create implicitly
/// (`[[flow.steps]]` without `[flow]`, `[[kube.expect]]` without `[kube]`) are read
/// without a span, which toml cannot give an implicit table; [`RawFile::located`] finds
/// their headers in the text instead.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub target: Option<Spanned<String>>,
    pub load: Option<RawLoad>,
    pub generator: Option<RawGenerator>,
    pub embedded: Option<RawEmbedded>,
    #[serde(default)]
    pub requests: Vec<Spanned<RawRequest>>,
    pub flow: Option<RawFlow>,
    #[serde(default)]
    pub feeders: Vec<Spanned<RawFeeder>>,
    #[serde(default)]
    pub setup: Vec<Spanned<RawCheckedRequest>>,
    #[serde(default)]
    pub verify: Vec<Spanned<RawCheckedRequest>>,
    /// `"p99" = "< 100ms"`, or a list of thresholds for a range: `[">= 45%", "<= 55%"]`.
    #[serde(default)]
    pub slo: IndexMap<String, Spanned<toml::Value>>,
    pub compare: Option<RawCompare>,
    pub chat: Option<RawChat>,
    pub kube: Option<RawKube>,
    pub http: Option<RawHttp>,
    pub tls: Option<RawTls>,
    pub capacity: Option<RawCapacity>,
    pub prometheus: Option<RawPrometheus>,
    pub distributed: Option<RawDistributed>,
    #[serde(default)]
    pub export: Vec<Spanned<RawExport>>,
}

/// The part of an `[[export]]` table every kind has; the rest is the kind's, read by its
/// module as its own struct (which denies unknown fields).
#[derive(Debug, Deserialize)]
pub struct RawExport {
    pub kind: Option<Spanned<String>>,
}

/// `[distributed]`: how a run over agents is judged, and `[distributed.kubernetes]`: the
/// Job `--kube-agents` creates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDistributed {
    pub start_tolerance: Option<Spanned<String>>,
    pub heartbeat_timeout: Option<Spanned<String>>,
    pub kubernetes: Option<RawAgentsJob>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentsJob {
    pub namespace: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    #[serde(default)]
    pub node_selector: IndexMap<String, Spanned<String>>,
    pub separate: Option<Spanned<bool>>,
    #[serde(default)]
    pub tolerations: Vec<Spanned<String>>,
    pub cpu: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
}

/// `[prometheus]`: `[[prometheus.scrape]]` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    #[serde(default)]
    pub scrape: Vec<Spanned<RawScrape>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrape {
    pub name: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
    pub requests: Option<Spanned<String>>,
    pub latency: Option<Spanned<String>>,
}

/// `[capacity]`: the search `loadctl capacity` runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub precision: Option<Spanned<String>>,
    pub step: Option<Spanned<String>>,
    pub settle: Option<Spanned<String>>,
    pub trials: Option<Spanned<i64>>,
    pub hold: Option<Spanned<String>>,
    pub require: Option<Spanned<String>>,
    pub hpa_stable: Option<Spanned<String>>,
    pub hpa_settle_max: Option<Spanned<String>>,
}

/// `[http]`: the protocol version and connection reuse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub version: Option<Spanned<toml::Value>>,
    pub max_streams: Option<Spanned<i64>>,
    pub keep_alive: Option<Spanned<bool>>,
    pub retry: Option<Spanned<String>>,
    pub retry_idle: Option<Spanned<String>>,
}

/// `[tls]`: verification and client identity; paths relative to the scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca: Option<Spanned<String>>,
    pub insecure: Option<Spanned<bool>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    pub server_name: Option<Spanned<String>>,
    pub resumption: Option<Spanned<bool>>,
}

/// The file with every table located: what validation reads.
#[derive(Debug)]
pub struct RawScenario {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub target: Option<Spanned<String>>,
    pub load: Option<Spanned<RawLoad>>,
    pub generator: Option<RawGenerator>,
    pub embedded: Option<RawEmbedded>,
    pub requests: Vec<Spanned<RawRequest>>,
    pub flow: Option<Spanned<RawFlow>>,
    pub feeders: Vec<Spanned<RawFeeder>>,
    pub setup: Vec<Spanned<RawCheckedRequest>>,
    pub verify: Vec<Spanned<RawCheckedRequest>>,
    /// `"p99" = "< 100ms"`, or a list of thresholds for a range: `[">= 45%", "<= 55%"]`.
    pub slo: IndexMap<String, Spanned<toml::Value>>,
    pub compare: Option<RawCompare>,
    pub chat: Option<Spanned<RawChat>>,
    pub kube: Option<Spanned<RawKube>>,
    pub http: Option<Spanned<RawHttp>>,
    pub tls: Option<Spanned<RawTls>>,
    pub capacity: Option<Spanned<RawCapacity>>,
    pub prometheus: Option<RawPrometheus>,
    pub distributed: Option<Spanned<RawDistributed>>,
    pub export: Vec<Spanned<RawExport>>,
}

impl RawFile {
    /// Gives each table the span of its first header (or key) in `text`.
    pub fn located(self, text: &str) -> RawScenario {
        fn at<T>(v: T, text: &str, name: &str) -> Spanned<T> {
            Spanned::new(table_span(text, name), v)
        }
        RawScenario {
            name: self.name,
            description: self.description,
            target: self.target,
            load: self.load.map(|v| at(v, text, "load")),
            generator: self.generator,
            embedded: self.embedded,
            requests: self.requests,
            flow: self.flow.map(|v| at(v, text, "flow")),
            feeders: self.feeders,
            setup: self.setup,
            verify: self.verify,
            slo: self.slo,
            compare: self.compare,
            chat: self.chat.map(|v| at(v, text, "chat")),
            kube: self.kube.map(|v| at(v, text, "kube")),
            http: self.http.map(|v| at(v, text, "http")),
            tls: self.tls.map(|v| at(v, text, "tls")),
            capacity: self.capacity.map(|v| at(v, text, "capacity")),
            prometheus: self.prometheus,
            distributed: self.distributed.map(|v| at(v, text, "distributed")),
            export: self.export,
        }
    }
}

/// Where table `name` first appears: its `[name]` header, a `[name.sub]` or `[[name.sub]]`
/// header, or a `name = { … }` key; the start of the file if none is found.
fn table_span(text: &str, name: &str) -> std::ops::Range<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let l = line.trim_start();
        let indent = line.len() - l.len();
        let header = l.trim_start_matches('[').trim_start();
        let is_header = l.starts_with('[')
            && header.starts_with(name)
            && header[name.len()..].trim_start().starts_with([']', '.']);
        let is_key = l.starts_with(name) && l[name.len()..].trim_start().starts_with('=');
        if is_header || is_key {
            let start = offset + indent;
            return start..start + l.trim_end().len();
        }
        offset += line.len();
    }
    0..0
}

/// What to watch in a Kubernetes cluster during the run, what to expect of it, and which
/// faults to inject.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKube {
    pub namespace: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    #[serde(default)]
    pub expect: Vec<Spanned<RawExpect>>,
    #[serde(default)]
    pub fault: Vec<Spanned<RawFault>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub hpa: Option<Spanned<String>>,
    pub replicas_at_least: Option<Spanned<i64>>,
    pub within: Option<Spanned<String>>,
    /// `decision` (HPA desiredReplicas, the default) or `capacity` (Deployment readyReplicas).
    pub basis: Option<Spanned<String>>,
    pub never_limited: Option<Spanned<bool>>,
}

/// The part of a `[[kube.fault]]` table every kind has. The rest belongs to the kind
/// `action` names: its module reads the whole table again as its own struct (which denies
/// unknown fields), so this view alone lets the others pass.
#[derive(Debug, Deserialize)]
pub struct RawFault {
    pub at: Option<Spanned<String>>,
    pub action: Option<Spanned<String>>,
}

/// Chat fan-out over WebSocket: who joins which group, who publishes how often.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChat {
    pub groups: Option<Spanned<i64>>,
    pub members: Option<Spanned<i64>>,
    pub publish_rate: Option<Spanned<f64>>,
    pub payload: Option<Spanned<i64>>,
    pub path: Option<Spanned<String>>,
    pub grace: Option<Spanned<String>>,
    /// `Sec-WebSocket-Protocol` to offer.
    pub subprotocol: Option<Spanned<String>>,
    /// Upgrade request headers (templates).
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    /// The server's protocol; absent: the reference gateway's.
    pub protocol: Option<RawChatProtocol>,
}

/// `[chat.protocol]`: the frames a chat server expects and sends.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChatProtocol {
    pub join: Option<Spanned<String>>,
    pub joined: Option<Spanned<RawJoined>>,
    pub publish: Option<Spanned<String>>,
    pub heartbeat: Option<Spanned<RawHeartbeat>>,
    /// `text` (default) or `binary`.
    pub frame: Option<Spanned<String>>,
}

/// How the join's acknowledgement is recognised.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJoined {
    pub json: Option<Spanned<String>>,
    pub equals: Option<toml::Value>,
    pub regex: Option<Spanned<String>>,
}

/// An application-level keepalive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeartbeat {
    pub frame: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
}

/// An iteration as ordered steps (instead of weighted `[[requests]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    /// Open model: virtual users whose state persists across iterations.
    pub sessions: Option<Spanned<i64>>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawRequest>>,
}

/// CSV rows bound to variables named after the columns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeeder {
    pub name: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub on_exhausted: Option<Spanned<String>>,
}

/// A request sent once, before (`[[setup]]`) or after (`[[verify]]`) the load, with
/// checks on its JSON answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckedRequest {
    pub name: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    pub body: Option<Spanned<toml::Value>>,
    pub expect_status: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub checks: Vec<Spanned<String>>,
}

/// Where an extracted value comes from: exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtract {
    pub json: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
}

/// Regression tolerances for `--baseline` / `loadctl compare`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompare {
    pub p99: Option<Spanned<String>>,
    pub p95: Option<Spanned<String>>,
    pub rps: Option<Spanned<String>>,
    pub error_rate: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub model: Option<Spanned<String>>,
    pub rate: Option<Spanned<f64>>,
    pub stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    pub start_rate: Option<Spanned<f64>>,
    pub connections: Option<Spanned<i64>>,
    pub max_in_flight: Option<Spanned<i64>>,
    pub vus: Option<Spanned<i64>>,
    pub think_time: Option<Spanned<String>>,
    pub iterations: Option<Spanned<i64>>,
    pub duration: Option<Spanned<String>>,
    pub warmup: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    /// Connections model: new connections per second.
    pub connect_rate: Option<Spanned<f64>>,
    /// Connections model: how long every connection is held once the ramp is done.
    pub hold: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: Option<Spanned<String>>,
    pub target: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenerator {
    pub threads: Option<Spanned<i64>>,
    pub max_dropped: Option<Spanned<String>>,
    pub max_send_lag_p99: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmbedded {
    pub service: Option<Spanned<String>>,
    pub latency: Option<Spanned<String>>,
    pub error_rate: Option<Spanned<String>>,
    /// Requests per second the service holds, as one FIFO server.
    pub capacity: Option<Spanned<f64>>,
    pub stall: Option<Spanned<String>>,
    pub stall_every: Option<Spanned<String>>,
    pub items: Option<Spanned<i64>>,
    pub stock: Option<Spanned<i64>>,
    pub unsafe_stock: Option<bool>,
    pub rate_limits: Option<bool>,
    pub max_connections: Option<Spanned<i64>>,
    pub drop_rate: Option<Spanned<String>>,
    pub relay_latency: Option<Spanned<String>>,
    /// flash-sale: run it under a simulated control plane that `[kube]` then watches.
    pub simulate_cluster: Option<bool>,
    pub time_scale: Option<Spanned<f64>>,
    pub replica_capacity: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    pub body: Option<Spanned<toml::Value>>,
    pub weight: Option<Spanned<f64>>,
    pub expect_status: Option<Spanned<toml::Value>>,
    /// Named answers that are neither success nor error (`sold_out = 409`).
    #[serde(default)]
    pub outcomes: IndexMap<String, Spanned<toml::Value>>,
    /// JSON pointer → value the body of an expected answer must hold.
    #[serde(default)]
    pub check: IndexMap<String, Spanned<toml::Value>>,
    /// Flow steps: variable → where to take it from in the response.
    #[serde(default)]
    pub extract: IndexMap<String, Spanned<RawExtract>>,
    /// Flow steps: run once per session (log in once, order many times).
    pub once: Option<Spanned<bool>>,
}
