//! `summary.json`'s `prometheus[]`: per `[[prometheus.scrape]]`, what the target itself
//! measured over the run's measured window beside what loadctl measured, and the gap
//! between the requests loadctl saw answered and those the server counted.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSummary {
    pub name: String,
    pub url: String,
    /// Scrapes made, and how many failed (the last failure's reason beside).
    pub scrapes: u64,
    pub errors: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Seconds between the scrapes that bracket the measured window.
    pub span_s: f64,
    /// The counter's increase over the span (resets handled), and per second.
    pub server_requests: Option<f64>,
    pub server_rps: Option<f64>,
    /// Percentiles from the histogram's bucket increases over the span, ms.
    pub server_latency_ms: Option<ServerLatency>,
    /// loadctl's view of the same window: requests answered (any status), per second, p99.
    pub client_answered: u64,
    pub client_rps: f64,
    pub client_p99_ms: f64,
    /// `(client_answered - server_requests) / client_answered`: loss or retries between
    /// them when far from 0 (the two windows differ by up to a scrape period).
    pub count_gap: Option<f64>,
    /// Per scrape interval: its middle (s from the measured window's start), rate, p99.
    pub series: Vec<ServerPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerLatency {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerPoint {
    pub t_s: f64,
    pub rps: Option<f64>,
    pub p99_ms: Option<f64>,
}
