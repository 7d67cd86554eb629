//! The generator seam: what drives the load for a run. The stages see only
//! [`Generator`]: when the schedule starts, how to stop it, and the messages its threads
//! send (one interval per thread per second, [`GeneratorMsg`]). The in-process engine is
//! [`local`]; agents on other hosts or in a Kubernetes Job are [`remote`] (each agent is
//! one "thread" whose seconds are already merged over its own threads).

mod agent_link;
mod local;
pub mod remote;

use std::time::Instant;

use tokio::sync::mpsc;

use super::target::Target;
use crate::metrics::sink::GeneratorMsg;
use crate::metrics::IntervalData;
use crate::scenario::{Exhausted, Plan};

pub(super) use remote::Remote;

/// A source of load, prepared (its clock fixed) but not yet sending.
pub(super) trait Generator {
    /// When the load's schedule starts.
    fn origin(&self) -> Instant;
    /// When the measured window starts (the origin plus the warmup).
    fn measure_start(&self) -> Instant;
    /// Worker threads, each of which reports every second and a last `Done`.
    fn threads(&self) -> usize;
    /// The threads that send, for the summary: the agents' own, in a distributed run.
    fn worker_threads(&self) -> usize {
        self.threads()
    }
    /// Starts sending; the threads report on `tx`.
    fn start(&mut self, tx: mpsc::UnboundedSender<GeneratorMsg>) -> anyhow::Result<()>;
    /// Hands a merged interval back to its thread for reuse.
    fn recycle(&self, thread: usize, data: IntervalData);
    /// Stop sending; in-flight requests complete (up to their timeout).
    fn stop(&self);
    /// Drop everything still in flight now.
    fn abort(&self);
    /// Waits for the threads to end.
    fn join(self: Box<Self>) -> Joined;
}

/// What a generator says once its threads have ended.
#[derive(Default)]
pub(super) struct Joined {
    /// A feeder that ran out and ended the load early.
    pub exhausted: Option<(String, Exhausted)>,
    /// A distributed run's agents.
    pub remote: Option<Remote>,
    /// When the first request was really sent, after the origin.
    pub first_send: Option<std::time::Duration>,
    /// What the target said with its errors (this machine's threads only).
    pub examples: Vec<crate::engine::examples::Example>,
}

/// The generator for `plan`: this machine's threads, or `agents`
/// (connected, sent the scenario, and their clocks measured before this returns).
/// `start_at` fixes the schedule's start (an agent's, given by its coordinator).
pub(super) fn prepare(
    rt: &crate::engine::runtime::Handle,
    plan: &Plan,
    target: &Target,
    agents: Option<&remote::Agents>,
    start_at: Option<Instant>,
) -> anyhow::Result<Box<dyn Generator>> {
    Ok(match agents {
        Some(agents) => Box::new(remote::Fleet::connect(rt, plan, target, agents)?),
        None => Box::new(local::Local::new(plan, target, start_at)),
    })
}
