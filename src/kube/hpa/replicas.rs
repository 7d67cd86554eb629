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
