//! `summary.json`'s `exports[]`: what each live exporter (`[[export]]`,
//! `--metrics-listen`, `--dashboard`) delivered, and what it could not: a receiver that
//! went away mid-run is shown here, never as a failure of the load.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSummary {
    /// As a scenario writes it: `remote_write`.
    pub kind: String,
    /// Where it went: `remote_write to http://…/api/v1/write every 5s`.
    pub to: String,
    /// Batches (pages served, events) delivered.
    pub sent: u64,
    /// Attempts made again after a failure that may pass later.
    pub retried: u64,
    /// Batches given up on.
    pub failed: u64,
    /// Batches never sent: the queue to the network was full.
    pub dropped: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl ExportSummary {
    /// Whether anything was lost.
    pub fn lost(&self) -> bool {
        self.failed > 0 || self.dropped > 0
    }
}
