//! `summary.json`, the run's versioned machine-readable result (schema: `crate::summary`).

use std::path::Path;

use anyhow::Context;

use super::exporter::{Exporter, ReportInput};
use crate::files::write_atomic;
use crate::summary::Summary;

/// Writes `summary.json`.
pub fn write_summary(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    let mut json = serde_json::to_vec_pretty(s).context("cannot serialise summary.json")?;
    json.push(b'\n');
    write_atomic(&dir.join("summary.json"), &json)
}

/// `summary.json`: the source the derived reports are re-rendered from.
pub struct SummaryJson;

impl Exporter for SummaryJson {
    fn file(&self) -> &'static str {
        "summary.json"
    }

    fn derived(&self) -> bool {
        false
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        write_summary(dir, input.summary)
    }
}
