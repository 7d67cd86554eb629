//! The consumers of a run's seconds. Once every generator thread has reported a second,
//! the aggregator merges it exactly and hands it to each registered [`IntervalSink`]: the
//! interval log writer, the live progress view, and later live exporters or a remote
//! agent's uplink. Adding a consumer is one implementation plus one line where the run
//! builds its list.
//!
//! What generators send is [`GeneratorMsg`]: one interval per thread per second, a chat
//! run's counters once, and a last word per thread.

use super::chat::ChatTotals;
use super::series::{IntervalReport, SeriesRow};
use super::IntervalData;

/// Messages from a generator's threads to the control loop.
#[derive(Debug)]
pub enum GeneratorMsg {
    Interval(Box<IntervalReport>),
    /// A chat run's counters of one thread, sent once before `Done`.
    Chat(Box<ChatTotals>),
    /// `[balance] affinity`: each client's backends seen by one thread, sent once
    /// before `Done`.
    Affinity(Box<super::balance::AffinityData>),
    /// The thread (by index) will send nothing more.
    Done(usize),
}

/// One second of the run, final: merged over every thread.
pub struct Final<'a> {
    /// Seconds from the measured window's start (warmup negative).
    pub idx: i64,
    pub data: &'a IntervalData,
    /// Its figures, as the time series keeps them.
    pub row: &'a SeriesRow,
    /// The measured window's totals so far, this second included.
    pub totals: &'a IntervalData,
    /// Requests completed in this second by each source: a worker thread, or in a
    /// distributed run an agent (what a live view draws per agent).
    pub sources: &'a [u64],
}

/// A consumer of final seconds.
pub trait IntervalSink {
    /// The schedule starts at `origin` (wall clock), before the first second: what a sink
    /// that stamps its seconds with wall-clock times counts from.
    fn begin(&mut self, _origin: std::time::SystemTime) {}

    fn interval(&mut self, f: &Final<'_>);

    /// Whether the sink only shows the run as it goes (live progress): it is dropped when
    /// the load has ended, before the last seconds are flushed.
    fn live_only(&self) -> bool {
        false
    }

    /// The run is over: flush, and report a failure that happened on the way.
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A closure is a sink of `(idx, data)`: handy where only the histograms matter.
impl<F: FnMut(i64, &IntervalData)> IntervalSink for F {
    fn interval(&mut self, f: &Final<'_>) {
        self(f.idx, f.data)
    }
}

/// The registered sinks, each given every second in order.
#[derive(Default)]
pub struct Sinks(Vec<Box<dyn IntervalSink>>);

impl Sinks {
    pub fn push(&mut self, sink: Box<dyn IntervalSink>) {
        self.0.push(sink);
    }

    /// The load has ended: drop the sinks that only show it live.
    pub fn end_live(&mut self) {
        self.0.retain(|s| !s.live_only());
    }
}

impl IntervalSink for Sinks {
    fn begin(&mut self, origin: std::time::SystemTime) {
        for s in &mut self.0 {
            s.begin(origin);
        }
    }

    fn interval(&mut self, f: &Final<'_>) {
        for s in &mut self.0 {
            s.interval(f);
        }
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        for s in &mut self.0 {
            s.finish()?;
        }
        Ok(())
    }
}
