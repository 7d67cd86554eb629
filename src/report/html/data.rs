//! What the page is made from: all of it is in `summary.json` and `histograms.hlog`.

use hdrhistogram::Histogram;

use crate::metrics::aggregate::SeriesRow;
use crate::metrics::hlog::Planned;
use crate::summary::Summary;

pub struct ReportData<'a> {
    pub summary: &'a Summary,
    pub series: &'a [SeriesRow],
    pub planned: &'a Planned,
    /// Latency of the measured window, all requests, and per request name.
    pub latency: &'a Histogram<u64>,
    pub endpoint_latency: Vec<&'a Histogram<u64>>,
}
