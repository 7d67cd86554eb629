//! The scenario file as written: the root serde struct, whose tables are the sections'
//! own raw structs (each beside its validator: `[http]`'s `RawHttp` in `net.rs`, `[load]`'s
//! `RawLoad` in `load.rs`, …), mirroring the TOML one to one.
//!
//! Everything is optional here and `deny_unknown_fields` everywhere, so that a misspelt key
//! is a parse error while a missing or out-of-range value is a validation error that can be
//! reported together with all the others. Values keep their spans for those messages.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use super::balance::RawBalance;
use super::capacity::RawCapacity;
use super::chat::RawChat;
use super::distributed::RawDistributed;
use super::flow::{RawCheckedRequest, RawFeeder, RawFlow};
use super::kube::RawKube;
use super::load::{RawGenerator, RawLoad};
use super::net::{RawHttp, RawTls};
use super::prometheus::RawPrometheus;
use super::request::RawRequest;
use super::target::RawEmbedded;

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
    pub balance: Option<RawBalance>,
    pub grpc: Option<crate::grpc::RawGrpc>,
}

/// The part of an `[[export]]` table every kind has; the rest is the kind's, read by its
/// module as its own struct (which denies unknown fields).
#[derive(Debug, Deserialize)]
pub struct RawExport {
    pub kind: Option<Spanned<String>>,
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
    pub balance: Option<Spanned<RawBalance>>,
    pub grpc: Option<Spanned<crate::grpc::RawGrpc>>,
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
            balance: self.balance.map(|v| at(v, text, "balance")),
            grpc: self.grpc.map(|v| at(v, text, "grpc")),
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

/// Regression tolerances for `--baseline` / `loadctl compare`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompare {
    pub p99: Option<Spanned<String>>,
    pub p95: Option<Spanned<String>>,
    pub rps: Option<Spanned<String>>,
    pub error_rate: Option<Spanned<String>>,
}
