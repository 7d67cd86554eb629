//! The exporter seam: one implementation per post-run file, registered in
//! [`super::EXPORTERS`]. A run writes them all at its end; `loadctl report DIR` writes the
//! derived ones again from the saved `summary.json` and `histograms.hlog`.

use std::path::Path;

use crate::metrics::aggregate::SeriesRow;
use crate::metrics::hlog::Planned;
use crate::metrics::IntervalData;
use crate::summary::Summary;

/// Everything a report can be made from.
pub struct ReportInput<'a> {
    pub summary: &'a Summary,
    /// One row per second of the run, warmup included.
    pub series: &'a [SeriesRow],
    /// Open model: what the schedule planned per second.
    pub planned: &'a Planned,
    /// The measured window's merged histograms and counters.
    pub totals: &'a IntervalData,
}

/// One output file.
pub trait Exporter: Sync {
    /// The file's name in the output folder.
    fn file(&self) -> &'static str;

    /// Whether the run has anything for this file (`replicas.csv` needs a `[kube]` run).
    fn applies(&self, _summary: &Summary) -> bool {
        true
    }

    /// Whether `loadctl report` rebuilds it: everything but `summary.json`, its source.
    fn derived(&self) -> bool {
        true
    }

    /// Writes the file atomically (`crate::files::write_atomic`).
    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()>;
}
