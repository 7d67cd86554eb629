//! The HorizontalPodAutoscaler's decision, as Kubernetes documents and implements it
//! (`autoscaling/v2`): per metric `desired = ceil(current × observed / target)` unless the
//! ratio is within the tolerance (10%); the largest across metrics; stabilised over the
//! scale-up and scale-down windows; limited by the direction's policies (`Pods` or
//! `Percent` per period, `selectPolicy` Max / Min / Disabled); clamped to `[min, max]`.
//!
//! Pure and clocked by the caller: a simulated control plane drives it with the load a
//! reference service really receives, and loadctl's pre-run check asks it how fast an
//! expectation could be met at best.

use std::collections::VecDeque;
use std::time::Duration;

/// The controller's default sync period.
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);
/// `--horizontal-pod-autoscaler-tolerance`'s default.
pub const TOLERANCE: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub kind: PolicyKind,
    pub value: u32,
    pub period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Max,
    Min,
    Disabled,
}

/// One direction's `behavior`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub stabilization: Duration,
    pub select: Select,
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    pub up: Rules,
    pub down: Rules,
}

impl Default for Behavior {
    /// Kubernetes' defaults: up at once by 100% or 4 pods per 15 s (the larger); down after
    /// a 300 s window by up to 100% per 15 s.
    fn default() -> Self {
        let p = |kind, value| Policy {
            kind,
            value,
            period: Duration::from_secs(15),
        };
        Behavior {
            up: Rules {
                stabilization: Duration::ZERO,
                select: Select::Max,
                policies: vec![p(PolicyKind::Percent, 100), p(PolicyKind::Pods, 4)],
            },
            down: Rules {
                stabilization: Duration::from_secs(300),
                select: Select::Max,
                policies: vec![p(PolicyKind::Percent, 100)],
            },
        }
    }
}

/// Why the decision is not what the metrics alone ask for (the `ScalingLimited` condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Clamped to `maxReplicas` (`TooManyReplicas`).
    TooMany,
    /// Clamped to `minReplicas` (`TooFewReplicas`).
    TooFew,
    /// Held back by a scale-up policy (`ScaleUpLimit`).
    ScaleUpLimit,
    /// Held back by a scale-down policy (`ScaleDownLimit`).
    ScaleDownLimit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub desired: u32,
    pub limited: Option<Limit>,
}

/// One HPA's controller state.
#[derive(Debug, Clone)]
pub struct Hpa {
    pub min: u32,
    pub max: u32,
    /// Target average utilisation per metric, percent.
    pub targets: Vec<f64>,
    pub tolerance: f64,
    pub behavior: Behavior,
    recommendations: VecDeque<(Duration, u32)>,
    /// (when, replicas added (+) or removed (−)).
    events: VecDeque<(Duration, i64)>,
}

impl Hpa {
    pub fn new(min: u32, max: u32, targets: Vec<f64>, behavior: Behavior) -> Self {
        Hpa {
            min,
            max,
            targets,
            tolerance: TOLERANCE,
            behavior,
            recommendations: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// What the metrics alone ask for: per metric, `ceil(current × observed / target)`
    /// outside the tolerance, the current count inside it; the largest.
    pub fn raw(&self, current: u32, observed: &[f64]) -> u32 {
        self.targets
            .iter()
            .zip(observed)
            .map(|(target, obs)| {
                let ratio = obs / target;
                if (ratio - 1.0).abs() <= self.tolerance {
                    current
                } else {
                    (f64::from(current) * ratio).ceil() as u32
                }
            })
            .max()
            .unwrap_or(current)
    }

    /// One sync at `now` (time since any fixed origin) with `current` replicas and the
    /// observed utilisation of each metric (percent, in the order of `targets`).
    pub fn sync(&mut self, now: Duration, current: u32, observed: &[f64]) -> Decision {
        let raw = self.raw(current, observed);
        self.recommendations.push_back((now, raw));
        let keep = self
            .behavior
            .up
            .stabilization
            .max(self.behavior.down.stabilization);
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| now.saturating_sub(*t) > keep)
        {
            self.recommendations.pop_front();
        }
        // Stabilise: up to the lowest recommendation of the up window, down to the
        // highest of the down window.
        let within = |w: Duration| {
            self.recommendations
                .iter()
                .filter(move |(t, _)| now.saturating_sub(*t) <= w)
                .map(|(_, r)| *r)
        };
        let up_floor = within(self.behavior.up.stabilization).min().unwrap_or(raw);
        let down_ceiling = within(self.behavior.down.stabilization)
            .max()
            .unwrap_or(raw);
        let mut stabilized = current;
        if stabilized < up_floor {
            stabilized = up_floor;
        }
        if stabilized > down_ceiling {
            stabilized = down_ceiling;
        }

        let mut limited = None;
        let mut desired = stabilized;
        if stabilized > current {
            let limit = self.up_limit(now, current);
            if desired > limit {
                desired = limit;
                limited = Some(Limit::ScaleUpLimit);
            }
        } else if stabilized < current {
            let limit = self.down_limit(now, current);
            if desired < limit {
                desired = limit;
                limited = Some(Limit::ScaleDownLimit);
            }
        }
        if desired > self.max {
            desired = self.max;
            limited = Some(Limit::TooMany);
        } else if desired < self.min {
            desired = self.min;
            limited = Some(Limit::TooFew);
        }
        if desired != current {
            self.events
                .push_back((now, i64::from(desired) - i64::from(current)));
        }
        let longest = self
            .behavior
            .up
            .policies
            .iter()
            .chain(&self.behavior.down.policies)
            .map(|p| p.period)
            .max()
            .unwrap_or(Duration::ZERO);
        while self
            .events
            .front()
            .is_some_and(|(t, _)| now.saturating_sub(*t) > longest)
        {
            self.events.pop_front();
        }
        Decision { desired, limited }
    }

    fn changed_within(&self, now: Duration, period: Duration, up: bool) -> i64 {
        self.events
            .iter()
            .filter(|(t, d)| now.saturating_sub(*t) < period && (*d > 0) == up)
            .map(|(_, d)| d.abs())
            .sum()
    }

    fn up_limit(&self, now: Duration, current: u32) -> u32 {
        let r = &self.behavior.up;
        let limits = r.policies.iter().map(|p| {
            let start = i64::from(current) - self.changed_within(now, p.period, true);
            let start = start.max(0) as f64;
            match p.kind {
                PolicyKind::Pods => (start + f64::from(p.value)) as u32,
                PolicyKind::Percent => (start * (1.0 + f64::from(p.value) / 100.0)).ceil() as u32,
            }
        });
        match r.select {
            Select::Disabled => current,
            Select::Max => limits.max().unwrap_or(u32::MAX),
            Select::Min => limits.min().unwrap_or(u32::MAX),
        }
    }

    fn down_limit(&self, now: Duration, current: u32) -> u32 {
        let r = &self.behavior.down;
        let limits = r.policies.iter().map(|p| {
            let start = (i64::from(current) + self.changed_within(now, p.period, false)) as f64;
            let l = match p.kind {
                PolicyKind::Pods => start - f64::from(p.value),
                PolicyKind::Percent => (start * (1.0 - f64::from(p.value) / 100.0)).ceil(),
            };
            l.max(0.0) as u32
        });
        match r.select {
            Select::Disabled => current,
            // The policy allowing the most change is the one leaving the fewest replicas.
            Select::Max => limits.min().unwrap_or(0),
            Select::Min => limits.max().unwrap_or(0),
        }
    }
}

/// At best, how long after load arrives the decision can reach `n` replicas from
/// `current`: the metrics ask for far more at every sync from the very first one, so only
/// the sync period, the scale-up policies and the stabilisation window hold it back.
/// `None` when it can never get there (`n` above `max`, or scale-up disabled).
pub fn best_case(
    min: u32,
    max: u32,
    behavior: &Behavior,
    current: u32,
    n: u32,
) -> Option<Duration> {
    if n > max {
        return None;
    }
    if current >= n {
        return Some(Duration::ZERO);
    }
    let mut h = Hpa::new(min, max, vec![100.0], behavior.clone());
    // The idle past: recommendations at the current size over the windows.
    let window = behavior.up.stabilization.max(behavior.down.stabilization);
    let past = (window.as_secs() / SYNC_PERIOD.as_secs()) as u32 + 1;
    let base = SYNC_PERIOD * (past + 1);
    for k in (1..=past).rev() {
        h.sync(base - SYNC_PERIOD * k, current, &[100.0]);
    }
    let mut cur = current;
    // Enough syncs for any policy that makes progress at all to reach `max`.
    for k in 0..(4 * max + 64) {
        cur = h.sync(base + SYNC_PERIOD * k, cur, &[1e6]).desired;
        if cur >= n {
            return Some(SYNC_PERIOD * k);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn best_case_counts_sync_periods() {
        let b = Behavior::default();
        // 5 → 10 at the first sync, → 20 at the second (100 % per 15 s).
        assert_eq!(best_case(5, 20, &b, 5, 10), Some(secs(0)));
        assert_eq!(best_case(5, 20, &b, 5, 20), Some(secs(15)));
        assert_eq!(best_case(5, 20, &b, 5, 21), None);
        let mut slow = Behavior::default();
        slow.up.policies = vec![Policy {
            kind: PolicyKind::Pods,
            value: 1,
            period: secs(60),
        }];
        slow.up.stabilization = secs(30);
        // The 30 s window holds the first step back; then one pod a minute: 6 at 30 s,
        // 7 at 90 s, 8 at 150 s.
        assert_eq!(best_case(5, 20, &slow, 5, 8), Some(secs(150)));
        slow.up.select = Select::Disabled;
        assert_eq!(best_case(5, 20, &slow, 5, 8), None);
    }

    #[test]
    fn desired_follows_the_ratio_outside_the_tolerance() {
        let h = Hpa::new(3, 10, vec![70.0], Behavior::default());
        assert_eq!(h.raw(4, &[140.0]), 8);
        assert_eq!(h.raw(4, &[75.0]), 4, "within 10%: no change");
        assert_eq!(h.raw(4, &[35.0]), 2);
        // Two metrics: the larger wins.
        let h = Hpa::new(3, 10, vec![70.0, 80.0], Behavior::default());
        assert_eq!(h.raw(4, &[35.0, 160.0]), 8);
    }

    #[test]
    fn default_scale_up_is_the_larger_of_100_percent_and_4_pods() {
        let mut h = Hpa::new(5, 20, vec![65.0], Behavior::default());
        // 5 replicas at 4× the target want 20; one period allows max(5 + 4, 10) = 10.
        let d = h.sync(secs(0), 5, &[260.0]);
        assert_eq!(
            d,
            Decision {
                desired: 10,
                limited: Some(Limit::ScaleUpLimit)
            }
        );
        // Within the same 15 s period nothing more is allowed (start of period: 5).
        assert_eq!(h.sync(secs(10), 10, &[130.0]).desired, 10);
        // Next period: from 10, up to 20.
        assert_eq!(h.sync(secs(20), 10, &[130.0]).desired, 20);
        // Beyond max: clamped and marked.
        assert_eq!(
            h.sync(secs(40), 20, &[130.0]),
            Decision {
                desired: 20,
                limited: Some(Limit::TooMany)
            }
        );
    }

    #[test]
    fn scale_down_waits_for_its_stabilization_window() {
        let mut h = Hpa::new(3, 10, vec![70.0], Behavior::default());
        assert_eq!(h.sync(secs(0), 8, &[70.0]).desired, 8);
        // Load drops: the metrics ask for 4, but the last 300 s held a recommendation of 8.
        assert_eq!(h.sync(secs(15), 8, &[35.0]).desired, 8);
        assert_eq!(h.sync(secs(299), 8, &[35.0]).desired, 8);
        // Once the 8 is older than the window, the highest left is 4.
        assert_eq!(h.sync(secs(301), 8, &[35.0]).desired, 4);
        // And never below min.
        assert_eq!(
            h.sync(secs(700), 4, &[5.0]),
            Decision {
                desired: 3,
                limited: Some(Limit::TooFew)
            }
        );
    }

    #[test]
    fn policies_select_and_disable() {
        let pods = |v| Policy {
            kind: PolicyKind::Pods,
            value: v,
            period: secs(60),
        };
        let mut b = Behavior {
            up: Rules {
                stabilization: Duration::ZERO,
                select: Select::Min,
                policies: vec![pods(1), pods(3)],
            },
            ..Behavior::default()
        };
        let mut h = Hpa::new(1, 50, vec![50.0], b.clone());
        assert_eq!(
            h.sync(secs(0), 2, &[500.0]).desired,
            3,
            "Min: the smaller step"
        );
        b.up.select = Select::Disabled;
        let mut h = Hpa::new(1, 50, vec![50.0], b);
        assert_eq!(
            h.sync(secs(0), 2, &[500.0]).desired,
            2,
            "Disabled: no scale-up"
        );
    }
}
