//! A chat run's delivery counters: what each member was owed and received. One set per
//! generator thread, summed exactly at the end like the interval histograms.

use std::collections::BTreeMap;

/// One thread's counters, summed by the control loop.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChatTotals {
    pub connected: u64,
    pub published: u64,
    /// Deliveries the gateway owed: for each message, the members joined when it was sent,
    /// less its sender.
    pub expected: u64,
    /// Distinct deliveries (duplicates not counted).
    pub delivered: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Expected deliveries still missing after the grace period.
    pub lost: u64,
    /// Closes the gateway initiated during the run, by close code (1006: no close frame).
    pub disconnects: BTreeMap<u16, u64>,
    /// Frames without a marker (presence, heartbeats, acks, history), and markers of
    /// another group.
    pub other: u64,
    /// Markers that did not parse.
    pub corrupt: u64,
    /// A member's own message echoed back to it (not a delivery).
    pub echoes: u64,
}

impl ChatTotals {
    pub fn merge(&mut self, o: &ChatTotals) {
        self.connected += o.connected;
        self.published += o.published;
        self.expected += o.expected;
        self.delivered += o.delivered;
        self.duplicates += o.duplicates;
        self.out_of_order += o.out_of_order;
        self.lost += o.lost;
        self.other += o.other;
        self.corrupt += o.corrupt;
        self.echoes += o.echoes;
        for (code, n) in &o.disconnects {
            *self.disconnects.entry(*code).or_insert(0) += n;
        }
    }
}

impl ChatTotals {
    /// Owed deliveries not received, over owed deliveries.
    pub fn loss_rate(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost as f64 / self.expected as f64
        }
    }
}
