//! `[[prometheus.scrape]]`: the target's own Prometheus metrics, scraped during the run
//! and set beside loadctl's figures: a counter for the server-side request rate, a classic
//! histogram for server-side percentiles.

use std::time::Duration;

use super::target::Origin;
use crate::metrics::promtext::Selector;

#[derive(Debug, Clone, PartialEq)]
pub struct ScrapePlan {
    /// Names the scrape in reports and as an SLO scope (`gateway.server_p99`).
    pub name: String,
    /// `None`: the run's target (`url = "/metrics"`), the embedded service included.
    pub origin: Option<Origin>,
    pub path: String,
    pub every: Duration,
    /// A counter whose increase is the requests the server handled.
    pub requests: Option<Selector>,
    /// A histogram (its `_bucket` series) of the server's request durations, in seconds.
    pub latency: Option<Selector>,
}

impl ScrapePlan {
    /// The URL as reports show it; `target` is the run's origin.
    pub fn url(&self, target: &str) -> String {
        match &self.origin {
            Some(o) => format!("{o}{}", self.path),
            None => format!("{target}{}", self.path),
        }
    }
}
