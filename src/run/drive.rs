//! Stage 5: drive the load. Prepares the generator, registers the interval sinks (the
//! interval log, live progress), starts the faults and the generator at the same origin,
//! runs the control loop to the end, and hands back what was measured.

use std::path::Path;
use std::time::{Instant, SystemTime};

use tokio::sync::mpsc;

use super::control::{Ended, Loop};
use super::generator;
use super::RunOptions;
use crate::kube::session::Session;
use crate::metrics::aggregate::{Aggregator, SeriesRow};
use crate::metrics::chat::ChatTotals;
use crate::metrics::hlog::{HlogSink, Planned};
use crate::metrics::sink::{IntervalSink, Sinks};
use crate::metrics::IntervalData;
use crate::report::progress::{Progress, ProgressSink};
use crate::scenario::{Exhausted, Plan};

/// What the load produced.
pub(super) struct Measured {
    /// When the schedule started (faults and Kubernetes timelines count from here).
    pub origin: Instant,
    pub measure_start: Instant,
    pub started_wall: SystemTime,
    pub ended: Ended,
    pub exhausted: Option<(String, Exhausted)>,
    /// What the target said with its errors (`grpc-message`), the first few.
    pub examples: Vec<crate::engine::examples::Example>,
    /// When the first request was really sent, after the origin.
    pub first_send: Option<std::time::Duration>,
    /// The measured window, merged.
    pub totals: IntervalData,
    pub series: Vec<SeriesRow>,
    pub chat: ChatTotals,
    /// `[balance] affinity`: each client's backends over the run.
    pub affinity: crate::metrics::balance::AffinityData,
    pub planned: Planned,
    pub threads: usize,
    /// A distributed run's agents, and why they cannot be trusted.
    pub remote: Option<generator::Remote>,
    /// Every final second, kept for the judgement.
    pub seconds: crate::metrics::seconds::Seconds,
}

/// What the run brings from outside the plan: the live exporters' sinks, the hooks' sinks
/// and control.
pub(super) struct Outside {
    /// The live exporters' sinks.
    pub exports: Vec<Box<dyn IntervalSink>>,
    pub sinks: Vec<Box<dyn IntervalSink>>,
    pub control: Option<tokio::sync::watch::Receiver<super::Control>>,
}

pub(super) fn drive(
    rt: &crate::engine::runtime::Handle,
    plan: &Plan,
    opts: &RunOptions,
    out_dir: &Path,
    kube: Option<&mut Session>,
    mut generator: Box<dyn generator::Generator>,
    outside: Outside,
) -> anyhow::Result<Measured> {
    let origin = generator.origin();
    let threads = generator.threads();
    let workers = generator.worker_threads();
    let started_wall = SystemTime::now() + origin.saturating_duration_since(Instant::now());
    let planned = plan.planned_per_second();
    let names = plan.endpoint_names();

    let mut sinks = Sinks::default();
    sinks.push(Box::new(HlogSink::create(
        &out_dir.join("histograms.hlog"),
        started_wall,
        plan.warmup,
        names.clone(),
        &planned,
    )?));
    let seconds = if plan.keeps_seconds() {
        let (kept, seconds) = crate::metrics::seconds::keep(names.clone(), plan.warmup);
        sinks.push(Box::new(kept));
        seconds
    } else {
        crate::metrics::seconds::Seconds::none(names.clone())
    };
    let progress = Progress::new(opts.progress, plan.run_length());
    let rates = plan.clone();
    sinks.push(Box::new(ProgressSink::new(
        progress.clone(),
        plan.warmup,
        Box::new(move |t| rates.planned_rate_at(t)),
    )));

    for sink in outside.sinks {
        sinks.push(sink);
    }
    for sink in outside.exports {
        sinks.push(sink);
    }
    let doomed = super::doom::Verdict::default();
    let doom = super::doom::DoomSink::new(plan, doomed.clone(), opts.stop_on_certain_failure);
    let doomed = doom.is_some().then_some(doomed);
    if let Some(sink) = doom {
        sinks.push(Box::new(sink));
    }
    sinks.begin(started_wall);
    if let Some(k) = kube {
        k.schedule_faults(origin);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    generator.start(tx)?;
    let mut agg = Aggregator::new(names.len(), threads);
    let mut chat = ChatTotals::default();
    let mut affinity = Default::default();
    let ended = rt.block_on(
        Loop {
            generator: generator.as_ref(),
            agg: &mut agg,
            sinks: &mut sinks,
            chat: &mut chat,
            affinity: &mut affinity,
            progress: &progress,
            handle_signals: opts.handle_signals,
            keep_signal_handlers: opts.keep_signal_handlers,
            interrupt_grace: opts.interrupt_grace,
            out_dir,
            doomed,
            control: outside.control,
        }
        .run(rx),
    );
    progress.finish();
    if matches!(&ended, Err(e) if e.is::<crate::error::InterruptedTwice>()) {
        // Out now: the aborted generator is dropped unjoined; its threads wind down on
        // their own (or end with the process).
        drop(generator);
        return Err(ended.err().expect("matched above"));
    }
    sinks.end_live();
    let measure_start = generator.measure_start();
    let joined = generator.join();
    let ended = ended?;
    let (totals, series) = agg.finish(&mut sinks);
    sinks.finish()?;
    Ok(Measured {
        origin,
        measure_start,
        started_wall,
        ended,
        exhausted: joined.exhausted,
        examples: joined.examples,
        first_send: joined.first_send,
        totals,
        series,
        chat,
        affinity,
        planned,
        threads: workers,
        remote: joined.remote,
        seconds,
    })
}
