//! `faults.csv`: one row per fault and stretch (before, during, after its window), with
//! the fault's recovery, for a spreadsheet or a dashboard. Written when the run injected
//! faults.

use std::path::Path;

use super::exporter::Exporter;
use super::ReportInput;
use crate::files::write_atomic;
use crate::summary::Summary;

pub struct FaultsCsv;

impl Exporter for FaultsCsv {
    fn file(&self) -> &'static str {
        "faults.csv"
    }

    fn applies(&self, s: &Summary) -> bool {
        s.kube.as_ref().is_some_and(|k| !k.faults.is_empty())
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        let Some(k) = &input.summary.kube else {
            return Ok(());
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "fault",
            "action",
            "stretch",
            "start_s",
            "end_s",
            "requests",
            "availability",
            "p50_ms",
            "p99_ms",
            "rps",
            "recovery_s",
        ])?;
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        for f in &k.faults {
            for (label, st) in [
                ("before", &f.before),
                ("during", &f.during),
                ("after", &f.after),
            ] {
                let Some(st) = st else { continue };
                w.write_record([
                    f.name.clone(),
                    f.action.clone(),
                    label.to_string(),
                    format!("{:.3}", st.start_s),
                    format!("{:.3}", st.end_s),
                    st.requests.to_string(),
                    opt(st.availability),
                    opt(st.p50_ms),
                    opt(st.p99_ms),
                    format!("{:.3}", st.rps),
                    opt(f.recovery_s),
                ])?;
            }
        }
        write_atomic(&dir.join("faults.csv"), &w.into_inner()?)
    }
}
