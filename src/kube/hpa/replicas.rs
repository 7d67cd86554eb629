//! The replica calculator: from one metric's per-pod figures to the replica count it asks
//! for, as upstream's `GetResourceReplicas` computes it (`replica_calculator.go`).
//!
//! Pods are grouped first: failed pods and pods being deleted are ignored; pending pods,
//! and pods not yet ready, are unready; a ready pod without a sample is missing. The
//! utilisation is an integer percent of the requests (`usage × 100 / requests`, truncated)
//! over the ready pods with samples. Then:
//! - within the tolerance (`1 − down ≤ ratio ≤ 1 + up`, bounds included), no change;
//! - with no unready pod on the way up and no missing pod, `ceil(ratio × ready pods)`;
//! - otherwise missing pods count as at the target (at least 100 %) on the way down and at
//!   0 % on the way up, unready pods at 0 % on the way up (and not at all on the way down);
//!   the ratio is computed again, and a result that is within the tolerance or would flip
//!   the direction leaves the count as it is.

/// One pod as the calculator sees it, for one resource metric. Quantities are in the same
/// unit as each other (millicores, say).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PodSample {
    /// Ready and running, with its usage and its request.
    Ready { usage: u64, request: u64 },
    /// Pending, or not yet ready (still starting): its figure would mislead.
    Unready { request: u64 },
    /// Ready, but the metrics API has no sample for it.
    Missing { request: u64 },
    /// Failed, or being deleted: left out entirely.
    Ignored,
}

/// The scale-up and scale-down tolerances (upstream's default 0.1 each; per direction
/// with `behavior.scale{Up,Down}.tolerance`, Kubernetes 1.33+).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub up: f64,
    pub down: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            up: super::TOLERANCE,
            down: super::TOLERANCE,
        }
    }
}

impl Tolerances {
    /// The usage ratio asks for no change (bounds included, as upstream).
    pub fn within(&self, ratio: f64) -> bool {
        1.0 - self.down <= ratio && ratio <= 1.0 + self.up
    }
}

/// Integer utilisation percent over the samples, as upstream truncates it.
fn utilization(samples: &[(u64, u64)]) -> Option<i64> {
    let usage: u64 = samples.iter().map(|(u, _)| u).sum();
    let requests: u64 = samples.iter().map(|(_, r)| r).sum();
    (requests > 0).then(|| (usage as i128 * 100 / requests as i128) as i64)
}

/// What the calculator decided: the replicas the metric asks for and the utilisation it saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calculated {
    pub replicas: u32,
    /// Percent of the requests, over the ready pods with samples.
    pub utilization: i64,
}

/// The replicas `pods` ask for at `target` percent utilisation, from `current`. `None`
/// when no ready pod has a sample (upstream: "did not receive metrics for targeted pods").
pub fn replicas(
    current: u32,
    pods: &[PodSample],
    target: u32,
    tol: Tolerances,
) -> Option<Calculated> {
    let mut ready = Vec::new();
    let (mut unready, mut missing) = (Vec::new(), Vec::new());
    for p in pods {
        match *p {
            PodSample::Ready { usage, request } => ready.push((usage, request)),
            PodSample::Unready { request } => unready.push(request),
            PodSample::Missing { request } => missing.push(request),
            PodSample::Ignored => {}
        }
    }
    let used = utilization(&ready)?;
    if ready.is_empty() || target == 0 {
        return None;
    }
    let ratio = used as f64 / f64::from(target);
    let up_with_unready = !unready.is_empty() && ratio > 1.0;
    if !up_with_unready && missing.is_empty() {
        if tol.within(ratio) {
            return Some(Calculated {
                replicas: current,
                utilization: used,
            });
        }
        return Some(Calculated {
            replicas: clamp(ratio * ready.len() as f64),
            utilization: used,
        });
    }
    let mut all = ready.clone();
    if ratio < 1.0 {
        // Down: a pod without a sample is taken to use the target (at least 100 %).
        let fallback = u64::from(target.max(100));
        all.extend(missing.iter().map(|r| (r * fallback / 100, *r)));
    } else if ratio > 1.0 {
        // Up: it is taken to use nothing, as are the unready pods.
        all.extend(missing.iter().map(|r| (0, *r)));
    }
    if up_with_unready {
        all.extend(unready.iter().map(|r| (0, *r)));
    }
    let new_ratio = utilization(&all)? as f64 / f64::from(target);
    let keep = Calculated {
        replicas: current,
        utilization: used,
    };
    if tol.within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)
    {
        return Some(keep);
    }
    let n = clamp(new_ratio * all.len() as f64);
    if (new_ratio < 1.0 && n > current) || (new_ratio > 1.0 && n < current) {
        return Some(keep);
    }
    Some(Calculated {
        replicas: n,
        utilization: used,
    })
}

/// `ceil(x)` as a replica count: at most `i32::MAX`, as the API's `int32` holds.
pub(super) fn clamp(x: f64) -> u32 {
    x.ceil().clamp(0.0, f64::from(i32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    //! Upstream's `TestReplicaCalc*` rows (`replica_calculator_test.go`) the model can
    //! express, with upstream's expected replicas and utilisation; requests of 1000 unless
    //! a row says otherwise.
    use super::*;

    #[test]
    fn upstream_replica_calc_rows() {
        let ready = |u: u64| PodSample::Ready {
            usage: u,
            request: 1000,
        };
        let unready = PodSample::Unready { request: 1000 };
        let t = Tolerances::default();
        // (test, current, pods, target, replicas, utilisation)
        type Row = (&'static str, u32, Vec<PodSample>, u32, u32, i64);
        let rows: Vec<Row> = vec![
            (
                "TestReplicaCalcScaleUp",
                3,
                vec![ready(300), ready(500), ready(700)],
                30,
                5,
                50,
            ),
            (
                "TestReplicaCalcScaleUpUnreadyLessScale",
                3,
                vec![unready, ready(500), ready(700)],
                30,
                4,
                60,
            ),
            (
                "TestReplicaCalcScaleUpUnreadyNoScale",
                3,
                vec![ready(400), unready, unready],
                30,
                3,
                40,
            ),
            (
                "TestReplicaCalcScaleUpIgnoresFailedPods",
                2,
                vec![
                    ready(500),
                    ready(700),
                    PodSample::Ignored,
                    PodSample::Ignored,
                ],
                30,
                4,
                60,
            ),
            (
                "TestReplicaCalcScaleUpIgnoresDeletionPods",
                2,
                vec![
                    ready(500),
                    ready(700),
                    PodSample::Ignored,
                    PodSample::Ignored,
                ],
                30,
                4,
                60,
            ),
            (
                "TestReplicaCalcScaleDown",
                5,
                vec![ready(100), ready(300), ready(500), ready(250), ready(250)],
                50,
                3,
                28,
            ),
            (
                "TestReplicaCalcScaleDownExcludeUnreadyPods",
                5,
                vec![ready(100), ready(300), ready(500), unready, unready],
                50,
                2,
                30,
            ),
            (
                "TestReplicaCalcScaleDownExcludeUnscheduledPods",
                5,
                vec![ready(100), unready, unready, unready, unready],
                50,
                1,
                10,
            ),
            (
                "TestReplicaCalcTolerance",
                3,
                vec![
                    PodSample::Ready {
                        usage: 1010,
                        request: 900,
                    },
                    ready(1030),
                    PodSample::Ready {
                        usage: 1020,
                        request: 1100,
                    },
                ],
                100,
                3,
                102,
            ),
            (
                "TestReplicaCalcSuperfluousMetrics",
                4,
                vec![ready(4000), ready(9500), ready(3000), ready(7000)],
                100,
                24,
                587,
            ),
            (
                "TestReplicaCalcMissingMetrics",
                4,
                vec![
                    ready(400),
                    ready(95),
                    PodSample::Missing { request: 1000 },
                    PodSample::Missing { request: 1000 },
                ],
                100,
                3,
                24,
            ),
            (
                "TestReplicaCalcMissingMetricsScaleDownTargetOver100",
                4,
                vec![
                    unready,
                    ready(100),
                    PodSample::Ready {
                        usage: 100,
                        request: 2000,
                    },
                    PodSample::Missing { request: 2000 },
                ],
                300,
                2,
                6,
            ),
            (
                "TestReplicaCalcDuringRollingUpdateWithMaxSurge",
                2,
                vec![ready(100), ready(100), PodSample::Missing { request: 1000 }],
                50,
                2,
                10,
            ),
            (
                "TestReplicaCalcMissingMetricsNoChangeEq",
                2,
                vec![ready(1000), PodSample::Missing { request: 1000 }],
                100,
                2,
                100,
            ),
            (
                "TestReplicaCalcMissingMetricsNoChangeGt",
                2,
                vec![ready(1900), PodSample::Missing { request: 1000 }],
                100,
                2,
                190,
            ),
            (
                "TestReplicaCalcMissingMetricsNoChangeLt",
                2,
                vec![ready(600), PodSample::Missing { request: 1000 }],
                100,
                2,
                60,
            ),
            (
                "TestReplicaCalcMissingMetricsUnreadyChange",
                3,
                vec![unready, ready(450), PodSample::Missing { request: 1000 }],
                50,
                3,
                45,
            ),
            (
                "TestReplicaCalcMissingMetricsUnreadyScaleUp",
                3,
                vec![unready, ready(2000), PodSample::Missing { request: 1000 }],
                50,
                4,
                200,
            ),
            (
                "TestReplicaCalcMissingMetricsUnreadyScaleDown",
                4,
                vec![
                    unready,
                    ready(100),
                    ready(100),
                    PodSample::Missing { request: 1000 },
                ],
                50,
                3,
                10,
            ),
        ];
        for (name, current, pods, target, want, util) in rows {
            let c =
                replicas(current, &pods, target, t).unwrap_or_else(|| panic!("{name}: no metrics"));
            assert_eq!((c.replicas, c.utilization), (want, util), "{name}");
        }
        // TestReplicaCalcEmptyMetrics: no sample at all is an error, not a count.
        assert_eq!(replicas(4, &[unready, unready], 100, t), None);
    }
}
