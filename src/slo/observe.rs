//! What an SLO metric observed: its value over one scope of a finished run (all requests,
//! one request name, or the fault windows), from the merged measurements of that scope.

use super::{Metric, Stat};
use crate::metrics::{percentile_ms, EndpointData, LatencyStats};

/// The measurements of one scope and the seconds they cover.
pub struct Scope<'a> {
    pub data: &'a EndpointData,
    pub window_s: f64,
}

/// The value of `metric` in `scope`, in the metric's canonical unit; `None` when the scope
/// has nothing to judge (no request completed). `loss_rate` is a chat run's.
pub fn value(metric: Metric, scope: &Scope<'_>, loss_rate: Option<f64>) -> Option<f64> {
    let e = scope.data;
    let f = e.figures(scope.window_s);
    let any = f.requests > 0;
    match metric {
        Metric::Latency(Stat::Percentile(p)) => percentile_ms(&e.latency, p),
        Metric::Latency(Stat::Max) => any.then(|| LatencyStats::of(&e.latency).max),
        Metric::Latency(Stat::Mean) => any.then(|| LatencyStats::of(&e.latency).mean),
        Metric::Phase(p, stat) => {
            let h = e.phase(p)?;
            match stat {
                Stat::Percentile(q) => percentile_ms(h, q),
                Stat::Max => Some(LatencyStats::of(h).max),
                Stat::Mean => Some(LatencyStats::of(h).mean),
            }
        }
        Metric::ErrorRate => any.then_some(f.error_rate),
        Metric::Availability => any.then_some(f.availability),
        Metric::Rps => Some(f.rps),
        Metric::LossRate => loss_rate,
        // Measured by the target: the run's judge takes them from its scrapes.
        Metric::ServerLatency(_) | Metric::ServerRps => None,
        // A fault's recovery: the run's judge takes it from the fault's record.
        Metric::RecoverySeconds => None,
        // The backends' shares: the run's judge takes them from the balance summary.
        Metric::Balance(_) => None,
        Metric::Outcome(i) => any.then(|| e.counts.outcomes[i as usize] as f64 / f.requests as f64),
    }
}
