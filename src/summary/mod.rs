//! The summary model: the `summary.json` schema types that every report renders, how its
//! figures are built from measurements, and the baseline comparison. Renderers live in
//! `report/`; nothing here formats for a person.

pub mod balance;
pub mod build;
pub mod capacity;
pub mod compare;
pub mod comparison;
pub mod connection;
pub mod distributed;
pub mod exports;
pub mod kube;
pub mod prometheus;
pub mod schema;

use std::path::Path;

use anyhow::Context;

pub use build::{endpoint_summary, figures, outcome_counts};
pub use comparison::{Comparison, Row};
pub use schema::{
    EndpointSummary, GeneratorSummary, LoadSummary, Status, Summary, Totals, WsSummary,
    SCHEMA_VERSION,
};

/// Reads a run folder's `summary.json`.
pub fn load_summary(dir: &Path) -> anyhow::Result<Summary> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a loadctl run folder?)",
            path.display(),
            dir.display()
        )
    })?;
    let version = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("schema_version").and_then(serde_json::Value::as_u64));
    if let Some(v) = version.filter(|v| *v != u64::from(SCHEMA_VERSION)) {
        anyhow::bail!(
            "{} has schema_version {v}; this loadctl reads schema_version {SCHEMA_VERSION} (README, \"summary.json\")",
            path.display()
        );
    }
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a loadctl summary (schema_version {SCHEMA_VERSION})",
            path.display()
        )
    })
}
