//! Stage 5's loop: receives the generator's messages, merges them exactly, hands each
//! final second to the registered sinks, recycles the merged intervals, and handles
//! Ctrl-C / SIGTERM (stop sending, wait briefly for in-flight requests, then abort; a
//! second interrupt exits at once).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;

use super::generator::Generator;
use crate::metrics::aggregate::Aggregator;
use crate::metrics::chat::ChatTotals;
use crate::metrics::sink::{GeneratorMsg, Sinks};
use crate::report::progress::Progress;

/// How the load ended.
pub(super) struct Ended {
    pub at: Instant,
    pub interrupted_at: Option<Instant>,
    /// The SLOs could no longer pass: when the load was stopped, and why.
    pub stopped_early: Option<(Instant, String)>,
}

/// What the loop works on.
pub(super) struct Loop<'a> {
    pub generator: &'a dyn Generator,
    pub agg: &'a mut Aggregator,
    pub sinks: &'a mut Sinks,
    pub chat: &'a mut ChatTotals,
    /// `[balance] affinity`: each client's backends, as the threads hand them over.
    pub affinity: &'a mut crate::metrics::balance::AffinityData,
    /// For notes (the interrupt); its sink shows the seconds.
    pub progress: &'a Progress,
    pub handle_signals: bool,
    /// Leave the handlers installed after the load (see `RunOptions`).
    pub keep_signal_handlers: bool,
    /// After an interrupt, how long in-flight requests may still complete.
    pub interrupt_grace: Duration,
    /// The output folder, whose temporary files a second interrupt removes.
    pub out_dir: &'a Path,
    /// Set by the early-stop sink when the SLOs can no longer pass.
    pub doomed: Option<super::doom::Verdict>,
    /// Stop or abort from outside the process (a distributed run's coordinator).
    pub control: Option<tokio::sync::watch::Receiver<super::Control>>,
}

/// The load is over: from here on (verification, reports) an interrupt ends the process
/// at once, as it would before the load started, instead of being swallowed by the
/// handler this loop installed.
fn default_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: restoring a signal's default disposition has no memory effects.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
}

/// Removes the output folder's half-written files (`.name.tmp`): a second interrupt exits
/// at once, and leaves no debris for `loadctl report` to trip on.
fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// The next command from outside; never, without a control channel or once it is gone.
async fn command(c: &mut Option<tokio::sync::watch::Receiver<super::Control>>) -> super::Control {
    if let Some(rx) = c {
        if rx.changed().await.is_ok() {
            return *rx.borrow_and_update();
        }
    }
    *c = None;
    std::future::pending().await
}

async fn recv(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

impl Loop<'_> {
    /// Runs until every generator thread is done (or the channel closes).
    pub(super) async fn run(
        &mut self,
        mut rx: mpsc::UnboundedReceiver<GeneratorMsg>,
    ) -> anyhow::Result<Ended> {
        let (mut sigint, mut sigterm, mut sighup) = if self.handle_signals {
            (
                Some(signal(SignalKind::interrupt()).context("cannot handle SIGINT")?),
                Some(signal(SignalKind::terminate()).context("cannot handle SIGTERM")?),
                // A closed terminal stops the run as Ctrl-C does, reports included.
                Some(signal(SignalKind::hangup()).context("cannot handle SIGHUP")?),
            )
        } else {
            (None, None, None)
        };
        let mut interrupted_at = None;
        let mut stopped_early = None;
        let mut abort_at: Option<Instant> = None;
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    match msg {
                        Some(GeneratorMsg::Interval(r)) => self.agg.add(*r, self.sinks),
                        Some(GeneratorMsg::Done(t)) => self.agg.thread_done(t, self.sinks),
                        Some(GeneratorMsg::Chat(t)) => self.chat.merge(&t),
                        Some(GeneratorMsg::Affinity(a)) => self.affinity.merge(&a),
                        None => break,
                    }
                    for (thread, data) in self.agg.take_spent() {
                        self.generator.recycle(thread, data);
                    }
                    if stopped_early.is_none() {
                        if let Some(why) = self.doomed.as_ref().and_then(|d| d.borrow().clone()) {
                            self.progress.note(&format!("stopping early: {why}"));
                            self.generator.stop();
                            stopped_early = Some((Instant::now(), why));
                        }
                    }
                    if self.agg.all_done() {
                        break;
                    }
                }
                cmd = command(&mut self.control) => match cmd {
                    super::Control::Go => {}
                    super::Control::Stop => {
                        if interrupted_at.is_none() {
                            interrupted_at = Some(Instant::now());
                            abort_at = Some(Instant::now() + self.interrupt_grace);
                            self.generator.stop();
                            self.progress.note("stopped by the coordinator: waiting briefly for in-flight requests");
                        }
                    }
                    super::Control::Abort => self.generator.abort(),
                },
                _ = async { tokio::select! { _ = recv(&mut sigint) => {}, _ = recv(&mut sigterm) => {}, _ = recv(&mut sighup) => {} } } => {
                    if interrupted_at.is_some() {
                        // Second interrupt: the user wants out now. The caller returns at
                        // once, without waiting for the generator or writing reports.
                        self.generator.abort();
                        remove_temporaries(self.out_dir);
                        if self.handle_signals && !self.keep_signal_handlers {
                            default_signals();
                        }
                        return Err(crate::error::InterruptedTwice.into());
                    }
                    interrupted_at = Some(Instant::now());
                    abort_at = Some(Instant::now() + self.interrupt_grace);
                    self.generator.stop();
                    self.progress.note("interrupted: stopping, waiting briefly for in-flight requests (Ctrl-C again to quit at once)");
                }
                _ = tokio::time::sleep_until(abort_at.unwrap_or_else(Instant::now).into()), if abort_at.is_some() => {
                    abort_at = None;
                    self.generator.abort();
                }
            }
        }
        if self.handle_signals && !self.keep_signal_handlers {
            default_signals();
        }
        Ok(Ended {
            at: Instant::now(),
            interrupted_at,
            stopped_early,
        })
    }
}
