//! The in-process generator: the engine's worker threads on this machine.

use std::time::Instant;

use tokio::sync::mpsc;

use super::super::target::Target;
use super::{Generator, Joined};
use crate::engine::{Engine, Shared};
use crate::metrics::sink::GeneratorMsg;
use crate::metrics::IntervalData;
use crate::scenario::Plan;

pub(super) enum Local {
    Ready(Box<Shared>),
    Running(Engine),
    /// Only while starting.
    Gone,
}

impl Local {
    pub(super) fn new(plan: &Plan, target: &Target, start_at: Option<Instant>) -> Self {
        let mut shared = Shared::new(
            plan,
            target.requests.clone(),
            target.net.clone(),
            target.authority.clone(),
        );
        if let Some(at) = start_at {
            shared.t0 = at;
            shared.measure_start = at + plan.warmup;
        }
        Local::Ready(Box::new(shared))
    }

    fn shared(&self) -> Option<&Shared> {
        match self {
            Local::Ready(s) => Some(s),
            Local::Running(e) => Some(&e.shared),
            Local::Gone => None,
        }
    }
}

impl Generator for Local {
    fn origin(&self) -> Instant {
        self.shared().map_or_else(Instant::now, |s| s.t0)
    }

    fn measure_start(&self) -> Instant {
        self.shared().map_or_else(Instant::now, |s| s.measure_start)
    }

    fn threads(&self) -> usize {
        self.shared().map_or(0, |s| s.threads)
    }

    fn start(&mut self, tx: mpsc::UnboundedSender<GeneratorMsg>) -> anyhow::Result<()> {
        let Local::Ready(shared) = std::mem::replace(self, Local::Gone) else {
            anyhow::bail!("the generator was already started");
        };
        let engine = Engine::start(*shared, tx)
            .map_err(|e| anyhow::anyhow!("cannot start worker threads: {e}"))?;
        *self = Local::Running(engine);
        Ok(())
    }

    fn recycle(&self, thread: usize, data: IntervalData) {
        if let Local::Running(e) = self {
            e.recycle(thread, data);
        }
    }

    fn stop(&self) {
        if let Local::Running(e) = self {
            e.stop();
        }
    }

    fn abort(&self) {
        if let Local::Running(e) = self {
            e.abort();
        }
    }

    fn join(self: Box<Self>) -> Joined {
        match *self {
            Local::Running(e) => {
                let exhausted = e.shared.exhausted.get();
                let examples = e.shared.examples.take();
                let first = e
                    .shared
                    .first_send
                    .load(std::sync::atomic::Ordering::Relaxed);
                e.join();
                Joined {
                    exhausted,
                    examples,
                    remote: None,
                    first_send: (first != u64::MAX).then(|| std::time::Duration::from_nanos(first)),
                }
            }
            Local::Ready(_) | Local::Gone => Joined::default(),
        }
    }
}
