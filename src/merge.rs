//! `loadctl merge RUN_DIR… --out DIR`: runs of one scenario made at the same time on
//! separate machines, without a coordinator, merged exactly into one run folder. Their
//! interval logs are read back and merged second by second (seconds counted from each run's
//! measured window, as if the runs were the threads of one generator), so every percentile is
//! that of all the requests together, not an average of percentiles. The merged folder is a
//! run folder like any other (`summary.json`, `histograms.hlog`, every report), and can be
//! re-rendered or merged again.
//!
//! What only one machine could know is left out and said so in `notes`: `[[verify]]`
//! checks, Kubernetes timelines and faults, scrapes of the target.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::error::{Error, Result};
use crate::metrics::aggregate::{Aggregator, IntervalReport};
use crate::metrics::hlog::HlogSink;
use crate::metrics::hlog::Planned;
use crate::metrics::IntervalData;
use crate::report::ReportInput;
use crate::slo::observe::{self, Scope};
use crate::slo::{self, Evidence, SloResult, Verdict};
use crate::summary::build::{measured, Measured as Figures};
use crate::summary::connection::ConnSummary;
use crate::summary::Summary;

/// Merges the run folders `dirs` into `out`; returns the merged summary.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Summary> {
    if dirs.len() < 2 {
        return Err(Error::usage("merge needs at least two run folders"));
    }
    for (i, d) in dirs.iter().enumerate() {
        if dirs[..i].iter().any(|x| same_dir(x, d)) {
            return Err(Error::usage(format!("{} is named twice", d.display())));
        }
    }
    let mut runs: Vec<Input> = dirs
        .iter()
        .map(|d| read(d).map_err(|e| Error::usage(format!("{e:#}"))))
        .collect::<Result<_>>()?;
    check(dirs, &runs).map_err(|e| Error::usage(format!("{e:#}")))?;
    if dirs.iter().any(|d| same_dir(d, out)) {
        return Err(Error::usage(format!(
            "--out {}: is one of the runs being merged; name a new folder",
            out.display()
        )));
    }
    let out = crate::run::create_output_dir("merged", Some(&out.to_path_buf()))?;
    let first = &runs[0].summary;
    let names: Vec<String> = first.endpoints.iter().map(|e| e.name.clone()).collect();
    let planned = planned(&runs);
    let started =
        humantime::parse_rfc3339(&first.started_at).unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    let warmup = std::time::Duration::from_secs_f64(first.warmup_s);
    let mut hlog = HlogSink::create(
        &out.join("histograms.hlog"),
        started,
        warmup,
        names.clone(),
        &planned,
    )
    .map_err(Error::Failed)?;
    let mut agg = Aggregator::new(names.len(), runs.len());
    for (thread, run) in runs.iter_mut().enumerate() {
        // The aggregator holds a second until every run has reported it, as it holds a
        // generator's threads: each run's log is read once.
        for (idx, data) in std::mem::take(&mut run.intervals) {
            agg.add(IntervalReport { thread, idx, data }, &mut hlog);
        }
        agg.thread_done(thread, &mut hlog);
    }
    let (totals, series) = agg.finish(&mut hlog);
    hlog.close().map_err(Error::Failed)?;
    let window_s = runs
        .iter()
        .map(|r| r.summary.duration_s)
        .fold(0.0, f64::max);
    let f = figures(&runs, &totals, &series, window_s);
    let mut slos = rejudge(&runs[0].summary, &names, &totals, window_s);
    windowed(&mut slos, window_s, &out, &names).map_err(Error::Failed)?;
    let verdict = decide(&runs, &f, &slos, dirs);
    let summary = summarize(&runs, (f, slos, verdict), &totals, window_s, dirs);
    crate::report::write_all(
        &out,
        &ReportInput {
            summary: &summary,
            series: &series,
            planned: &planned,
            totals: &totals,
        },
    )
    .map_err(Error::Failed)?;
    Ok(summary)
}

/// Windowed objectives judged again on the merged run's seconds (read back from its log).
fn windowed(
    results: &mut [SloResult],
    window_s: f64,
    out: &Path,
    names: &[String],
) -> anyhow::Result<()> {
    let request_names: Vec<&str> = names.iter().map(String::as_str).collect();
    let slos: Vec<slo::Slo> = results
        .iter()
        .filter_map(|r| {
            let mut p = slo::parse(&r.name, &r.threshold, &request_names).ok()?;
            p.every = Some(std::time::Duration::from_secs_f64(r.every_s?));
            Some(p)
        })
        .collect();
    if slos.is_empty() {
        return Ok(());
    }
    let log = crate::metrics::hlog::read(&out.join("histograms.hlog"), names)?;
    let mut judged: Vec<SloResult> = slos
        .iter()
        .map(|p| {
            results
                .iter()
                .find(|r| r.name == p.name && r.threshold == p.expr)
                .cloned()
        })
        .collect::<Option<_>>()
        .unwrap_or_default();
    slo::window::judge_all(&slos, &mut judged, &log.intervals, names, (window_s, None));
    for r in judged {
        if let Some(x) = results
            .iter_mut()
            .find(|x| x.name == r.name && x.threshold == r.threshold)
        {
            *x = r;
        }
    }
    Ok(())
}

/// One run folder as the merge reads it: its summary and its interval log, checked.
struct Input {
    summary: Summary,
    planned: Planned,
    intervals: Vec<(i64, IntervalData)>,
}

fn read(dir: &Path) -> anyhow::Result<Input> {
    let summary = crate::summary::load_summary(dir)?;
    let names: Vec<String> = summary.endpoints.iter().map(|e| e.name.clone()).collect();
    let log = crate::metrics::hlog::read(&dir.join("histograms.hlog"), &names)?;
    if log.intervals.is_empty() && summary.totals.requests > 0 {
        bail!(
            "{} holds no interval, but summary.json counts {} requests: the log is damaged",
            dir.join("histograms.hlog").display(),
            summary.totals.requests
        );
    }
    Ok(Input {
        summary,
        planned: log.planned,
        intervals: log.intervals,
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// The runs must be of one scenario, with the same request names.
fn check(dirs: &[PathBuf], runs: &[Input]) -> anyhow::Result<()> {
    let first = &runs[0].summary;
    let names = |s: &Summary| {
        s.endpoints
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>()
    };
    for (d, r) in dirs.iter().zip(runs).skip(1) {
        let s = &r.summary;
        if s.scenario != first.scenario {
            bail!(
                "{} is a run of `{}`, {} of `{}`: merge runs of one scenario",
                d.display(),
                s.scenario,
                dirs[0].display(),
                first.scenario
            );
        }
        if names(s) != names(first) {
            bail!(
                "{} has the requests {:?}, {} has {:?}: merge runs of the same scenario version",
                d.display(),
                names(s),
                dirs[0].display(),
                names(first)
            );
        }
    }
    Ok(())
}

/// Planned requests per second, summed over the runs.
fn planned(runs: &[Input]) -> Planned {
    let mut out: Vec<(i64, f64)> = Vec::new();
    for r in runs {
        for &(idx, n) in &r.planned {
            match out.iter_mut().find(|(i, _)| *i == idx) {
                Some(x) => x.1 += n,
                None => out.push((idx, n)),
            }
        }
    }
    out.sort_by_key(|x| x.0);
    out
}

/// The merged window's figures, built as a run builds its own.
fn figures(
    runs: &[Input],
    totals: &IntervalData,
    series: &[crate::metrics::aggregate::SeriesRow],
    window_s: f64,
) -> Figures {
    let first = &runs[0].summary;
    let outcome_names: Vec<String> = first.outcomes.keys().cloned().collect();
    let requests: Vec<(&str, &str, &str)> = first
        .endpoints
        .iter()
        .map(|e| (e.name.as_str(), e.method.as_str(), e.path.as_str()))
        .collect();
    measured(totals, series, window_s, &requests, &outcome_names)
}

/// The merged summary: the first run's description of the scenario, the merged figures,
/// the objectives judged again and the status `v` decided from them.
fn summarize(
    runs: &[Input],
    (f, slo, v): (Figures, Vec<SloResult>, Verdict),
    totals: &IntervalData,
    window_s: f64,
    dirs: &[PathBuf],
) -> Summary {
    let first = &runs[0].summary;
    let planned_total: f64 = runs
        .iter()
        .filter_map(|r| r.summary.load.planned_requests)
        .map(|n| n as f64)
        .sum();
    let mut s = Summary {
        status: v.status,
        reasons: v.reasons,
        stopped_early: None,
        duration_s: window_s,
        slo,
        baseline: None,
        verify: Vec::new(),
        kube: None,
        prometheus: Vec::new(),
        balance: None,
        ws: None,
        exports: Vec::new(),
        notes: vec![format!(
            "merged from {} runs: {}; [[verify]] checks, Kubernetes and scrapes of the target stay with each run",
            runs.len(),
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        )],
        ..first.clone()
    };
    s.outcomes = f.outcomes;
    s.latency_ms = f.latency_ms;
    s.service_latency_ms = f.service_latency_ms;
    s.phases_ms = f.phases_ms;
    if let Some(tr) = &mut s.transport {
        tr.connections = ConnSummary::of(&totals.overall().counts.conn);
    }
    s.endpoints = f.endpoints;
    s.load.planned_requests = (planned_total > 0.0).then_some(planned_total as u64);
    s.load.peak_rate = s
        .load
        .peak_rate
        .map(|_| runs.iter().filter_map(|r| r.summary.load.peak_rate).sum());
    let g = &mut s.generator;
    g.threads = runs.iter().map(|r| r.summary.generator.threads).sum();
    g.send_lag_p50_ms = f.send_lag.p50;
    g.send_lag_p99_ms = f.send_lag.p99;
    g.send_lag_max_ms = f.send_lag.max;
    g.queue_wait_p99_ms = f.queue_wait_p99_ms;
    g.peak_in_flight = f.peak_in_flight;
    g.dropped = f.totals.dropped;
    g.dropped_ratio = f.dropped_ratio;
    g.valid = v.valid;
    s.totals = f.totals;
    s
}

/// The merged run's status: its SLOs, its generator figures, and every run's own validity.
fn decide(runs: &[Input], f: &Figures, slos: &[SloResult], dirs: &[PathBuf]) -> Verdict {
    let first = &runs[0].summary;
    let interrupted = runs
        .iter()
        .any(|r| r.summary.status == slo::Status::Interrupted);
    let invalid_runs: Vec<String> = dirs
        .iter()
        .zip(runs)
        .filter(|(_, r)| !r.summary.generator.valid)
        .map(|(d, _)| format!("the generator of {} could not hold its share", d.display()))
        .collect();
    let mut v = slo::verdict(&Evidence {
        interrupted,
        ok: f.totals.ok,
        dropped_ratio: f.dropped_ratio,
        max_dropped_ratio: first.generator.max_dropped_ratio,
        send_lag_p99_ms: f.send_lag.p99,
        max_send_lag_p99_ms: first.generator.max_send_lag_p99_ms,
        slo: slos,
        regressions: &[],
        checks: &[],
        failures: &[],
        generators: &[],
    });
    v.valid = v.valid && invalid_runs.is_empty();
    if !invalid_runs.is_empty() && matches!(v.status, slo::Status::Pass | slo::Status::Fail) {
        v.status = slo::Status::Invalid;
        v.reasons.extend(invalid_runs);
    }
    v
}

/// Each SLO of the runs, judged again over the merged data (server-side and fault-window
/// objectives, which one run's figures alone held, keep the first run's result).
fn rejudge(
    first: &Summary,
    names: &[String],
    totals: &IntervalData,
    window_s: f64,
) -> Vec<SloResult> {
    let overall = &totals.overall();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    first
        .slo
        .iter()
        .map(|r| {
            let Ok(parsed) = slo::parse(&r.name, &r.threshold, &names) else {
                return r.clone();
            };
            let data = match parsed.scope.as_deref() {
                None => overall,
                Some(n) => match names.iter().position(|x| *x == n) {
                    Some(i) => &totals.endpoints[i],
                    None => return r.clone(),
                },
            };
            if parsed.metric.is_server() || r.every_s.is_some() {
                return r.clone();
            }
            let value = observe::value(parsed.metric, &Scope { data, window_s }, None);
            SloResult {
                observed: value.map(|v| parsed.metric.display_value(v)),
                pass: value.is_some_and(|v| parsed.op.holds(v, parsed.threshold)),
                ..r.clone()
            }
        })
        .collect()
}
