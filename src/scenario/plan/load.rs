//! How load is applied: the open model's rate schedule, the closed model's virtual users,
//! the connections model of a chat run, and the generator's own validity limits.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::schedule::RateSchedule;

/// `load.model`: how load is applied. The same enum names it in `summary.json`, so reports
/// match on it rather than on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    /// An arrival rate, whatever the target does.
    Open,
    /// Virtual users, each waiting for its answer.
    Closed,
    /// WebSocket connections held open (chat).
    Connections,
}

impl LoadModel {
    pub const NAMES: [(&'static str, LoadModel); 3] = [
        ("open", LoadModel::Open),
        ("closed", LoadModel::Closed),
        ("connections", LoadModel::Connections),
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, m)| *m)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("open", |(n, _)| n)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LoadPlan {
    /// Arrival rate independent of responses. The schedule includes the warmup.
    Open {
        schedule: RateSchedule,
        connections: usize,
        max_in_flight: usize,
        duration: Duration,
    },
    /// `vus` users each looping request → response → think time.
    Closed {
        vus: usize,
        think_time: Duration,
        /// Total iterations over all users (`ab -n`), if bounded by count.
        iterations: Option<u64>,
        /// Measured duration, or the time cap of an iterations run.
        duration: Duration,
    },
    /// WebSocket connections opened at `connect_rate`, then held for `hold` (the measured
    /// window) while the `[chat]` section's groups publish.
    Connections {
        connections: usize,
        connect_rate: f64,
        hold: Duration,
    },
}

impl LoadPlan {
    pub fn duration(&self) -> Duration {
        match self {
            LoadPlan::Open { duration, .. } | LoadPlan::Closed { duration, .. } => *duration,
            LoadPlan::Connections { hold, .. } => *hold,
        }
    }

    /// Connections model: how long opening every connection takes at `connect_rate`.
    pub fn ramp(&self) -> Duration {
        match self {
            LoadPlan::Connections {
                connections,
                connect_rate,
                ..
            } => Duration::from_secs_f64(*connections as f64 / connect_rate),
            _ => Duration::ZERO,
        }
    }

    /// Open model: the highest planned rate; chat: the connect rate.
    pub fn peak_rate(&self) -> Option<f64> {
        match self {
            LoadPlan::Open { schedule, .. } => Some(schedule.peak_rate()),
            LoadPlan::Connections { connect_rate, .. } => Some(*connect_rate),
            LoadPlan::Closed { .. } => None,
        }
    }

    /// Open model: connections the peak rate needs if each answer takes `latency`
    /// (Little's law); 0 for the other models.
    pub fn connections_needed(&self, latency: Duration) -> f64 {
        match self {
            LoadPlan::Open { schedule, .. } => {
                (schedule.peak_rate() * latency.as_secs_f64()).ceil()
            }
            _ => 0.0,
        }
    }

    pub fn model(&self) -> LoadModel {
        match self {
            LoadPlan::Open { .. } => LoadModel::Open,
            LoadPlan::Closed { .. } => LoadModel::Closed,
            LoadPlan::Connections { .. } => LoadModel::Connections,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorPlan {
    pub threads: usize,
    /// Dropped requests over planned ones above which the run is invalid.
    pub max_dropped: f64,
    /// Send-lag p99 above which the run is invalid.
    pub max_send_lag_p99: Duration,
    /// Open model: requests due within this of one another share a wake-up of the
    /// scheduler, each still timed from its own intended start; zero wakes for each.
    pub wake_grain: Duration,
}

/// `loadctl run --shard K/N`: this run is generator K of N (from 0) of one run made on
/// several machines at once. It sends the open model's requests `i` with `i mod N = K`
/// of the one global schedule, or the closed model's virtual users `v` with
/// `v mod N = K`; `loadctl merge` puts the N run folders together exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub of: u64,
}

impl Shard {
    /// How many of the indices `from..to` are this shard's.
    pub fn share(&self, from: u64, to: u64) -> u64 {
        let count_below = |x: u64| {
            if x > self.index {
                (x - self.index).div_ceil(self.of)
            } else {
                0
            }
        };
        count_below(to) - count_below(from.min(to))
    }
}
