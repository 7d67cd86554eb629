//! Stage 5's loop: receives the generator's messages, merges them exactly, hands each
//! final second to the registered sinks, recycles the merged intervals, and handles
//! Ctrl-C / SIGTERM (stop sending, wait briefly for in-flight requests, then abort; a
//! second interrupt exits at once).

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
}

/// What the loop works on.
pub(super) struct Loop<'a> {
    pub generator: &'a dyn Generator,
    pub agg: &'a mut Aggregator,
    pub sinks: &'a mut Sinks,
    pub chat: &'a mut ChatTotals,
    /// For notes (the interrupt); its sink shows the seconds.
    pub progress: &'a Progress,
    pub handle_signals: bool,
    /// After an interrupt, how long in-flight requests may still complete.
    pub interrupt_grace: Duration,
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
        let (mut sigint, mut sigterm) = if self.handle_signals {
            (
                Some(signal(SignalKind::interrupt()).context("cannot handle SIGINT")?),
                Some(signal(SignalKind::terminate()).context("cannot handle SIGTERM")?),
            )
        } else {
            (None, None)
        };
        let mut interrupted_at = None;
        let mut abort_at: Option<Instant> = None;
        loop {
            tokio::select! {
                msg = rx.recv() => {
                    match msg {
                        Some(GeneratorMsg::Interval(r)) => self.agg.add(*r, self.sinks),
                        Some(GeneratorMsg::Done(t)) => self.agg.thread_done(t, self.sinks),
                        Some(GeneratorMsg::Chat(t)) => self.chat.merge(&t),
                        None => break,
                    }
                    for (thread, data) in self.agg.take_spent() {
                        self.generator.recycle(thread, data);
                    }
                    if self.agg.all_done() {
                        break;
                    }
                }
                _ = async { tokio::select! { _ = recv(&mut sigint) => {}, _ = recv(&mut sigterm) => {} } } => {
                    if interrupted_at.is_some() {
                        // Second interrupt: the user wants out now.
                        std::process::exit(130);
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
        Ok(Ended {
            at: Instant::now(),
            interrupted_at,
        })
    }
}
