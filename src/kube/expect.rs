//! Judging an autoscaler's timeline: what a watched HPA and its Deployment did during a run
//! (a point per observed change, timed from the start of the load), and whether that meets
//! the scenario's expectations. Pure: a timeline in, a verdict out.
//!
//! Two views of "replicas": the **decision** (the HPA's `status.desiredReplicas`) and the
//! **capacity** (the Deployment's `readyReplicas`). A scale-out that was decided in time but
//! whose pods became ready late is a different failure from one decided late, so they are
//! reported apart.

use std::time::Duration;

pub use crate::scenario::plan::kube::{Basis, Expectation};

/// The state after one observed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Since the load started.
    pub at: Duration,
    /// HPA `status.desiredReplicas`.
    pub desired: u32,
    /// Deployment `status.readyReplicas`.
    pub ready: u32,
    /// HPA condition `ScalingLimited` is True with reason `TooManyReplicas`: pinned at
    /// maxReplicas. (`TooFewReplicas` is the normal state of an idle HPA, and policy
    /// limits are its normal pace; neither is a ceiling.)
    pub limited: bool,
}

/// What a timeline shows, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub initial_desired: u32,
    /// First time the decision rose above its initial value.
    pub first_scale_up: Option<Duration>,
    pub max_desired: u32,
    pub max_ready: u32,
    /// `(start, end)` of each period `ScalingLimited` was True; `end` is `None` when it still
    /// was at the end.
    pub limited: Vec<(Duration, Option<Duration>)>,
    /// First time the decision fell after having reached its maximum.
    pub scale_down_start: Option<Duration>,
}

/// When `basis` first reached `n`, if it did.
pub fn reached(timeline: &[Point], n: u32, basis: Basis) -> Option<Duration> {
    timeline
        .iter()
        .find(|p| match basis {
            Basis::Decision => p.desired >= n,
            Basis::Capacity => p.ready >= n,
        })
        .map(|p| p.at)
}

pub fn summarize(timeline: &[Point]) -> Summary {
    let initial = timeline.first().map_or(0, |p| p.desired);
    let max_desired = timeline.iter().map(|p| p.desired).max().unwrap_or(0);
    let mut limited = Vec::new();
    let mut open: Option<Duration> = None;
    for p in timeline {
        match (p.limited, open) {
            (true, None) => open = Some(p.at),
            (false, Some(start)) => {
                limited.push((start, Some(p.at)));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        limited.push((start, None));
    }
    let peak_at = timeline.iter().position(|p| p.desired == max_desired);
    Summary {
        initial_desired: initial,
        first_scale_up: timeline.iter().find(|p| p.desired > initial).map(|p| p.at),
        max_desired,
        max_ready: timeline.iter().map(|p| p.ready).max().unwrap_or(0),
        limited,
        scale_down_start: peak_at.and_then(|i| {
            timeline[i..]
                .iter()
                .find(|p| p.desired < max_desired)
                .map(|p| p.at)
        }),
    }
}

/// Judges one expectation: whether it held, and what was seen, in words.
pub fn judge(timeline: &[Point], e: &Expectation) -> (bool, String) {
    match *e {
        Expectation::ReplicasAtLeast { n, within, basis } => {
            let what = match basis {
                Basis::Decision => "desired",
                Basis::Capacity => "ready",
            };
            match reached(timeline, n, basis) {
                Some(at) => (
                    at <= within,
                    format!("{what} replicas reached {n} at {:.1} s", at.as_secs_f64()),
                ),
                None => {
                    let max = timeline
                        .iter()
                        .map(|p| match basis {
                            Basis::Decision => p.desired,
                            Basis::Capacity => p.ready,
                        })
                        .max()
                        .unwrap_or(0);
                    (
                        false,
                        format!("{what} replicas never reached {n} (at most {max})"),
                    )
                }
            }
        }
        Expectation::NeverLimited => {
            let s = summarize(timeline);
            match s.limited.first() {
                None => (true, "never limited".into()),
                Some((start, _)) => (
                    false,
                    format!(
                        "ScalingLimited from {:.1} s ({} period{})",
                        start.as_secs_f64(),
                        s.limited.len(),
                        if s.limited.len() == 1 { "" } else { "s" }
                    ),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(at: u64, desired: u32, ready: u32, limited: bool) -> Point {
        Point {
            at: Duration::from_secs(at),
            desired,
            ready,
            limited,
        }
    }

    /// 5 → 10 decided at 30 s, ready at 75 s; → 20 at 45 s (limited at max from 60 s),
    /// ready at 110 s; down from 400 s.
    fn scale_out() -> Vec<Point> {
        vec![
            p(0, 5, 5, false),
            p(30, 10, 5, false),
            p(45, 20, 5, false),
            p(60, 20, 7, true),
            p(75, 20, 10, true),
            p(110, 20, 20, true),
            p(300, 20, 20, false),
            p(400, 14, 20, false),
            p(420, 14, 14, false),
        ]
    }

    #[test]
    fn decision_and_capacity_are_judged_apart() {
        let t = scale_out();
        let at_least = |n, within, basis| Expectation::ReplicasAtLeast {
            n,
            within: Duration::from_secs(within),
            basis,
        };
        assert_eq!(
            judge(&t, &at_least(10, 60, Basis::Decision)),
            (true, "desired replicas reached 10 at 30.0 s".into())
        );
        assert_eq!(
            judge(&t, &at_least(10, 60, Basis::Capacity)),
            (false, "ready replicas reached 10 at 75.0 s".into())
        );
        assert_eq!(
            judge(&t, &at_least(25, 600, Basis::Decision)),
            (
                false,
                "desired replicas never reached 25 (at most 20)".into()
            )
        );
    }

    #[test]
    fn limited_periods_and_scale_down() {
        let t = scale_out();
        let s = summarize(&t);
        assert_eq!(s.first_scale_up, Some(Duration::from_secs(30)));
        assert_eq!((s.max_desired, s.max_ready), (20, 20));
        assert_eq!(
            s.limited,
            [(Duration::from_secs(60), Some(Duration::from_secs(300)))]
        );
        assert_eq!(s.scale_down_start, Some(Duration::from_secs(400)));
        assert_eq!(
            judge(&t, &Expectation::NeverLimited),
            (false, "ScalingLimited from 60.0 s (1 period)".into())
        );
        let calm = [p(0, 3, 3, false), p(30, 4, 3, false)];
        assert!(judge(&calm, &Expectation::NeverLimited).0);
        assert_eq!(summarize(&calm).scale_down_start, None);
    }
}
