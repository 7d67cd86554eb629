//! `report.html`: one self-contained page per run: CSS inlined, charts inlined as SVG
//! (drawn by `svg.rs`), a few lines of script for sortable tables, and no network access
//! of any kind, so it opens offline, as a CI artifact or attached to a mail.
//!
//! Top to bottom, in the order a reviewer asks: did it pass and why not (banner), what ran
//! (facts), the SLOs, the charts (with the replicas under the RPS chart when Kubernetes was
//! watched), where the time went (phases, connections, TLS), the Kubernetes section, chat delivery, verification, the per-request table,
//! the baseline comparison. Each part is a file of this folder.

mod agents;
mod balance;
pub mod capacity;
mod charts;
mod data;
mod kube;
mod page;
mod phases;
mod sections;
mod server;
pub mod svg;
pub mod trend;

use std::fmt::Write as _;
use std::path::Path;

pub use data::ReportData;

use super::exporter::{Exporter, ReportInput};
use crate::files::write_atomic;
use crate::report::escape::esc;

/// The page.
pub fn render(d: &ReportData<'_>) -> String {
    let s = d.summary;
    let mut o = String::with_capacity(256 * 1024);
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · {} · loadctl</title>
<style>{}{}</style></head><body><main>
"#,
        esc(&s.scenario),
        s.status.label(),
        page::CSS,
        crate::web::CHART_CSS
    );
    sections::banner(&mut o, s);
    sections::facts(&mut o, s);
    sections::slo_table(&mut o, s);
    charts::charts(&mut o, d);
    phases::section(&mut o, s);
    server::section(&mut o, d);
    agents::section(&mut o, s);
    if let Some(k) = &s.kube {
        kube::section(&mut o, k);
    }
    if let Some(b) = &s.balance {
        balance::section(&mut o, b);
    }
    sections::websocket(&mut o, s);
    sections::verification(&mut o, s);
    sections::endpoints(&mut o, s);
    sections::baseline(&mut o, s);
    let _ = write!(
        o,
        r#"<footer>loadctl {} · files beside this one: <code>summary.json</code>, <code>summary.csv</code>, <code>timeseries.csv</code>, <code>histograms.hlog</code>, <code>junit.xml</code> · <code>loadctl report DIR</code> re-renders them</footer>
</main><script>{}</script><script>{}</script></body></html>
"#,
        esc(&s.loadctl_version),
        crate::web::CHART_JS,
        page::SCRIPT
    );
    o
}

pub fn write(dir: &Path, d: &ReportData<'_>) -> anyhow::Result<()> {
    write_atomic(&dir.join("report.html"), render(d).as_bytes())
}

/// `report.html`.
pub struct Html;

impl Exporter for Html {
    fn file(&self) -> &'static str {
        "report.html"
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        let overall = input.totals.overall();
        write(
            dir,
            &ReportData {
                summary: input.summary,
                series: input.series,
                planned: input.planned,
                latency: &overall.latency,
                endpoint_latency: input.totals.endpoints.iter().map(|e| &e.latency).collect(),
            },
        )
    }
}
