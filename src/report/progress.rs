//! Live progress on stderr: an indicatif bar on a terminal, a plain line every 5 s
//! otherwise (CI logs), nothing when disabled.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

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
