//! The Deployment controller's rolling update in the simulated control plane: a change of
//! the pod template (as `kubectl rollout restart` makes, through a PATCH of
//! `spec.template.metadata.annotations`) starts a new template generation, and each
//! controller step creates new pods and removes old ones within the Deployment's default
//! strategy (`maxSurge` 25 % rounded up, `maxUnavailable` 25 % rounded down, as upstream
//! defaults them), old unready pods first.
//!
//! A removed pod is taken out of the endpoints, then stopped after its grace period. With
//! `prestop_drain` (the default) its in-flight requests finish first, as a preStop hook
//! that waits for the endpoints to catch up makes them; without it, the requests routed to
//! it fail until the endpoints catch up, as when a pod gets SIGTERM with no preStop.

use std::time::Duration;

use super::{Cluster, StateInner};

/// The pod's terminationGracePeriodSeconds (Kubernetes' default).
pub const GRACE: Duration = Duration::from_secs(30);

/// `(maxSurge, maxUnavailable)` of the default RollingUpdate strategy for `replicas`.
pub fn strategy(replicas: u32) -> (u32, u32) {
    let surge = replicas.div_ceil(4);
    let unavailable = replicas / 4;
    // Upstream refuses both at 0; with 25 % that happens only below 4 replicas, where
    // the surge (at least 1) makes progress.
    (surge.max(1), unavailable)
}

impl Cluster {
    /// One step of the rolling update, if one is under way.
    pub(super) fn rollout_step(&self, st: &mut StateInner, now: Duration) {
        let current = st.template;
        let live: Vec<(String, bool, bool)> = Self::live(st)
            .filter_map(|p| Some((p.pod.metadata.name.clone()?, p.template == current, p.ready)))
            .collect();
        if live.iter().all(|(_, new, _)| *new) {
            return;
        }
        let want = st.deployment.spec.replicas.unwrap_or(1).max(0) as u32;
        let (surge, unavailable) = strategy(want);
        let new = live.iter().filter(|(_, n, _)| *n).count() as u32;
        let total = live.len() as u32;
        let add = (want + surge)
            .saturating_sub(total)
            .min(want.saturating_sub(new));
        for _ in 0..add {
            self.add_pod(st, now, false);
        }
        let ready = live.iter().filter(|(_, _, r)| *r).count() as u32;
        let mut removable = ready.saturating_sub(want.saturating_sub(unavailable));
        // Old unready pods serve nobody: they go first, and freely.
        let mut old: Vec<&(String, bool, bool)> = live.iter().filter(|(_, n, _)| !*n).collect();
        old.sort_by_key(|(_, _, r)| *r);
        let mut lost = 0u32;
        for (name, _, was_ready) in old {
            if *was_ready {
                if removable == 0 {
                    break;
                }
                removable -= 1;
                lost += 1;
            }
            self.terminate(st, name, GRACE, now);
        }
        if lost > 0 && !self.cfg.prestop_drain {
            self.drop_in_flight(lost, ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_default_strategy() {
        assert_eq!(strategy(5), (2, 1));
        assert_eq!(strategy(20), (5, 5));
        assert_eq!(strategy(1), (1, 0));
        assert_eq!(strategy(4), (1, 1));
    }
}
