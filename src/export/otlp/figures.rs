//! The figures the `otlp` kind sends, kept per request name: counters, and the latency
//! as a base-2 exponential histogram (OTLP's `ExponentialHistogram`) at a fixed scale.
//! Each final second is added twice: to the run's totals (cumulative temporality) and
//! to what has come since the last export (delta, emptied at each export).

use crate::export::exphist::ExpHist;
use crate::metrics::{EndpointData, ERROR_KINDS};

/// One request name's figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub requests: u64,
    pub ok: u64,
    pub dropped: u64,
    pub errors: [u64; ERROR_KINDS],
    pub latency: ExpHist,
}

impl Figures {
    pub fn add(&mut self, e: &EndpointData) {
        let c = &e.counts;
        self.requests += c.requests();
        self.ok += c.ok;
        self.dropped += c.dropped;
        for (a, b) in self.errors.iter_mut().zip(&c.errors) {
            *a += b;
        }
        self.latency.add_micros(&e.latency);
    }
}
