//! One run from plan to verdict, as stages that read top to bottom: resolve the target
//! (starting the embedded reference service when none is named), send the setup requests,
//! create the output folder, connect to Kubernetes, drive the load through a
//! [`generator`] while the interval sinks record it, judge it, assemble the summary and
//! write every report. Each stage is a file of this folder and knows only its own input.

mod agents_job;
mod assemble;
mod checks;
mod control;
mod doom;
mod drive;
mod generator;
mod grpc;
mod judge;
mod kube;
mod limits;
mod marks;
mod output;
mod scrape;
mod service;
mod target;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::metrics::sink::IntervalSink;
use crate::report::ReportInput;
use crate::scenario::{Plan, Tolerances};
use crate::summary::Summary;

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
    pub tolerances: Option<Tolerances>,
    /// Overrides the scenario's `kube.context`.
    pub kube_context: Option<String>,
    /// Stop the load as soon as the SLOs can no longer pass (the run still fails, with
    /// `stopped_early` saying why): what a capacity search's steps do.
    pub stop_on_certain_failure: bool,
    /// After the load, leave the signal handlers as they are instead of restoring the
    /// default (a capacity search handles interrupts between its steps itself).
    pub keep_signal_handlers: bool,
    /// Serve live figures in the Prometheus exposition format here while the run goes.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// A live dashboard (`--dashboard`): an exporter of the `dashboard` kind.
    pub dashboard: Option<std::sync::Arc<dyn crate::export::Export>>,
    /// Drive the load through these agents instead of this machine's threads.
    pub agents: Option<Agents>,
    /// What starts the embedded reference service for a plan that names no target (the
    /// command layer hands in the testbed's); without it such a plan is refused.
    pub services: Option<Services>,
}

pub use generator::remote::{AgentAddr, Agents, PodAddr};
pub use service::{Service, Services, StartService};

/// What steers a run from outside: how a distributed run's agent runs its share.
#[derive(Default)]
pub struct Hooks {
    /// Called once everything before the load is ready; returns when the schedule starts
    /// (an agent waits here for the coordinator's `start`).
    pub gate: Option<Box<dyn FnOnce() -> anyhow::Result<Instant>>>,
    /// More consumers of the run's final seconds (an agent's uplink).
    pub sinks: Vec<Box<dyn IntervalSink>>,
    /// Stop or abort the load from outside, as an interrupt does.
    pub control: Option<tokio::sync::watch::Receiver<Control>>,
}

/// A command from outside the run ([`Hooks::control`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Go,
    /// Stop sending and drain, as Ctrl-C does (the run says `interrupted`).
    Stop,
    /// Drop what is in flight.
    Abort,
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
            stop_on_certain_failure: false,
            keep_signal_handlers: false,
            metrics_listen: None,
            dashboard: None,
            agents: None,
            services: None,
        }
    }
}

#[derive(Debug)]
pub struct RunOutcome {
    pub summary: Summary,
    pub out_dir: PathBuf,
    /// A feeder that ran out and ended the load early.
    pub exhausted: Option<String>,
    /// A chat run's delivery counters, summed over its threads.
    pub chat: Option<crate::metrics::chat::ChatTotals>,
    /// When the first request was really sent, after the schedule's origin.
    pub first_send: Option<Duration>,
    /// `[balance] affinity`: each client's backends (what an agent hands its coordinator).
    pub affinity: Option<crate::metrics::balance::AffinityWire>,
    /// An exporter that goes on serving the final state (a dashboard's linger): the
    /// command waits on it after printing the summary; dropping it stops the exporters.
    pub linger: Option<Linger>,
}

/// Live exporters kept serving after the run, for [`Linger::wait`].
pub struct Linger {
    /// Dropped first: the exporters stop, then the runtime they run on.
    keep: Vec<Box<dyn Send>>,
    side: crate::engine::runtime::SideRuntime,
    pub wait: Duration,
    /// What is served: `dashboard at http://127.0.0.1:5665/`.
    pub what: String,
}

impl std::fmt::Debug for Linger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Linger({} for {:?})", self.what, self.wait)
    }
}

impl Linger {
    /// Serves for the linger, then stops the exporters. SIGINT or SIGTERM ends it sooner
    /// (the run is over and its reports written), and the command still exits with the
    /// run's own code. The run restored the signals' default action when its load ended,
    /// so the linger installs a handler of its own for its time, then restores it again.
    pub fn wait(self) {
        static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        extern "C" fn on_signal(_: libc::c_int) {
            STOP.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        STOP.store(false, std::sync::atomic::Ordering::Relaxed);
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe { libc::signal(sig, handler) };
        }
        let until = Instant::now() + self.wait;
        while Instant::now() < until && !STOP.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
        }
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: restoring a signal's default disposition has no memory effects.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
        drop(self.keep);
        drop(self.side);
    }
}

impl RunOutcome {
    pub fn exit_code(&self) -> u8 {
        self.summary.status.exit_code()
    }
}

/// Creates an output folder as a run does (`reports/<name>-<UTC timestamp>` by default),
/// checked writable before anything is sent.
pub fn create_output_dir(name: &str, out: Option<&PathBuf>) -> Result<PathBuf> {
    output::create(name, out)
}

/// Runs `plan` to the end (or to an interrupt) and writes its outputs.
pub fn run(plan: &Plan, opts: &RunOptions) -> Result<RunOutcome> {
    run_with(plan, opts, Hooks::default())
}

/// [`run`], steered from outside by `hooks`.
pub fn run_with(plan: &Plan, opts: &RunOptions, mut hooks: Hooks) -> Result<RunOutcome> {
    // Dropped last, so every stage's tasks end with the run.
    let side =
        crate::engine::runtime::SideRuntime::start("loadctl-side", 2).map_err(Error::Failed)?;
    let rt = side.handle();
    let target = target::resolve(rt, plan, opts.services.as_ref())?;
    checks::setup(rt, plan, &target)?;
    let out_dir = output::create(&plan.name, opts.out.as_ref())?;
    let mut kube = kube::start(rt, plan, opts, &target, &out_dir)?;
    limits::open_files(plan)?;
    limits::source_ips(plan)?;
    // The live exporters start (and prove they can) before any load; they stop only once
    // the reports are on disk.
    let replicas = kube.as_ref().map(|k| k.replicas_now());
    let live = exporters(plan, opts, rt, (&out_dir, replicas))?;
    // Deletes the agents' Job when dropped, however the run ends.
    let (agents, _job) = agents_job::start(rt, plan, opts, &target, &out_dir)?;
    let start_at = hooks.gate.take().map(|g| g()).transpose()?;
    let generator =
        generator::prepare(rt, plan, &target, agents.as_ref(), start_at).map_err(Error::Setup)?;
    let scraper = scrape::start(rt, &plan.scrapes, target.addr());
    let outside = drive::Outside {
        exports: live.sinks,
        sinks: std::mem::take(&mut hooks.sinks),
        control: hooks.control.take(),
    };
    let measured = drive::drive(rt, plan, opts, &out_dir, kube.as_mut(), generator, outside)?;
    let scraped = scraper.map(scrape::Scraper::finish).unwrap_or_default();
    let kube_seen = kube.take().map(|k| k.finish(measured.origin));
    let judged = judge::judge(rt, plan, &target, &measured, (kube_seen, scraped))?;
    let figures = assemble::figures(plan, &measured, &judged);
    let generators = measured
        .remote
        .as_ref()
        .map(|r| r.problems.clone())
        .unwrap_or_default();
    let label = format!("{} {}", plan.name, assemble::started_at(&measured));
    let decided = judge::verdict(
        plan,
        opts,
        &measured,
        &judged,
        (&figures, label),
        &generators,
    );
    let mut summary = assemble::summary(plan, &target, &measured, (judged, decided), figures);
    summary.exports = live.stats.iter().map(export_summary).collect();
    crate::report::write_all(
        &out_dir,
        &ReportInput {
            summary: &summary,
            series: &measured.series,
            planned: &measured.planned,
            totals: &measured.totals,
        },
    )
    .map_err(Error::Failed)?;
    // The live exporters hear the verdict and stop only once the reports are on disk.
    let ending = crate::export::Ending {
        status: summary.status.label(),
        passed: summary.status == crate::slo::Status::Pass,
        reasons: &summary.reasons,
        report: &out_dir.join("report.html"),
        started: measured.started_wall,
        ended: std::time::SystemTime::now(),
    };
    let mut linger: Option<(Duration, String)> = None;
    for end in live.ends {
        if let Some((d, what)) = end(&ending) {
            if linger.as_ref().is_none_or(|l| l.0 < d) {
                linger = Some((d, what));
            }
        }
    }
    let linger = match linger {
        Some((d, what)) => Some(Linger {
            keep: live.keep,
            side,
            wait: d,
            what,
        }),
        None => {
            drop(live.keep);
            None
        }
    };
    Ok(RunOutcome {
        summary,
        out_dir,
        exhausted: measured.exhausted.as_ref().map(|(name, _)| name.clone()),
        chat: matches!(plan.workload, crate::scenario::Workload::Chat(_))
            .then(|| measured.chat.clone()),
        first_send: measured.first_send,
        affinity: (!measured.affinity.is_empty()).then(|| measured.affinity.to_wire()),
        linger,
    })
}

/// The plan's `[[export]]`s, `--metrics-listen` and `--dashboard`, started.
struct Live {
    sinks: Vec<Box<dyn IntervalSink>>,
    stats: Vec<(&'static str, String, std::sync::Arc<crate::export::Stats>)>,
    keep: Vec<Box<dyn Send>>,
    ends: Vec<crate::export::OnEnd>,
}

fn exporters(
    plan: &Plan,
    opts: &RunOptions,
    rt: &crate::engine::runtime::Handle,
    (out_dir, replicas): (&std::path::Path, Option<crate::export::Replicas>),
) -> Result<Live> {
    let mut kinds: Vec<_> = plan.exports.iter().map(|e| e.0.clone()).collect();
    kinds.extend(opts.metrics_listen.map(crate::export::prometheus::listen));
    kinds.extend(opts.dashboard.clone());
    let names = plan.endpoint_names();
    let marks = marks::of(plan);
    let planned = plan.planned_per_second();
    let run_id = crate::export::run_id(&plan.name);
    let cx = crate::export::Build {
        scenario: &plan.name,
        names: &names,
        rt,
        run_id: &run_id,
        warmup_s: plan.warmup.as_secs_f64(),
        length_s: plan.run_length().as_secs_f64(),
        planned: &planned,
        marks: &marks,
        out_dir,
        distributed: opts.agents.is_some(),
        replicas,
    };
    let running = crate::export::start_all(&kinds, &cx).map_err(Error::Setup)?;
    let mut live = Live {
        sinks: Vec::new(),
        stats: Vec::new(),
        keep: Vec::new(),
        ends: Vec::new(),
    };
    for (kind, r) in kinds.iter().zip(running) {
        live.sinks.push(r.sink);
        live.stats.push((kind.kind(), kind.describe(), r.stats));
        live.keep.push(r.keep);
        live.ends.extend(r.end);
    }
    Ok(live)
}

fn export_summary(
    (kind, to, stats): &(&'static str, String, std::sync::Arc<crate::export::Stats>),
) -> crate::summary::exports::ExportSummary {
    let (sent, retried, failed, dropped, last_error) = stats.read();
    crate::summary::exports::ExportSummary {
        kind: kind.to_string(),
        to: to.clone(),
        sent,
        retried,
        failed,
        dropped,
        last_error,
    }
}
