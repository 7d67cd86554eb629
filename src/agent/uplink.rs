//! The agent's uplink: an [`IntervalSink`] that sends each final second of the agent's
//! run to its coordinator, in the interval log's own text, so that what the coordinator
//! merges is exactly what the agent's own `histograms.hlog` holds.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::metrics::sink::{Final, IntervalSink};
use crate::remote::ToCoordinator;

pub(super) struct Uplink {
    pub out: UnboundedSender<ToCoordinator>,
    pub names: Vec<String>,
    pub warmup: Duration,
}

impl IntervalSink for Uplink {
    fn interval(&mut self, f: &Final<'_>) {
        let log = crate::metrics::hlog::encode(&self.names, self.warmup, f.idx, f.data);
        // A coordinator that is gone stops the run through the control channel.
        let _ = self.out.send(ToCoordinator::Interval { idx: f.idx, log });
    }
}
