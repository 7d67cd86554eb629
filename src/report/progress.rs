//! Live progress on stderr: an indicatif bar on a terminal, a plain line every 5 s
//! otherwise (CI logs), nothing when disabled. [`ProgressSink`] feeds it each second of
//! the run as one of the run's interval sinks.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::percentile_ms;
use crate::metrics::sink::{Final, IntervalSink};

const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// One progress update.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub planned_rps: Option<f64>,
    pub achieved_rps: f64,
    pub errors: u64,
    /// Over the measured window so far.
    pub p95_ms: Option<f64>,
}

/// A handle on the live view; clones show on the same bar.
#[derive(Clone)]
pub enum Progress {
    Bar(ProgressBar),
    Plain {
        total: Duration,
        last: Option<Instant>,
    },
    Off,
}

impl Progress {
    pub fn new(enabled: bool, total: Duration) -> Progress {
        if !enabled {
            return Progress::Off;
        }
        if !std::io::stderr().is_terminal() {
            return Progress::Plain { total, last: None };
        }
        let bar = ProgressBar::with_draw_target(
            Some(total.as_secs().max(1)),
            ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            ProgressStyle::with_template("{elapsed:>4} [{bar:30.cyan/blue}] {eta:>4} left  {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        Progress::Bar(bar)
    }

    fn line(s: &Snapshot) -> String {
        let planned = s
            .planned_rps
            .map_or(String::new(), |p| format!("planned {p:.0}/s  "));
        let p95 = s.p95_ms.map_or("-".into(), |p| format!("{p:.2} ms"));
        format!(
            "{planned}achieved {:.0}/s  errors {}  p95 so far {p95}",
            s.achieved_rps, s.errors
        )
    }

    pub fn update(&mut self, s: &Snapshot) {
        match self {
            Progress::Bar(bar) => {
                bar.set_position(s.elapsed.as_secs());
                bar.set_message(Self::line(s));
            }
            Progress::Plain { total, last } => {
                if last.is_some_and(|l| l.elapsed() < PLAIN_EVERY) {
                    return;
                }
                *last = Some(Instant::now());
                eprintln!(
                    "[{:>4.0}s/{:.0}s] {}",
                    s.elapsed.as_secs_f64(),
                    total.as_secs_f64(),
                    Self::line(s)
                );
            }
            Progress::Off => {}
        }
    }

    pub fn note(&self, msg: &str) {
        match self {
            Progress::Bar(bar) => bar.println(msg),
            Progress::Plain { .. } => eprintln!("{msg}"),
            Progress::Off => {}
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Shows each final second: the achieved rate against the plan, errors so far, and the
/// p95 of the measured window so far.
pub struct ProgressSink {
    progress: Progress,
    /// From the load's start to the measured window's.
    warmup: Duration,
    /// The planned rate `t` seconds after the load's start (open model).
    planned: Box<dyn Fn(f64) -> Option<f64>>,
    errors: u64,
}

impl ProgressSink {
    pub fn new(
        progress: Progress,
        warmup: Duration,
        planned: Box<dyn Fn(f64) -> Option<f64>>,
    ) -> Self {
        ProgressSink {
            progress,
            warmup,
            planned,
            errors: 0,
        }
    }
}

impl IntervalSink for ProgressSink {
    fn interval(&mut self, f: &Final<'_>) {
        self.errors += f.row.all.errors;
        let end = self.warmup.as_secs_f64() + (f.idx + 1) as f64;
        let elapsed = Duration::from_secs_f64(end.max(0.0));
        self.progress.update(&Snapshot {
            elapsed,
            planned_rps: (self.planned)(elapsed.as_secs_f64() - 0.5),
            achieved_rps: f.row.all.requests as f64,
            errors: self.errors,
            p95_ms: percentile_ms(&f.totals.overall().latency, 95.0),
        });
    }

    fn live_only(&self) -> bool {
        true
    }
}
