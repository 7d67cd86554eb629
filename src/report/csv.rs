//! `summary.csv` (one row per request name, then `all`; phases p50/p99 where they occurred) and `timeseries.csv` (one row per
//! second per request name and `all`), written with the csv crate.

use std::path::Path;

use anyhow::Context;

use super::exporter::{Exporter, ReportInput};
use crate::files::write_atomic;
use crate::metrics::aggregate::{RowStats, SeriesRow};
use crate::metrics::connection::Phase;
use crate::summary::kube::KubeSummary;
use crate::summary::prometheus::PrometheusSummary;
use crate::summary::{EndpointSummary, Summary};

fn finish(w: csv::Writer<Vec<u8>>, path: &Path) -> anyhow::Result<()> {
    let bytes = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    write_atomic(path, &bytes)
}

fn opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.3}")).unwrap_or_default()
}

pub fn write_summary_csv(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "endpoint",
        "method",
        "path",
        "requests",
        "ok",
        "errors",
        "error_rate",
        "availability",
        "rps",
        "dropped",
        "p50_ms",
        "p90_ms",
        "p95_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "mean_ms",
        "service_p50_ms",
        "service_p99_ms",
        "outcomes",
        "skipped",
    ];
    let mut header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for p in Phase::ALL {
        header.push(format!("{}_p50_ms", p.name()));
        header.push(format!("{}_p99_ms", p.name()));
    }
    header.extend(["connections_opened", "connections_resumed", "tls_errors"].map(String::from));
    w.write_record(&header)?;
    let all = EndpointSummary {
        name: "all".into(),
        method: String::new(),
        path: String::new(),
        requests: s.totals.requests,
        ok: s.totals.ok,
        errors: s.totals.errors,
        error_rate: s.totals.error_rate,
        availability: s.totals.availability,
        rps: s.totals.rps,
        dropped: s.totals.dropped,
        bytes_received: s.totals.bytes_received,
        latency_ms: s.latency_ms,
        service_latency_ms: s.service_latency_ms,
        status_codes: Default::default(),
        errors_by_kind: Default::default(),
        outcomes: s.outcomes.clone(),
        skipped: s.endpoints.iter().map(|e| e.skipped).sum(),
        request_invalid: s.endpoints.iter().map(|e| e.request_invalid).sum(),
        unsent: s.endpoints.iter().map(|e| e.unsent).sum(),
        phases_ms: s.phases_ms.clone(),
        connections: s.transport.as_ref().map(|t| t.connections.clone()),
    };
    for e in s.endpoints.iter().chain(std::iter::once(&all)) {
        let l = &e.latency_ms;
        let mut row = vec![
            e.name.clone(),
            e.method.clone(),
            e.path.clone(),
            e.requests.to_string(),
            e.ok.to_string(),
            e.errors.to_string(),
            format!("{:.6}", e.error_rate),
            format!("{:.6}", e.availability),
            format!("{:.3}", e.rps),
            e.dropped.to_string(),
            format!("{:.3}", l.p50),
            format!("{:.3}", l.p90),
            format!("{:.3}", l.p95),
            format!("{:.3}", l.p99),
            format!("{:.3}", l.p999),
            format!("{:.3}", l.max),
            format!("{:.3}", l.mean),
            format!("{:.3}", e.service_latency_ms.p50),
            format!("{:.3}", e.service_latency_ms.p99),
            e.outcomes.values().sum::<u64>().to_string(),
            e.skipped.to_string(),
        ];
        for p in Phase::ALL {
            let stats = e.phases_ms.get(p.name());
            row.push(opt(stats.map(|s| s.p50)));
            row.push(opt(stats.map(|s| s.p99)));
        }
        let c = e.connections.clone().unwrap_or_default();
        row.push(c.opened.to_string());
        row.push(c.resumed.to_string());
        row.push(c.tls_errors.values().sum::<u64>().to_string());
        w.write_record(&row)?;
    }
    finish(w, &dir.join("summary.csv"))
}

/// `first_idx` is the index of the run's first second (negative with a warmup).
/// With `[[prometheus.scrape]]`s, two columns per scrape (`<name>_server_rps`,
/// `<name>_server_p99_ms`), filled on the `all` row of the second in which each scrape
/// interval's middle falls.
pub fn write_timeseries(
    dir: &Path,
    names: &[String],
    series: &[SeriesRow],
    scrapes: &[PrometheusSummary],
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "elapsed_s",
        "second",
        "phase",
        "endpoint",
        "requests",
        "ok",
        "errors",
        "rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "in_flight",
        "dropped",
        "send_lag_p99_ms",
    ]
    .map(String::from)
    .to_vec();
    for p in scrapes {
        header.push(format!("{}_server_rps", p.name));
        header.push(format!("{}_server_p99_ms", p.name));
    }
    w.write_record(&header)?;
    let server = |idx: i64| -> Vec<String> {
        scrapes
            .iter()
            .flat_map(|p| {
                let pt = p.series.iter().find(|pt| pt.t_s.floor() as i64 == idx);
                [
                    opt(pt.and_then(|pt| pt.rps)),
                    opt(pt.and_then(|pt| pt.p99_ms)),
                ]
            })
            .collect()
    };
    let blank = vec![String::new(); 2 * scrapes.len()];
    let first = series.first().map_or(0, |r| r.idx);
    for row in series {
        let phase = if row.idx < 0 { "warmup" } else { "measured" };
        let mut line =
            |name: &str, r: &RowStats, in_flight: String, lag: String, extra: &[String]| {
                let mut record = vec![
                    (row.idx - first).to_string(),
                    row.idx.to_string(),
                    phase.to_string(),
                    name.to_string(),
                    r.requests.to_string(),
                    r.ok.to_string(),
                    r.errors.to_string(),
                    r.requests.to_string(),
                    opt(r.p50_ms),
                    opt(r.p95_ms),
                    opt(r.p99_ms),
                    opt(r.max_ms),
                    in_flight,
                    r.dropped.to_string(),
                    lag,
                ];
                record.extend_from_slice(extra);
                w.write_record(&record)
            };
        line(
            "all",
            &row.all,
            row.in_flight.to_string(),
            opt(row.send_lag_p99_ms),
            &server(row.idx),
        )?;
        for (name, r) in names.iter().zip(&row.endpoints) {
            line(name, r, String::new(), String::new(), &blank)?;
        }
    }
    finish(w, &dir.join("timeseries.csv"))
}

/// `replicas.csv`: one row per observed change of each watched HPA.
pub fn write_replicas_csv(dir: &Path, k: &KubeSummary) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "t_s",
        "hpa",
        "deployment",
        "desired",
        "current",
        "ready",
        "at_max",
    ])?;
    for h in &k.hpas {
        for p in &h.timeline {
            w.write_record([
                format!("{:.3}", p.t_s),
                h.name.clone(),
                h.deployment.clone(),
                p.desired.to_string(),
                p.current.to_string(),
                p.ready.to_string(),
                p.at_max.to_string(),
            ])?;
        }
    }
    write_atomic(&dir.join("replicas.csv"), &w.into_inner()?)
}

/// `summary.csv`.
pub struct SummaryCsv;

impl Exporter for SummaryCsv {
    fn file(&self) -> &'static str {
        "summary.csv"
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        write_summary_csv(dir, input.summary)
    }
}

/// `timeseries.csv`.
pub struct Timeseries;

impl Exporter for Timeseries {
    fn file(&self) -> &'static str {
        "timeseries.csv"
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        let names: Vec<String> = input
            .summary
            .endpoints
            .iter()
            .map(|e| e.name.clone())
            .collect();
        write_timeseries(dir, &names, input.series, &input.summary.prometheus)
    }
}

/// `replicas.csv`, for runs that watched Kubernetes.
pub struct Replicas;

impl Exporter for Replicas {
    fn file(&self) -> &'static str {
        "replicas.csv"
    }

    fn applies(&self, s: &Summary) -> bool {
        s.kube.is_some()
    }

    fn write(&self, dir: &Path, input: &ReportInput<'_>) -> anyhow::Result<()> {
        match &input.summary.kube {
            Some(k) => write_replicas_csv(dir, k),
            None => Ok(()),
        }
    }
}
