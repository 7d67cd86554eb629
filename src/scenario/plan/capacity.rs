//! `[capacity]`: how `loadctl capacity` searches for the highest rate the scenario's SLOs
//! hold at: the range, the precision, each step's settle and judged time, repeats near the
//! boundary, the confirming hold, and the requirement a CI gate checks.

use std::time::Duration;

use crate::slo::Op;

#[derive(Debug, Clone, PartialEq)]
pub struct CapacityPlan {
    /// The first rate tried (requests, or iterations of a flow, per second).
    pub min: f64,
    /// No rate above this is tried: a search that passes here reports `max`.
    pub max: f64,
    /// Bisection ends when the failing and passing rates are within this fraction.
    pub precision: f64,
    /// Each step's judged window.
    pub step: Duration,
    /// Each step's lead-in, not judged: queues and caches reach steady state.
    pub settle: Duration,
    /// Runs of each boundary rate (≥ 1); more than one reports the spread.
    pub trials: usize,
    /// A sustained run at the found capacity that must pass too.
    pub hold: Option<Duration>,
    /// `require = ">= 5000"`: the capacity a CI gate demands.
    pub require: Option<(Op, f64)>,
    /// With `[kube]`: the watched HPAs must have kept their desired replicas this long
    /// before a step is judged…
    pub hpa_stable: Duration,
    /// …waiting at most this long (then the step is judged anyway, and says so).
    pub hpa_settle_max: Duration,
}

impl Default for CapacityPlan {
    fn default() -> Self {
        CapacityPlan {
            min: 100.0,
            max: 100_000.0,
            precision: 0.05,
            step: Duration::from_secs(20),
            settle: Duration::from_secs(5),
            trials: 1,
            hold: None,
            require: None,
            hpa_stable: Duration::from_secs(15),
            hpa_settle_max: Duration::from_secs(120),
        }
    }
}

impl CapacityPlan {
    /// The rates exponential growth tries: `min`, 2×, 4×, … up to `max` (included).
    pub fn growth(&self) -> Vec<f64> {
        let mut rates = Vec::new();
        let mut r = self.min;
        while r < self.max {
            rates.push(r);
            r *= 2.0;
        }
        rates.push(self.max);
        rates
    }

    /// Bisection steps after growth brackets the capacity in `[r, 2r]`.
    pub fn bisections(&self) -> usize {
        // Each halves the gap; stop when it is within `precision` of the lower rate.
        let mut gap = 1.0f64;
        let mut n = 0;
        while gap > self.precision && n < 64 {
            gap /= 2.0;
            n += 1;
        }
        n
    }

    /// The most steps a search can take, and how long it can last at worst.
    pub fn worst_case(&self) -> (usize, Duration) {
        let steps = (self.growth().len() + self.bisections()) + 2 * (self.trials - 1);
        let per = self.settle + self.step;
        let total = per * steps as u32 + self.hold.unwrap_or_default();
        (steps, total)
    }
}
