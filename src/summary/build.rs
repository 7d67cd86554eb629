//! Summary figures from measurements: an endpoint's counts and latencies over the
//! measured window, in the schema's shape.

use std::collections::BTreeMap;

use super::schema::{EndpointSummary, Totals};
use crate::metrics::{EndpointData, ErrorKind, Figures, LatencyStats};

/// Declared outcome counts by name (`names` by slot).
pub fn outcome_counts(e: &EndpointData, names: &[String]) -> BTreeMap<String, u64> {
    names
        .iter()
        .zip(&e.counts.outcomes)
        .map(|(n, c)| (n.clone(), *c))
        .collect()
}

/// Totals-style figures of one endpoint (or all merged) over a window of `window_s`.
pub fn figures(e: &EndpointData, window_s: f64) -> Totals {
    Totals::from(e.figures(window_s))
}

impl From<Figures> for Totals {
    fn from(f: Figures) -> Self {
        Totals {
            requests: f.requests,
            ok: f.ok,
            errors: f.errors,
            error_rate: f.error_rate,
            availability: f.availability,
            rps: f.rps,
            dropped: f.dropped,
            bytes_received: f.bytes_received,
        }
    }
}

pub fn endpoint_summary(
    name: &str,
    method: &str,
    path: &str,
    e: &EndpointData,
    window_s: f64,
    outcome_names: &[String],
) -> EndpointSummary {
    let f = figures(e, window_s);
    EndpointSummary {
        name: name.into(),
        method: method.into(),
        path: path.into(),
        requests: f.requests,
        ok: f.ok,
        errors: f.errors,
        error_rate: f.error_rate,
        availability: f.availability,
        rps: f.rps,
        dropped: f.dropped,
        bytes_received: f.bytes_received,
        latency_ms: LatencyStats::of(&e.latency),
        service_latency_ms: LatencyStats::of(&e.service),
        status_codes: e
            .counts
            .status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
        errors_by_kind: ErrorKind::ALL
            .iter()
            .map(|k| (k.name().to_string(), e.counts.errors_of(*k)))
            .collect(),
        outcomes: outcome_counts(e, outcome_names),
        skipped: e.counts.skipped,
        request_invalid: e.counts.invalid,
        unsent: e.counts.unsent,
        phases_ms: super::connection::phases_ms(e),
        connections: Some(super::connection::ConnSummary::of(&e.counts.conn))
            .filter(|c| !c.is_empty()),
    }
}
