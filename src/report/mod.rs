//! Everything a run leaves behind: `summary.json`, `summary.csv`, `timeseries.csv`,
//! `histograms.hlog`, `junit.xml`, `report.html`, the console summary and the live
//! progress line.
//!
//! Every file is written to a temporary name in the output folder and renamed into place,
//! so a reader (or a CI artifact upload) never sees half a file, even after Ctrl-C.

pub mod charts;
pub mod compare;
pub mod console;
pub mod csv;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod kube;
pub mod progress;
pub mod summary;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

pub use summary::{Status, Summary};

/// Writes `bytes` to `path` via a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = tmp_path(path);
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} into place", path.display()))
}

/// `dir/name` → `dir/.name.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Escapes text for XML and HTML (element content and quoted attributes); drops control
/// characters that XML 1.0 cannot carry.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t') => {}
            c => o.push(c),
        }
    }
    o
}

/// Writes `summary.json`.
pub fn write_summary(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    let mut json = serde_json::to_vec_pretty(s).context("cannot serialise summary.json")?;
    json.push(b'\n');
    write_atomic(&dir.join("summary.json"), &json)
}

/// Writes every report derived from a run's figures: `summary.csv`, `timeseries.csv`,
/// `junit.xml` and `report.html`. `run` calls it at the end of a run, `loadctl report`
/// after rebuilding the figures from `summary.json` and `histograms.hlog`.
pub fn write_derived(
    dir: &Path,
    s: &Summary,
    series: &[crate::metrics::aggregate::SeriesRow],
    planned: &hlog::Planned,
    totals: &crate::metrics::IntervalData,
    extensions: html::Extensions,
) -> anyhow::Result<()> {
    let names: Vec<String> = s.endpoints.iter().map(|e| e.name.clone()).collect();
    csv::write_summary_csv(dir, s)?;
    csv::write_timeseries(dir, &names, series)?;
    if let Some(k) = &s.kube {
        kube::write_replicas_csv(dir, k)?;
    }
    junit::write(dir, s)?;
    let overall = totals.overall();
    html::write(
        dir,
        &html::ReportData {
            summary: s,
            series,
            planned,
            latency: &overall.latency,
            endpoint_latency: totals.endpoints.iter().map(|e| &e.latency).collect(),
            extensions,
        },
    )
}

/// Rebuilds a run's figures from `dir/summary.json` and `dir/histograms.hlog` and writes
/// every derived report again (`loadctl report DIR`). Returns the summary.
pub fn rerender(dir: &Path) -> anyhow::Result<Summary> {
    use crate::metrics::aggregate::{Aggregator, IntervalReport};
    let s = compare::load_summary(dir)?;
    let names: Vec<String> = s.endpoints.iter().map(|e| e.name.clone()).collect();
    let log = hlog::read(&dir.join("histograms.hlog"), &names)?;
    let mut agg = Aggregator::new(names.len(), 1);
    for (idx, data) in log.intervals {
        agg.add(
            IntervalReport {
                thread: 0,
                idx,
                data,
            },
            &mut |_, _| {},
        );
    }
    let (totals, series) = agg.finish(&mut |_, _| {});
    write_derived(
        dir,
        &s,
        &series,
        &log.planned,
        &totals,
        html::Extensions::default(),
    )?;
    Ok(s)
}
