//! The per-second time series: what one thread reports each second, and each final
//! second's figures per endpoint and overall.

use super::{ms, percentile_ms, IntervalData};

/// One thread's interval. `idx` counts seconds from the start of the measured window.
#[derive(Debug)]
pub struct IntervalReport {
    pub thread: usize,
    pub idx: i64,
    pub data: IntervalData,
}

/// Per-second figures of one endpoint (or all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct RowStats {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub dropped: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl RowStats {
    pub(super) fn of(e: &super::EndpointData) -> RowStats {
        RowStats {
            requests: e.counts.requests(),
            ok: e.counts.ok,
            errors: e.counts.error_count(),
            dropped: e.counts.dropped,
            p50_ms: percentile_ms(&e.latency, 50.0),
            p95_ms: percentile_ms(&e.latency, 95.0),
            p99_ms: percentile_ms(&e.latency, 99.0),
            max_ms: (!e.latency.is_empty()).then(|| ms(e.latency.max())),
        }
    }
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow {
    pub idx: i64,
    pub all: RowStats,
    pub endpoints: Vec<RowStats>,
    pub in_flight: u64,
    pub send_lag_p99_ms: Option<f64>,
    /// Errors of all endpoints by kind (index: `ErrorKind as usize`).
    pub errors_by_kind: [u64; super::ERROR_KINDS],
}
