//! Everything a run leaves behind for a person or a CI job: `summary.json`,
//! `summary.csv`, `timeseries.csv`, `replicas.csv`, `junit.xml`, `report.html` (one
//! exporter each, registered in [`EXPORTERS`]), the console summary, the baseline
//! comparison tables and the live progress line. Every format renders every part of the
//! summary it shows, Kubernetes included, in its own file; none defines schema.
//!
//! Every file is written to a temporary name in the output folder and renamed into place,
//! so a reader never sees half a file, even after Ctrl-C.

pub mod balance;
pub mod capacity;
pub mod compare;
pub mod console;
pub mod csv;
pub mod describe;
pub mod escape;
pub mod exporter;
pub mod faults_csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod progress;
pub mod trend;

use std::path::Path;

pub use crate::summary::{Status, Summary};
pub use escape::esc;
pub use exporter::{Exporter, ReportInput};
pub use json::write_summary;

/// Every post-run file, in the order they are written. A new format is a file of this
/// folder implementing [`Exporter`] and one line here.
pub const EXPORTERS: &[&dyn Exporter] = &[
    &json::SummaryJson,
    &csv::SummaryCsv,
    &csv::Timeseries,
    &csv::Replicas,
    &faults_csv::FaultsCsv,
    &balance::BalanceCsv,
    &junit::Junit,
    &html::Html,
];

/// Writes every report of a run.
pub fn write_all(dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
    write_each(dir, input, |_| true)
}

/// Writes every report derived from `summary.json` and `histograms.hlog` (all but
/// `summary.json` itself).
pub fn write_derived(dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
    write_each(dir, input, |e| e.derived())
}

fn write_each(
    dir: &Path,
    input: &ReportInput<'_>,
    pick: impl Fn(&dyn Exporter) -> bool,
) -> anyhow::Result<()> {
    for e in EXPORTERS.iter().copied() {
        if pick(e) && e.applies(input.summary) {
            e.write(dir, input)?;
        }
    }
    Ok(())
}

/// A run folder as saved: its summary and the figures rebuilt from its interval log.
pub struct SavedRun {
    pub summary: Summary,
    pub series: Vec<crate::metrics::aggregate::SeriesRow>,
    pub planned: crate::metrics::hlog::Planned,
    pub totals: crate::metrics::IntervalData,
}

/// Reads and checks `dir/summary.json` and `dir/histograms.hlog` and rebuilds the run's
/// figures, writing nothing: a folder that is not a run, or a damaged one, is refused here.
pub fn load_run(dir: &Path) -> anyhow::Result<SavedRun> {
    use crate::metrics::aggregate::{Aggregator, IntervalReport};
    use crate::metrics::IntervalData;
    let summary = crate::summary::load_summary(dir)?;
    let names: Vec<String> = summary.endpoints.iter().map(|e| e.name.clone()).collect();
    let log = crate::metrics::hlog::read(&dir.join("histograms.hlog"), &names)?;
    if log.intervals.is_empty() && summary.totals.requests > 0 {
        anyhow::bail!(
            "{} holds no interval, but summary.json counts {} requests: the log is damaged; re-run the scenario",
            dir.join("histograms.hlog").display(),
            summary.totals.requests
        );
    }
    let mut agg = Aggregator::new(names.len(), 1);
    let mut ignore = |_: i64, _: &IntervalData| {};
    for (idx, data) in log.intervals {
        agg.add(
            IntervalReport {
                thread: 0,
                idx,
                data,
            },
            &mut ignore,
        );
    }
    let (totals, series) = agg.finish(&mut ignore);
    Ok(SavedRun {
        summary,
        series,
        planned: log.planned,
        totals,
    })
}

/// Writes every report derived from a saved run again.
pub fn write_run(dir: &Path, run: &SavedRun) -> anyhow::Result<()> {
    write_derived(
        dir,
        &ReportInput {
            summary: &run.summary,
            series: &run.series,
            planned: &run.planned,
            totals: &run.totals,
        },
    )
}

/// Rebuilds a run's figures from `dir/summary.json` and `dir/histograms.hlog` and writes
/// every derived report again (`loadctl report DIR`). Returns the summary.
pub fn rerender(dir: &Path) -> anyhow::Result<Summary> {
    let run = load_run(dir)?;
    write_run(dir, &run)?;
    Ok(run.summary)
}
