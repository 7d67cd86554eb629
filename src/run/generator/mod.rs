//! The generator seam: what drives the load for a run. The stages see only
//! [`Generator`]: when the schedule starts, how to stop it, and the messages its threads
//! send (one interval per thread per second, [`GeneratorMsg`]). Today's one
//! implementation is the in-process engine ([`local`]); a remote one (agents on hosts or
//! as a Kubernetes Job) is a file beside it and one arm in [`prepare`].

mod local;

use std::time::Instant;

use tokio::sync::mpsc;

use super::target::Target;
use crate::metrics::sink::GeneratorMsg;
use crate::metrics::IntervalData;
use crate::scenario::{Exhausted, Plan};

/// A source of load, prepared (its clock fixed) but not yet sending.
pub(super) trait Generator {
    /// When the load's schedule starts.
    fn origin(&self) -> Instant;
    /// When the measured window starts (the origin plus the warmup).
    fn measure_start(&self) -> Instant;
    /// Worker threads, each of which reports every second and a last `Done`.
    fn threads(&self) -> usize;
    /// Starts sending; the threads report on `tx`.
    fn start(&mut self, tx: mpsc::UnboundedSender<GeneratorMsg>) -> anyhow::Result<()>;
    /// Hands a merged interval back to its thread for reuse.
    fn recycle(&self, thread: usize, data: IntervalData);
    /// Stop sending; in-flight requests complete (up to their timeout).
    fn stop(&self);
    /// Drop everything still in flight now.
    fn abort(&self);
    /// Waits for the threads to end; a feeder that ran out and ended the load early.
    fn join(self: Box<Self>) -> Option<(String, Exhausted)>;
}

/// The generator for `plan`.
pub(super) fn prepare(plan: &Plan, target: &Target) -> Box<dyn Generator> {
    Box::new(local::Local::new(plan, target))
}
