//! The HorizontalPodAutoscaler's decision, as upstream's controller makes it
//! (`pkg/controller/podautoscaler/horizontal.go` and `replica_calculator.go`,
//! `autoscaling/v2`), one sync at a time:
//!
//! 1. A new controller records the current count as its first recommendation, so a fresh
//!    HPA does not scale down inside its stabilization window.
//! 2. `current == 0` with `minReplicas != 0`: autoscaling is disabled (ScalingActive false);
//!    above `maxReplicas` or below `minReplicas`: straight to the bound, without metrics.
//! 3. Per metric, the replica calculator ([`replicas`]): tolerance bounds included, unready
//!    and missing pods as upstream treats them; the largest across metrics. A metric that
//!    cannot be read stops the sync when nothing else asks for more (ScalingActive false).
//! 4. With `spec.behavior`: stabilised (scale-up window: the lowest recent
//!    recommendation; scale-down window: the highest; windows exclude their boundary), then
//!    limited by the direction's policies from the count at the start of each policy's
//!    period (`current − scaled up + scaled down` over the period, from both directions'
//!    events), never moving against the metric, and bounded by `[min, max]`.
//!    Without `spec.behavior` (the legacy rule): stabilised over the controller's
//!    downscale window only, scale-up limited to `max(2 × current, 4)` per sync.
//!
//! Pure and clocked by the caller: a simulated control plane drives it with the load a
//! reference service really receives, and loadctl's pre-run check asks it how fast an
//! expectation could be met at best. Its unit tests port upstream's table tests, each
//! citing the upstream test it comes from (`tests.rs`).
//!
//! What the model does not express, and why:
//! - Metric sources other than a resource's average utilisation (Pods, Object, External,
//!   container resources, `AverageValue` targets): the simulated cluster has CPU and
//!   memory utilisation only, and loadctl judges HPAs, it does not feed them.
//! - The CPU initialisation period and the delay of initial readiness (upstream's
//!   `--horizontal-pod-autoscaler-cpu-initialization-period`, 5 min, and
//!   `--horizontal-pod-autoscaler-initial-readiness-delay`, 30 s): the caller says which
//!   pods are unready; the simulated cluster counts a pod unready until its readiness delay.
//! - Conditions other than ScalingLimited and ScalingActive's disabled/failed states, event
//!   recording, `lastScaleTime`, and the API's `HPAScaleToZero` feature (`minReplicas: 0`
//!   is accepted, as upstream does with the gate on).
//! - Upstream's reuse of outdated event and recommendation slots is a memory detail: here
//!   they are pruned once older than every window and period, which decides the same.
//! - Several HPAs on one target (upstream refuses to act: `AmbiguousSelector`).

mod replicas;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Duration;

pub use replicas::{replicas, Calculated, PodSample, Tolerances};

/// The controller's default sync period.
pub const SYNC_PERIOD: Duration = Duration::from_secs(15);
/// `--horizontal-pod-autoscaler-tolerance`'s default.
pub const TOLERANCE: f64 = 0.1;
/// `--horizontal-pod-autoscaler-downscale-stabilization`'s default: the legacy rule's window.
pub const DOWNSCALE_STABILIZATION: Duration = Duration::from_secs(300);
/// The legacy rule's scale-up limit: `max(factor × current, minimum)` per sync.
const SCALE_UP_LIMIT_FACTOR: f64 = 2.0;
const SCALE_UP_LIMIT_MINIMUM: f64 = 4.0;

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
    /// `behavior.scale{Up,Down}.tolerance` (Kubernetes 1.33+); `None`: the controller's.
    pub tolerance: Option<f64>,
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
                tolerance: None,
            },
            down: Rules {
                stabilization: Duration::from_secs(300),
                select: Select::Max,
                policies: vec![p(PolicyKind::Percent, 100)],
                tolerance: None,
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
    /// ScalingActive: false when autoscaling is disabled (the target has 0 replicas) or no
    /// metric could be read.
    pub active: bool,
}

impl Decision {
    fn new(desired: u32, limited: Option<Limit>) -> Self {
        Decision {
            desired,
            limited,
            active: true,
        }
    }
}

/// What one metric observed at a sync.
#[derive(Debug, Clone, Copy)]
pub enum Observed<'a> {
    /// The average utilisation over the target's pods, percent: every pod ready and counted.
    Utilization(f64),
    /// Per pod, for the replica calculator.
    Pods(&'a [PodSample]),
    /// The metric could not be read.
    Unavailable,
}

/// One HPA's controller state.
#[derive(Debug, Clone)]
pub struct Hpa {
    pub min: u32,
    pub max: u32,
    /// Target average utilisation per metric, percent.
    pub targets: Vec<f64>,
    /// The controller's tolerance, where the behavior sets none.
    pub tolerance: f64,
    /// `spec.behavior`, defaults filled in; `None`: the legacy rule.
    pub behavior: Option<Behavior>,
    /// The legacy rule's stabilization window (the controller's flag).
    pub downscale_stabilization: Duration,
    /// Unstabilised recommendations; `None` until the first sync.
    recommendations: Option<VecDeque<(Duration, u32)>>,
    /// Replicas added, and removed, by the syncs that changed the count.
    up_events: VecDeque<(Duration, u32)>,
    down_events: VecDeque<(Duration, u32)>,
}

/// `t` lies strictly inside the window of length `w` ending at `now`, as upstream's
/// `timestamp.After(now - w)`.
fn inside(t: Duration, w: Duration, now: Duration) -> bool {
    t + w > now
}

impl Hpa {
    /// An HPA with `spec.behavior` (defaults filled in).
    pub fn new(min: u32, max: u32, targets: Vec<f64>, behavior: Behavior) -> Self {
        Self::with(min, max, targets, Some(behavior))
    }

    /// An HPA without `spec.behavior`: the controller's legacy rule.
    pub fn legacy(min: u32, max: u32, targets: Vec<f64>) -> Self {
        Self::with(min, max, targets, None)
    }

    pub fn with(min: u32, max: u32, targets: Vec<f64>, behavior: Option<Behavior>) -> Self {
        Hpa {
            min,
            max,
            targets,
            tolerance: TOLERANCE,
            behavior,
            downscale_stabilization: DOWNSCALE_STABILIZATION,
            recommendations: None,
            up_events: VecDeque::new(),
            down_events: VecDeque::new(),
        }
    }

    fn tolerances(&self) -> Tolerances {
        let (up, down) = match &self.behavior {
            Some(b) => (b.up.tolerance, b.down.tolerance),
            None => (None, None),
        };
        Tolerances {
            up: up.unwrap_or(self.tolerance),
            down: down.unwrap_or(self.tolerance),
        }
    }

    /// What the metrics alone ask for, each metric its average utilisation (percent): the
    /// current count inside the tolerance; the largest across metrics.
    pub fn raw(&self, current: u32, observed: &[f64]) -> u32 {
        let obs: Vec<Observed<'_>> = observed.iter().map(|o| Observed::Utilization(*o)).collect();
        self.metric_replicas(current, &obs).unwrap_or(current)
    }

    /// Per metric, the replicas it asks for; `None` when a metric could not be read and
    /// the others do not ask for more than `current`, or none could be read.
    fn metric_replicas(&self, current: u32, observed: &[Observed<'_>]) -> Option<u32> {
        let tol = self.tolerances();
        let mut best: Option<u32> = None;
        let mut invalid = 0;
        for (target, obs) in self.targets.iter().zip(observed) {
            let n = match *obs {
                Observed::Utilization(u) => {
                    let ratio = u / target;
                    Some(if tol.within(ratio) {
                        current
                    } else {
                        replicas::clamp(f64::from(current) * ratio)
                    })
                }
                Observed::Pods(pods) => {
                    replicas(current, pods, target.round() as u32, tol).map(|c| c.replicas)
                }
                Observed::Unavailable => None,
            };
            match n {
                Some(n) => best = Some(best.map_or(n, |b| b.max(n))),
                None => invalid += 1,
            }
        }
        match best {
            Some(b) if invalid == 0 || b > current => Some(b),
            _ => None,
        }
    }

    /// One sync at `now` (time since any fixed origin) with `current` replicas and the
    /// observed utilisation of each metric (percent, in the order of `targets`).
    pub fn sync(&mut self, now: Duration, current: u32, observed: &[f64]) -> Decision {
        let obs: Vec<Observed<'_>> = observed.iter().map(|o| Observed::Utilization(*o)).collect();
        self.sync_with(now, current, &obs)
    }

    /// One sync with each metric's observation as the metrics API gives it.
    pub fn sync_with(
        &mut self,
        now: Duration,
        current: u32,
        observed: &[Observed<'_>],
    ) -> Decision {
        self.recommendations
            .get_or_insert_with(|| VecDeque::from([(now, current)]));
        let decision = if current == 0 && self.min != 0 {
            // The target was scaled to zero by hand: autoscaling is off until it is not.
            return Decision {
                desired: 0,
                limited: None,
                active: false,
            };
        } else if current > self.max {
            Decision::new(self.max, None)
        } else if current < self.min {
            Decision::new(self.min, None)
        } else {
            let Some(raw) = self.metric_replicas(current, observed) else {
                return Decision {
                    desired: current,
                    limited: None,
                    active: false,
                };
            };
            self.normalize(now, current, raw)
        };
        if decision.desired != current {
            self.store_event(now, current, decision.desired);
        }
        self.prune(now);
        decision
    }

    /// Stabilises and limits the metrics' recommendation `raw`.
    fn normalize(&mut self, now: Duration, current: u32, raw: u32) -> Decision {
        match self.behavior.clone() {
            None => {
                let stabilized = self.stabilize_legacy(now, raw);
                let (d, l) = legacy_rules(current, stabilized, self.min, self.max);
                Decision::new(d, l)
            }
            Some(b) => {
                let stabilized = self.stabilize(now, current, raw, &b);
                let (d, l) = self.limit_rate(now, current, stabilized, &b);
                Decision::new(d, l)
            }
        }
    }

    /// The legacy rule's stabilisation: the highest recommendation of the window.
    fn stabilize_legacy(&mut self, now: Duration, raw: u32) -> u32 {
        let w = self.downscale_stabilization;
        let recs = self.recommendations.get_or_insert_with(VecDeque::new);
        let best = recs
            .iter()
            .filter(|(t, _)| inside(*t, w, now))
            .map(|(_, r)| *r)
            .fold(raw, u32::max);
        recs.push_back((now, raw));
        best
    }

    /// Up to the lowest recommendation of the scale-up window, down to the highest of the
    /// scale-down window, from the current count.
    fn stabilize(&mut self, now: Duration, current: u32, raw: u32, b: &Behavior) -> u32 {
        let recs = self.recommendations.get_or_insert_with(VecDeque::new);
        let (mut up, mut down) = (raw, raw);
        for (t, r) in recs.iter() {
            if inside(*t, b.up.stabilization, now) {
                up = up.min(*r);
            }
            if inside(*t, b.down.stabilization, now) {
                down = down.max(*r);
            }
        }
        recs.push_back((now, raw));
        current.max(up).min(down)
    }

    /// The direction's policies and the `[min, max]` bounds applied to `desired`.
    pub(crate) fn limit_rate(
        &self,
        now: Duration,
        current: u32,
        desired: u32,
        b: &Behavior,
    ) -> (u32, Option<Limit>) {
        if desired > current {
            // Past events may have used the period's budget: never below the current count.
            let limit = self.up_limit(now, current, &b.up).max(i64::from(current));
            let (most, why) = if i64::from(self.max) > limit {
                (limit as u32, Limit::ScaleUpLimit)
            } else {
                (self.max, Limit::TooMany)
            };
            if desired > most {
                return (most, Some(why));
            }
        } else if desired < current {
            let limit = self
                .down_limit(now, current, &b.down)
                .min(i64::from(current));
            let (least, why) = if i64::from(self.min) < limit {
                (limit as u32, Limit::ScaleDownLimit)
            } else {
                (self.min, Limit::TooFew)
            };
            if desired < least {
                return (least, Some(why));
            }
        }
        (desired, None)
    }

    /// Replicas changed in the `period` before `now`, from one direction's events.
    fn changed(events: &VecDeque<(Duration, u32)>, period: Duration, now: Duration) -> i64 {
        events
            .iter()
            .filter(|(t, _)| inside(*t, period, now))
            .map(|(_, n)| i64::from(*n))
            .sum()
    }

    /// The count each policy's period started from: `current − scaled up + scaled down`.
    fn period_start(&self, now: Duration, current: u32, period: Duration) -> i64 {
        i64::from(current) - Self::changed(&self.up_events, period, now)
            + Self::changed(&self.down_events, period, now)
    }

    fn up_limit(&self, now: Duration, current: u32, r: &Rules) -> i64 {
        let proposals = r.policies.iter().map(|p| {
            let start = self.period_start(now, current, p.period);
            match p.kind {
                PolicyKind::Pods => start + i64::from(p.value),
                // Rounded up, or a small count could never grow.
                PolicyKind::Percent => {
                    (start as f64 * (1.0 + f64::from(p.value) / 100.0)).ceil() as i64
                }
            }
        });
        match r.select {
            Select::Disabled => i64::from(current),
            Select::Max => proposals.max().unwrap_or(i64::MIN),
            Select::Min => proposals.min().unwrap_or(i64::MAX),
        }
    }

    fn down_limit(&self, now: Duration, current: u32, r: &Rules) -> i64 {
        let proposals = r.policies.iter().map(|p| {
            let start = self.period_start(now, current, p.period);
            match p.kind {
                PolicyKind::Pods => start - i64::from(p.value),
                // Truncated, as upstream's conversion to int32.
                PolicyKind::Percent => (start as f64 * (1.0 - f64::from(p.value) / 100.0)) as i64,
            }
        });
        match r.select {
            Select::Disabled => i64::from(current),
            // The policy allowing the most change is the one leaving the fewest replicas.
            Select::Max => proposals.min().unwrap_or(i64::MAX),
            Select::Min => proposals.max().unwrap_or(i64::MIN),
        }
    }

    /// Records a change; only an HPA with `behavior` keeps events (upstream: they would
    /// never be read).
    fn store_event(&mut self, now: Duration, from: u32, to: u32) {
        if self.behavior.is_none() {
            return;
        }
        if to > from {
            self.up_events.push_back((now, to - from));
        } else {
            self.down_events.push_back((now, from - to));
        }
    }

    /// Drops what no window or period can still see.
    fn prune(&mut self, now: Duration) {
        let (keep_recs, up_period, down_period) = match &self.behavior {
            Some(b) => {
                let longest = |r: &Rules| {
                    r.policies
                        .iter()
                        .map(|p| p.period)
                        .max()
                        .unwrap_or_default()
                };
                (
                    b.up.stabilization.max(b.down.stabilization),
                    longest(&b.up),
                    longest(&b.down),
                )
            }
            None => (self.downscale_stabilization, Duration::ZERO, Duration::ZERO),
        };
        if let Some(recs) = &mut self.recommendations {
            // The newest stays: it is the last word even when every window is empty.
            while recs.len() > 1
                && recs
                    .front()
                    .is_some_and(|(t, _)| !inside(*t, keep_recs, now))
            {
                recs.pop_front();
            }
        }
        while self
            .up_events
            .front()
            .is_some_and(|(t, _)| !inside(*t, up_period, now))
        {
            self.up_events.pop_front();
        }
        while self
            .down_events
            .front()
            .is_some_and(|(t, _)| !inside(*t, down_period, now))
        {
            self.down_events.pop_front();
        }
    }

    /// Test support: start from a recorded history of recommendations and events (each
    /// as `(age, value)` before `now`), as upstream's tests seed their controllers.
    #[cfg(test)]
    pub(crate) fn seeded(
        mut self,
        now: Duration,
        recommendations: Option<&[(u64, u32)]>,
        up: &[(u64, u32)],
        down: &[(u64, u32)],
    ) -> Self {
        let at = |age: u64| now.saturating_sub(Duration::from_secs(age));
        self.recommendations =
            recommendations.map(|r| r.iter().map(|(a, v)| (at(*a), *v)).collect());
        self.up_events = up.iter().map(|(a, v)| (at(*a), *v)).collect();
        self.down_events = down.iter().map(|(a, v)| (at(*a), *v)).collect();
        self
    }
}

/// The legacy rule's bounds: `[min, max]`, and at most `max(2 × current, 4)`.
pub(crate) fn legacy_rules(current: u32, desired: u32, min: u32, max: u32) -> (u32, Option<Limit>) {
    let scale_up_limit =
        (SCALE_UP_LIMIT_FACTOR * f64::from(current)).max(SCALE_UP_LIMIT_MINIMUM) as u32;
    let (most, why) = if max > scale_up_limit {
        (scale_up_limit, Limit::ScaleUpLimit)
    } else {
        (max, Limit::TooMany)
    };
    if desired < min {
        (min, Some(Limit::TooFew))
    } else if desired > most {
        (most, Some(why))
    } else {
        (desired, None)
    }
}

/// At best, how long after load arrives the decision can reach `n` replicas from
/// `current`: the metrics ask for far more at every sync from the very first one, so only
/// the sync period, the scale-up policies and the stabilisation window hold it back.
/// `None` when it can never get there (`n` above `max`, or scale-up disabled).
pub fn best_case(
    min: u32,
    max: u32,
    behavior: Option<&Behavior>,
    current: u32,
    n: u32,
) -> Option<Duration> {
    if n > max {
        return None;
    }
    if current >= n {
        return Some(Duration::ZERO);
    }
    let mut h = Hpa::with(min, max, vec![100.0], behavior.cloned());
    // The idle past: recommendations at the current size over the windows.
    let window = behavior.map_or(DOWNSCALE_STABILIZATION, |b| {
        b.up.stabilization.max(b.down.stabilization)
    });
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
