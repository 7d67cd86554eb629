//! The chat fan-out workload: groups of WebSocket members publishing to each other.

use std::time::Duration;

/// A chat run's endpoints (in recorder order): the names its SLO keys scope to.
pub const ENDPOINTS: [&str; 4] = ["connect", "publish", "delivery", "fanout"];
/// Outcome names of a chat run (slot order).
pub const OUTCOMES: [&str; 1] = ["duplicate"];

/// The chat workload, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatPlan {
    pub groups: usize,
    /// Members per group; groups × members = connections.
    pub members: usize,
    /// Messages per second per group, published by its members in turn.
    pub publish_rate: f64,
    /// Bytes of padding per message (the measurement fields come on top).
    pub payload: usize,
    /// Upgrade path; `?user=u<N>` is appended.
    pub path: String,
    /// After the hold, how long late deliveries are still awaited before they count as lost.
    pub grace: Duration,
}

impl ChatPlan {
    /// Messages published per second over all groups.
    pub fn publish_per_second(&self) -> f64 {
        self.publish_rate * self.groups as f64
    }

    /// Deliveries owed per second: each message to every other member of its group.
    pub fn deliveries_per_second(&self) -> f64 {
        self.publish_per_second() * (self.members - 1) as f64
    }
}
