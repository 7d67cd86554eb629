//! Summary figures from measurements: a measured window's totals, latencies and generator
//! figures, and each endpoint's, in the schema's shape. A run and a merge of runs both
//! build their figures here, from the merged seconds, so the two cannot drift.

use std::collections::BTreeMap;

use super::schema::{EndpointSummary, Totals};
use crate::metrics::series::SeriesRow;
use crate::metrics::{EndpointData, ErrorKind, Figures, IntervalData, LatencyStats};

/// What a summary says of a measured window, whoever measured it.
pub struct Measured {
    pub totals: Totals,
    pub outcomes: BTreeMap<String, u64>,
    pub latency_ms: LatencyStats,
    pub service_latency_ms: LatencyStats,
    pub phases_ms: BTreeMap<String, LatencyStats>,
    pub endpoints: Vec<EndpointSummary>,
    pub send_lag: LatencyStats,
    pub queue_wait_p99_ms: f64,
    pub peak_in_flight: u64,
    /// Dropped among the requests due (sent or dropped).
    pub dropped_ratio: f64,
}

/// The figures of the window `totals` holds (its seconds in `series`), `window_s` long;
/// `requests` are `(name, method, path)` in the order of `totals.endpoints`.
pub fn measured(
    totals: &IntervalData,
    series: &[SeriesRow],
    window_s: f64,
    requests: &[(&str, &str, &str)],
    outcome_names: &[String],
) -> Measured {
    let overall = totals.overall();
    let t = figures(&overall, window_s);
    let attempted = t.requests + t.dropped;
    let dropped_ratio = if attempted == 0 {
        0.0
    } else {
        t.dropped as f64 / attempted as f64
    };
    Measured {
        outcomes: outcome_counts(&overall, outcome_names),
        latency_ms: LatencyStats::of(&overall.latency),
        service_latency_ms: LatencyStats::of(&overall.service),
        phases_ms: super::connection::phases_ms(&overall),
        endpoints: requests
            .iter()
            .zip(&totals.endpoints)
            .map(|((name, method, path), e)| {
                endpoint_summary(name, method, path, e, window_s, outcome_names)
            })
            .collect(),
        send_lag: LatencyStats::of(&totals.send_lag),
        queue_wait_p99_ms: LatencyStats::of(&totals.queue_wait).p99,
        peak_in_flight: series.iter().map(|r| r.in_flight).max().unwrap_or(0),
        dropped_ratio,
        totals: t,
    }
}

/// Declared outcome counts by name (`names` by index).
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
        // The gRPC statuses are listed when they occurred: an HTTP run's summary keeps
        // its twelve kinds.
        errors_by_kind: ErrorKind::ALL
            .iter()
            .map(|k| (*k, e.counts.errors_of(*k)))
            .filter(|(k, n)| k.listed(*n))
            .map(|(k, n)| (k.name().to_string(), n))
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
