//! `[balance]` in the reports: the console's backend table (shares, ratios to a fair
//! share, latency, errors, new replicas, the affinity check) and `balance.csv`, one row
//! per backend. The HTML's share chart is `html/balance.rs`.

use std::fmt::Write as _;
use std::path::Path;

use super::exporter::Exporter;
use super::ReportInput;
use crate::files::write_atomic;
use crate::summary::balance::BalanceSummary;
use crate::summary::Summary;

/// Backends listed in the console; the rest are summed on one line (all are in the CSV).
const CONSOLE_ROWS: usize = 24;

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.digits$}"))
}

/// The console's section.
pub fn console(o: &mut String, b: &BalanceSummary) {
    let _ = writeln!(
        o,
        "\n  backends  ({}; fair share over {})",
        b.source, b.fair_over
    );
    for n in &b.notes {
        let _ = writeln!(o, "  ! {n}");
    }
    if !b.known {
        return;
    }
    let _ = writeln!(
        o,
        "  imbalance {} (busiest over fair) · cv {} · per second p50 {} max {}",
        opt(b.imbalance, 2),
        opt(b.cv, 2),
        opt(b.imbalance_per_second.map(|p| p.p50), 2),
        opt(b.imbalance_per_second.map(|p| p.max), 2),
    );
    let _ = writeln!(
        o,
        "  {:<36} {:>9} {:>7} {:>7} {:>7} {:>9} {:>9}",
        "", "requests", "share", "ratio", "errors", "p50 ms", "p99 ms"
    );
    for be in b.backends.iter().take(CONSOLE_ROWS) {
        let _ = writeln!(
            o,
            "  {:<36} {:>9} {:>6.1}% {:>7} {:>7} {:>9} {:>9}",
            be.name,
            be.requests,
            be.share * 100.0,
            opt(be.ratio, 2),
            be.errors,
            opt(be.p50_ms, 2),
            opt(be.p99_ms, 2)
        );
    }
    if b.backends.len() > CONSOLE_ROWS {
        let rest = &b.backends[CONSOLE_ROWS..];
        let n: u64 = rest.iter().map(|x| x.requests).sum();
        let _ = writeln!(
            o,
            "  … {} more backends, {n} requests (balance.csv)",
            rest.len()
        );
    }
    let band = b.band * 100.0;
    for r in &b.new_replicas {
        let first = r.first_request_s.map_or("no request at all".into(), |s| {
            format!("first request after {s:.1} s")
        });
        let fair = r
            .fair_share_s
            .map_or(format!("never a fair share (within {band:.0}%)"), |s| {
                format!("a fair share (within {band:.0}%) after {s:.1} s")
            });
        let _ = writeln!(
            o,
            "  new replica {}: Ready at {:.1} s · {first} · {fair}",
            r.pod, r.ready_s
        );
    }
    if let Some(a) = &b.affinity {
        let _ = writeln!(
            o,
            "  affinity ({}): {} clients · {} violations{}",
            a.mode,
            a.clients,
            a.violations,
            if a.untracked > 0 {
                format!(" · {} answers of clients beyond the tracked", a.untracked)
            } else {
                String::new()
            }
        );
        for e in &a.examples {
            let _ = writeln!(o, "    {e}");
        }
    }
}

/// `balance.csv`.
pub struct BalanceCsv;

impl Exporter for BalanceCsv {
    fn file(&self) -> &'static str {
        "balance.csv"
    }

    fn applies(&self, s: &Summary) -> bool {
        s.balance.is_some()
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        let Some(b) = &input.summary.balance else {
            return Ok(());
        };
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "backend",
            "requests",
            "share",
            "ratio",
            "errors",
            "p50_ms",
            "p99_ms",
            "first_s",
            "last_s",
            "ready_s",
            "first_request_s",
            "fair_share_s",
        ])?;
        let f = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
        let i = |v: Option<i64>| v.map_or(String::new(), |v| v.to_string());
        for be in &b.backends {
            let new = b.new_replicas.iter().find(|r| r.pod == be.name);
            w.write_record([
                be.name.clone(),
                be.requests.to_string(),
                format!("{:.6}", be.share),
                f(be.ratio),
                be.errors.to_string(),
                f(be.p50_ms),
                f(be.p99_ms),
                i(be.first_s),
                i(be.last_s),
                f(new.map(|r| r.ready_s)),
                f(new.and_then(|r| r.first_request_s)),
                f(new.and_then(|r| r.fair_share_s)),
            ])?;
        }
        write_atomic(&dir.join("balance.csv"), &w.into_inner()?)
    }
}
