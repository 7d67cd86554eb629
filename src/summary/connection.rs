//! The summary's view of how requests reached the target: each request's time in phases
//! (`phases_ms`, only the phases that occurred), the connections opened and resumed, HTTP/2
//! streams refused, TLS failures by reason, and the run's protocol (`transport`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::connection::{ConnCounts, Phase, ProtocolReason, RetryCause, TlsReason};
use crate::metrics::{EndpointData, LatencyStats};

/// The protocol a run spoke, and what its connections cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransportSummary {
    /// `1.1`, `2` or `h2c`.
    pub http: String,
    /// The target was reached over TLS.
    pub tls: bool,
    /// `[tls] insecure = true`: certificates were not verified.
    #[serde(default, skip_serializing_if = "is_false")]
    pub insecure: bool,
    /// `[http] keep_alive = false`: a new connection per request.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_keep_alive: bool,
    /// `[http] max_requests_per_connection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_connection: Option<u32>,
    /// `[http] max_connection_age`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connection_age_s: Option<f64>,
    pub connections: ConnSummary,
}

/// Connections of one request name, or of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnSummary {
    /// Connections opened (each one's handshake is in the `connect`/`tls` phases).
    pub opened: u64,
    /// Of those, with a resumed TLS session.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub resumed: u64,
    /// Connections closed on purpose (`[http] max_requests_per_connection`,
    /// `max_connection_age`) and replaced.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rotated: u64,
    /// HTTP/2 streams the server refused unprocessed, and sent again.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused_streams: u64,
    /// Failed TLS handshakes by reason (`unknown_issuer`, `expired`, `name_mismatch`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tls_errors: BTreeMap<String, u64>,
    /// Requests sent a second time, by cause (`stale_keepalive`, `refused_stream`,
    /// `goaway`): what `[http] retry` allowed, each one counted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub retried: BTreeMap<String, u64>,
    /// `protocol` errors with a known reason (`no_streams`, `control_flood`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protocol_errors: BTreeMap<String, u64>,
    /// gRPC messages sent and received (every message of a stream counted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grpc_messages_sent: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub grpc_messages_received: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ConnSummary {
    pub fn of(c: &ConnCounts) -> Self {
        ConnSummary {
            opened: c.opened,
            resumed: c.resumed,
            rotated: c.rotated,
            refused_streams: c.refused,
            tls_errors: TlsReason::ALL
                .iter()
                .filter(|r| c.tls[**r as usize] > 0)
                .map(|r| (r.name().to_string(), c.tls[*r as usize]))
                .collect(),
            retried: RetryCause::ALL
                .iter()
                .filter(|r| c.retried[**r as usize] > 0)
                .map(|r| (r.name().to_string(), c.retried[*r as usize]))
                .collect(),
            protocol_errors: ProtocolReason::ALL
                .iter()
                .filter(|r| c.protocol[**r as usize] > 0)
                .map(|r| (r.name().to_string(), c.protocol[*r as usize]))
                .collect(),
            grpc_messages_sent: c.messages[0],
            grpc_messages_received: c.messages[1],
        }
    }

    /// Requests sent twice, whatever the cause.
    pub fn retries(&self) -> u64 {
        self.retried.values().sum()
    }

    /// `12 (stale_keepalive 10, refused_stream 2)`, or `None` when nothing was retried.
    pub fn retried_text(&self) -> Option<String> {
        let n = self.retries();
        (n > 0).then(|| {
            let causes: Vec<String> = self
                .retried
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            format!("{n} ({})", causes.join(", "))
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == ConnSummary::default()
    }
}

/// Latency statistics of each phase that occurred, by phase name in the order they happen.
pub fn phases_ms(e: &EndpointData) -> BTreeMap<String, LatencyStats> {
    Phase::ALL
        .iter()
        .filter_map(|p| Some((p.name().to_string(), LatencyStats::of(e.phase(*p)?))))
        .collect()
}
