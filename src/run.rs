//! One run from plan to verdict: resolve the target (starting the embedded reference
//! service when none is named), start the engine, aggregate its intervals while showing
//! progress and handling Ctrl-C, judge the result, and write every output file.
//!
//! This is the only place that knows the whole pipeline; each stage it calls knows only
//! its own input.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use tokio::sync::mpsc;

use crate::engine::http::Prepared;
use crate::engine::{Engine, Shared, WorkerMsg};
use crate::metrics::aggregate::Aggregator;
use crate::metrics::{percentile_ms, EndpointData, LatencyStats};
use crate::report::compare;
use crate::report::hlog::{HlogSink, Planned};
use crate::report::progress::{Progress, Snapshot};
use crate::report::summary::outcome_counts;
use crate::report::summary::{
    endpoint_summary, figures, GeneratorSummary, LoadSummary, Summary, SCHEMA_VERSION,
};
use crate::scenario::flow::{CheckedRequest, Exhausted};
use crate::scenario::{LoadPlan, Origin, Plan, RequestPlan, TargetSpec};
use crate::slo::checks::{self, CheckResult};
use crate::slo::{self, Metric, Stat};
use crate::testbed::Embedded;

/// How to run, beyond the plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Output folder; default `reports/<scenario>-<UTC timestamp>`.
    pub out: Option<PathBuf>,
    /// Live progress on stderr.
    pub progress: bool,
    /// Handle SIGINT/SIGTERM (the CLI does; library callers may not want it).
    pub handle_signals: bool,
    /// After an interrupt, how long in-flight requests may still complete.
    pub interrupt_grace: Duration,
    /// A previous run to compare with (`--baseline`); a regression fails the run.
    pub baseline: Option<Summary>,
    /// Regression tolerances; default: the scenario's.
    pub tolerances: Option<crate::scenario::Tolerances>,
    /// Overrides the scenario's `kube.context`.
    pub kube_context: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            out: None,
            progress: false,
            handle_signals: false,
            interrupt_grace: Duration::from_secs(2),
            baseline: None,
            tolerances: None,
            kube_context: None,
        }
    }
}

#[derive(Debug)]
pub struct RunOutcome {
    pub summary: Summary,
    pub out_dir: PathBuf,
}

impl RunOutcome {
    pub fn exit_code(&self) -> u8 {
        self.summary.status.exit_code()
    }
}

/// Runs `plan` to the end (or to an interrupt) and writes its outputs.
pub fn run(plan: &Plan, opts: &RunOptions) -> anyhow::Result<RunOutcome> {
    let threads = plan.generator.threads;
    // Keep the embedded service alive for the whole run; dropping it stops it.
    let (embedded, target_addr, target_text, base_path) = match &plan.target {
        TargetSpec::Embedded(e) => {
            let svc = Embedded::start(&e.service, &e.config, threads)
                .context("cannot start the embedded reference service")?;
            let addr = svc.addr;
            (
                Some(svc),
                addr,
                format!("embedded {} service at http://{addr}", e.service),
                String::new(),
            )
        }
        TargetSpec::Url { origin, base_path } => (
            None,
            resolve(origin)?,
            format!("{origin}{base_path}"),
            base_path.clone(),
        ),
    };

    // Origin 0 is the target; full-URL requests add theirs.
    let mut origins: Vec<(Option<Origin>, SocketAddr)> = vec![(None, target_addr)];
    let target_authority = match &plan.target {
        TargetSpec::Url { origin, .. } => origin.authority(),
        TargetSpec::Embedded(_) => target_addr.to_string(),
    };
    let mut prepare = |r: &RequestPlan| -> anyhow::Result<Prepared> {
        let (idx, authority, prefix) = match &r.origin {
            None => (0, target_authority.clone(), base_path.as_str()),
            Some(o) => {
                let idx = match origins.iter().position(|(x, _)| x.as_ref() == Some(o)) {
                    Some(i) => i,
                    None => {
                        origins.push((Some(o.clone()), resolve(o)?));
                        origins.len() - 1
                    }
                };
                (idx, o.authority(), "")
            }
        };
        Ok(Prepared::new(r, idx, &authority, prefix))
    };
    let prepared = plan
        .requests
        .iter()
        .map(&mut prepare)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let setup = plan
        .setup
        .iter()
        .map(|c| prepare(&c.request))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let verify = plan
        .verify
        .iter()
        .map(|c| prepare(&c.request))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let addrs: Vec<SocketAddr> = origins.iter().map(|(_, a)| *a).collect();

    if !setup.is_empty() {
        let results = checked(&plan.setup, &setup, &addrs, plan.timeout)?;
        if let Some(bad) = results.iter().find(|r| !r.pass) {
            bail!(
                "setup request `{}` failed: {} ({}); nothing was sent to the load",
                bad.name,
                bad.check,
                bad.observed
            );
        }
    }

    let out_dir = match &opts.out {
        Some(d) => d.clone(),
        None => default_out_dir(&plan.name),
    };
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create output folder {}", out_dir.display()))?;

    // Kubernetes: connect and start watching before any load, so the state at the load's
    // start is known and an unreachable cluster stops the run before it begins.
    let mut kube = match &plan.kube {
        Some(k) => {
            let source = match embedded.as_ref().and_then(|e| e.kube_api) {
                Some(api) => {
                    let path = out_dir.join("kubeconfig");
                    crate::report::write_atomic(
                        &path,
                        crate::testbed::cluster::Cluster::kubeconfig(api).as_bytes(),
                    )?;
                    let time_scale = match &plan.target {
                        TargetSpec::Embedded(e) => {
                            e.config.cluster.as_ref().map_or(1.0, |c| c.time_scale)
                        }
                        TargetSpec::Url { .. } => 1.0,
                    };
                    crate::kube::session::Source {
                        kubeconfig: Some(path),
                        context: None,
                        time_scale,
                    }
                }
                None => crate::kube::session::Source {
                    kubeconfig: None,
                    context: opts.kube_context.clone().or_else(|| k.context.clone()),
                    time_scale: 1.0,
                },
            };
            let session = crate::kube::session::Session::start(k, &source)?;
            for w in &session.warnings {
                eprintln!("warning: {w}");
            }
            Some(session)
        }
        None => None,
    };
    let names: Vec<String> = match &plan.chat {
        Some(_) => crate::engine::chat::ENDPOINTS
            .iter()
            .map(|n| n.to_string())
            .collect(),
        None => plan.requests.iter().map(|r| r.name.clone()).collect(),
    };
    let outcome_names: Vec<String> = match &plan.chat {
        Some(_) => crate::engine::chat::OUTCOMES
            .iter()
            .map(|n| n.to_string())
            .collect(),
        None => plan.outcomes.clone(),
    };
    if let (Some(_), LoadPlan::Connections { connections, .. }) = (&plan.chat, &plan.load) {
        // The generator's sockets, and the embedded gateway's when it runs in-process.
        let embedded = matches!(plan.target, TargetSpec::Embedded(_));
        let needed = (*connections as u64) * if embedded { 2 } else { 1 } + 512;
        raise_open_files(needed)?;
    }
    let weights: Vec<f64> = plan.requests.iter().map(|r| r.weight).collect();
    let shared = Shared::new(
        prepared,
        &weights,
        addrs.clone(),
        plan.load.clone(),
        plan.timeout,
        plan.warmup,
        threads,
    )
    .with_flow(plan.flow.clone(), plan.feeders.clone(), plan.vars.len())
    .with_chat(plan.chat.clone(), target_authority.clone());
    let started_wall = SystemTime::now() + shared.t0.saturating_duration_since(Instant::now());
    let planned = planned_per_second(plan);
    let mut hlog = HlogSink::create(
        &out_dir.join("histograms.hlog"),
        started_wall,
        plan.warmup,
        names.clone(),
        &planned,
    )?;

    let origin = shared.t0;
    if let Some(k) = &mut kube {
        k.schedule_faults(origin);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = Engine::start(shared, tx).context("cannot start worker threads")?;
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;
    let mut agg = Aggregator::new(names.len(), threads);
    let total_len = plan.warmup + plan.load.duration();
    let mut progress = Progress::new(opts.progress, total_len);
    let mut chat_totals = crate::engine::chat::ChatTotals::default();
    let ended = control.block_on(control_loop(
        plan,
        opts,
        &engine,
        rx,
        &mut agg,
        &mut hlog,
        &mut progress,
        &mut chat_totals,
    ))?;
    progress.finish();
    let measure_start = engine.shared.measure_start;
    let exhausted = engine.shared.exhausted.get();
    engine.join();
    let kube_seen = kube.take().map(|k| k.finish(origin));
    let (totals, series) = agg.finish(&mut |idx, data| hlog.write_interval(idx, data));
    hlog.finish()?;

    // The measured window: the plan's, unless the run stopped early.
    let planned_end = measure_start + plan.load.duration();
    let window_end = match (&plan.load, ended.interrupted_at) {
        (_, Some(at)) => at.min(planned_end),
        (LoadPlan::Open { .. }, None) if exhausted.is_none() => planned_end,
        _ => ended.at.min(planned_end),
    };
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    if let Some((feeder, how)) = &exhausted {
        let line =
            format!(
            "feeder `{feeder}` ran out of rows; the load stopped {:.1} s into the measured window",
            window_end.saturating_duration_since(measure_start).as_secs_f64()
        );
        match how {
            Exhausted::Fail => failures.push(format!("{line} (on_exhausted = \"fail\")")),
            _ => notes.push(line),
        }
    }
    // Verification looks at the state the load left; an interrupted run has no such state.
    let verification = if verify.is_empty() || ended.interrupted_at.is_some() {
        Vec::new()
    } else {
        checked(&plan.verify, &verify, &addrs, plan.timeout)?
    };
    let window_s = window_end
        .saturating_duration_since(measure_start)
        .as_secs_f64();

    let (kube_summary, fault_data) = match (&kube_seen, &plan.kube) {
        (Some(seen), Some(k)) => {
            let log = crate::report::hlog::read(&out_dir.join("histograms.hlog"), &names)?;
            let end = window_end.saturating_duration_since(origin).as_secs_f64();
            let (summary, data) =
                crate::kube::outcome::summarize(seen, &k.namespace, &log, plan.warmup, end);
            for e in summary.expectations.iter().filter(|e| !e.pass) {
                failures.push(format!("hpa/{}: {} — {}", e.hpa, e.expectation, e.observed));
            }
            (Some(summary), data)
        }
        _ => (None, None),
    };
    // The fault windows' rate is over the whole seconds they cover.
    let (fault_data, fault_s) = match fault_data {
        Some((d, secs)) => (Some(d), secs),
        None => (None, 0.0),
    };
    let overall = totals.overall();
    let endpoint = |scope: Option<&str>| -> Option<&EndpointData> {
        match scope {
            None => Some(&overall),
            Some(crate::scenario::kube::FAULT_SCOPE) if plan.kube.is_some() => fault_data.as_ref(),
            Some(name) => names
                .iter()
                .position(|n| n == name)
                .map(|i| &totals.endpoints[i]),
        }
    };
    let slo_results = slo::evaluate(&plan.slos, |scope, metric| {
        let e = endpoint(scope)?;
        let in_fault = scope == Some(crate::scenario::kube::FAULT_SCOPE) && plan.kube.is_some();
        let f = figures(e, if in_fault { fault_s } else { window_s });
        match metric {
            Metric::Latency(Stat::Percentile(p)) => percentile_ms(&e.latency, p),
            Metric::Latency(Stat::Max) => {
                (f.requests > 0).then(|| LatencyStats::of(&e.latency).max)
            }
            Metric::Latency(Stat::Mean) => {
                (f.requests > 0).then(|| LatencyStats::of(&e.latency).mean)
            }
            Metric::ErrorRate => (f.requests > 0).then_some(f.error_rate),
            Metric::Availability => (f.requests > 0).then_some(f.availability),
            Metric::Rps => Some(f.rps),
            Metric::LossRate => plan.chat.as_ref().map(|_| {
                if chat_totals.expected == 0 {
                    0.0
                } else {
                    chat_totals.lost as f64 / chat_totals.expected as f64
                }
            }),
            Metric::Outcome(slot) => (f.requests > 0)
                .then(|| e.counts.outcomes[slot as usize] as f64 / f.requests as f64),
        }
    });

    let t = figures(&overall, window_s);
    let attempted = t.requests + t.dropped;
    let dropped_ratio = if attempted == 0 {
        0.0
    } else {
        t.dropped as f64 / attempted as f64
    };
    let lag = LatencyStats::of(&totals.send_lag);
    let max_lag_ms = plan.generator.max_send_lag_p99.as_secs_f64() * 1000.0;
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        loadctl_version: env!("CARGO_PKG_VERSION").into(),
        scenario: plan.name.clone(),
        description: plan.description.clone(),
        // Decided below, once the baseline comparison is known.
        status: slo::Status::Pass,
        reasons: Vec::new(),
        started_at: humantime::format_rfc3339_seconds(started_wall).to_string(),
        duration_s: window_s,
        warmup_s: plan.warmup.as_secs_f64(),
        target: target_text,
        load: load_summary(plan),
        totals: t,
        outcomes: outcome_counts(&overall, &outcome_names),
        latency_ms: LatencyStats::of(&overall.latency),
        service_latency_ms: LatencyStats::of(&overall.service),
        endpoints: match &plan.chat {
            Some(c) => names
                .iter()
                .zip(&totals.endpoints)
                .map(|(n, e)| endpoint_summary(n, "WS", &c.path, e, window_s, &outcome_names))
                .collect(),
            None => plan
                .requests
                .iter()
                .zip(&totals.endpoints)
                .map(|(r, e)| {
                    endpoint_summary(
                        &r.name,
                        r.method.as_str(),
                        r.path.source(),
                        e,
                        window_s,
                        &plan.outcomes,
                    )
                })
                .collect(),
        },
        slo: slo_results,
        generator: GeneratorSummary {
            threads: threads as u64,
            send_lag_p50_ms: lag.p50,
            send_lag_p99_ms: lag.p99,
            send_lag_max_ms: lag.max,
            queue_wait_p99_ms: LatencyStats::of(&totals.queue_wait).p99,
            peak_in_flight: series.iter().map(|r| r.in_flight).max().unwrap_or(0),
            dropped: overall.counts.dropped,
            dropped_ratio,
            max_dropped_ratio: plan.generator.max_dropped,
            max_send_lag_p99_ms: max_lag_ms,
            valid: true,
        },
        baseline: None,
        verify: verification,
        notes,
        ws: plan
            .chat
            .as_ref()
            .map(|c| ws_summary(plan, c, &chat_totals)),
        kube: kube_summary,
    };
    summary.baseline = opts
        .baseline
        .as_ref()
        .map(|base| compare::compare(base, &summary, &opts.tolerances.unwrap_or(plan.compare)));
    let regressions = summary
        .baseline
        .as_ref()
        .map(compare::Comparison::regression_lines)
        .unwrap_or_default();
    let verdict = slo::verdict(&slo::Evidence {
        interrupted: ended.interrupted_at.is_some(),
        ok: summary.totals.ok,
        dropped_ratio,
        max_dropped_ratio: plan.generator.max_dropped,
        send_lag_p99_ms: lag.p99,
        max_send_lag_p99_ms: max_lag_ms,
        slo: &summary.slo,
        regressions: &regressions,
        checks: &summary.verify,
        failures: &failures,
    });
    summary.status = verdict.status;
    summary.reasons = verdict.reasons;
    summary.generator.valid = verdict.valid;

    crate::report::write_summary(&out_dir, &summary)?;
    crate::report::write_derived(
        &out_dir,
        &summary,
        &series,
        &planned,
        &totals,
        crate::report::html::Extensions::default(),
    )?;
    Ok(RunOutcome { summary, out_dir })
}

/// Open model: what the schedule plans in each second (seconds from the measured window's
/// start, warmup negative). Nothing for the closed model, which plans no rate.
fn planned_per_second(plan: &Plan) -> Planned {
    let LoadPlan::Open { schedule, .. } = &plan.load else {
        return Vec::new();
    };
    let warmup = plan.warmup.as_secs_f64();
    let end = warmup + plan.load.duration().as_secs_f64();
    let first = -(warmup.ceil() as i64);
    let last = plan.load.duration().as_secs_f64().ceil() as i64;
    (first..last)
        .map(|idx| {
            let from = (warmup + idx as f64).max(0.0);
            let to = (warmup + idx as f64 + 1.0).min(end);
            (idx, schedule.count_before(to) - schedule.count_before(from))
        })
        .collect()
}

/// Sends `[[setup]]` / `[[verify]]` requests and judges their answers.
fn checked(
    entries: &[CheckedRequest],
    prepared: &[Prepared],
    addrs: &[SocketAddr],
    timeout: Duration,
) -> anyhow::Result<Vec<CheckResult>> {
    let answers = crate::engine::oneshot::send_all(prepared, addrs, timeout)
        .context("cannot start the runtime for setup/verify requests")?;
    let mut out = Vec::new();
    for ((entry, p), resp) in entries.iter().zip(prepared).zip(answers) {
        let status = match (resp.error, resp.status) {
            (Some(kind), _) => Err(kind.name().to_string()),
            (None, Some(code)) if p.expect.contains(code) => Ok(code),
            (None, Some(code)) => Err(format!("status {code}, expected {}", p.expect)),
            (None, None) => Err("no answer".to_string()),
        };
        out.extend(checks::judge(
            &entry.request.name,
            status,
            resp.body.as_deref().unwrap_or_default(),
            &entry.checks,
        ));
    }
    Ok(out)
}

struct Ended {
    at: Instant,
    interrupted_at: Option<Instant>,
}

#[allow(clippy::too_many_arguments)]
async fn control_loop(
    plan: &Plan,
    opts: &RunOptions,
    engine: &Engine,
    mut rx: mpsc::UnboundedReceiver<WorkerMsg>,
    agg: &mut Aggregator,
    hlog: &mut HlogSink,
    progress: &mut Progress,
    chat: &mut crate::engine::chat::ChatTotals,
) -> anyhow::Result<Ended> {
    use tokio::signal::unix::{signal, SignalKind};
    let (mut sigint, mut sigterm) = if opts.handle_signals {
        (
            Some(signal(SignalKind::interrupt()).context("cannot handle SIGINT")?),
            Some(signal(SignalKind::terminate()).context("cannot handle SIGTERM")?),
        )
    } else {
        (None, None)
    };
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let shared = &engine.shared;
    let mut interrupted_at = None;
    let mut abort_at: Option<Instant> = None;
    let mut errors = 0u64;
    let mut on_final =
        |idx: i64, data: &crate::metrics::IntervalData| hlog.write_interval(idx, data);
    loop {
        tokio::select! {
            msg = rx.recv() => {
                let before = agg.series().len();
                match msg {
                    Some(WorkerMsg::Interval(r)) => agg.add(*r, &mut on_final),
                    Some(WorkerMsg::Done(t)) => agg.thread_done(t, &mut on_final),
                    Some(WorkerMsg::Chat(t)) => chat.merge(&t),
                    None => break,
                }
                for (thread, data) in agg.take_spent() {
                    engine.recycle(thread, data);
                }
                for row in &agg.series()[before..] {
                    errors += row.all.errors;
                }
                if let Some(row) = agg.series().last().filter(|_| agg.series().len() > before) {
                    let elapsed = shared.interval_start(row.idx + 1).saturating_duration_since(shared.t0);
                    let planned_rps = match &plan.load {
                        LoadPlan::Open { schedule, .. } => Some(schedule.rate_at(elapsed.as_secs_f64() - 0.5)),
                        LoadPlan::Closed { .. } | LoadPlan::Connections { .. } => None,
                    };
                    progress.update(&Snapshot {
                        elapsed,
                        planned_rps,
                        achieved_rps: row.all.requests as f64,
                        errors,
                        p95_ms: percentile_ms(&agg.totals().overall().latency, 95.0),
                    });
                }
                if agg.all_done() {
                    break;
                }
            }
            _ = async { tokio::select! { _ = recv(&mut sigint) => {}, _ = recv(&mut sigterm) => {} } } => {
                if interrupted_at.is_some() {
                    // Second interrupt: the user wants out now.
                    std::process::exit(130);
                }
                interrupted_at = Some(Instant::now());
                abort_at = Some(Instant::now() + opts.interrupt_grace);
                engine.stop();
                progress.note("interrupted: stopping, waiting briefly for in-flight requests (Ctrl-C again to quit at once)");
            }
            _ = tokio::time::sleep_until(abort_at.unwrap_or_else(Instant::now).into()), if abort_at.is_some() => {
                abort_at = None;
                engine.abort();
            }
        }
    }
    Ok(Ended {
        at: Instant::now(),
        interrupted_at,
    })
}

fn resolve(origin: &Origin) -> anyhow::Result<SocketAddr> {
    let host = origin.host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host, origin.port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve target host {}", origin.host))?
        .next();
    match addr {
        Some(a) => Ok(a),
        None => bail!("target host {} has no address", origin.host),
    }
}

fn default_out_dir(name: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let base = PathBuf::from("reports").join(format!("{name}-{stamp}"));
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}

fn load_summary(plan: &Plan) -> LoadSummary {
    let mut l = LoadSummary {
        model: plan.load.model().into(),
        peak_rate: None,
        planned_requests: None,
        connections: None,
        max_in_flight: None,
        vus: None,
        iterations: None,
        think_time_ms: None,
        timeout_ms: plan.timeout.as_secs_f64() * 1000.0,
        flow_steps: match plan.flow {
            Some(_) => plan.requests.iter().map(|r| r.name.clone()).collect(),
            None => Vec::new(),
        },
    };
    match &plan.load {
        LoadPlan::Open {
            schedule,
            connections,
            max_in_flight,
            ..
        } => {
            l.peak_rate = Some(schedule.peak_rate());
            let warm = schedule.count_before(plan.warmup.as_secs_f64()).ceil() as u64;
            l.planned_requests =
                Some(schedule.total_requests() - warm.min(schedule.total_requests()));
            l.connections = Some(*connections as u64);
            l.max_in_flight = Some(*max_in_flight as u64);
        }
        LoadPlan::Closed {
            vus,
            think_time,
            iterations,
            ..
        } => {
            l.vus = Some(*vus as u64);
            l.iterations = *iterations;
            l.think_time_ms = Some(think_time.as_secs_f64() * 1000.0);
        }
        LoadPlan::Connections {
            connections,
            connect_rate,
            ..
        } => {
            l.connections = Some(*connections as u64);
            l.peak_rate = Some(*connect_rate);
        }
    }
    l
}

fn ws_summary(
    plan: &Plan,
    c: &crate::scenario::chat::ChatPlan,
    t: &crate::engine::chat::ChatTotals,
) -> crate::report::summary::WsSummary {
    let connections = match plan.load {
        LoadPlan::Connections { connections, .. } => connections as u64,
        _ => 0,
    };
    crate::report::summary::WsSummary {
        connections,
        connected: t.connected,
        groups: c.groups as u64,
        members: c.members as u64,
        published: t.published,
        expected: t.expected,
        delivered: t.delivered,
        lost: t.lost,
        loss_rate: if t.expected == 0 {
            0.0
        } else {
            t.lost as f64 / t.expected as f64
        },
        duplicates: t.duplicates,
        out_of_order: t.out_of_order,
        disconnects: t
            .disconnects
            .iter()
            .map(|(code, n)| (code.to_string(), *n))
            .collect(),
    }
}

/// The open-file limit was too low for the scenario and could not be raised.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ResourceError(pub String);

/// Raises the soft (and, when allowed, hard) open-file limit to `needed`.
fn raise_open_files(needed: u64) -> Result<(), ResourceError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(ResourceError("cannot read the open-file limit".into()));
    }
    if lim.rlim_cur >= needed {
        return Ok(());
    }
    let want = libc::rlimit {
        rlim_cur: needed,
        rlim_max: lim.rlim_max.max(needed),
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
        return Ok(());
    }
    Err(ResourceError(format!(
        "this scenario needs {needed} open files (its connections, and the embedded gateway's), but the limit is {} (hard {}) and the system refused to raise it; raise it (`ulimit -n {needed}` as root, or LimitNOFILE in a systemd unit), lower load.connections, or run the gateway in its own process (`loadctl testbed serve chat`) and pass --target",
        lim.rlim_cur, lim.rlim_max
    )))
}
