//! From what a run's Kubernetes session saw to the `kube` section of the summary: the
//! timelines in seconds, what they show, and the traffic inside each fault window, merged
//! from the run's own seconds so the window's latency percentiles are exact.

use std::collections::BTreeSet;
use std::time::Duration;

use super::expect;
use super::session::Outcome;
use crate::metrics::{percentile_ms, EndpointData, IntervalData};
use crate::summary::figures;
use crate::summary::kube::{
    ExpectationResult, FaultSummary, HpaSummary, KubeSummary, Level, Period, ReplicaPoint,
};

/// The interval indexes (seconds from the measured window's start) a span of the run
/// touches; `start`/`end` are seconds from the load's start.
fn seconds(start: f64, end: f64, warmup: f64) -> std::ops::Range<i64> {
    let a = (start - warmup).floor() as i64;
    let b = ((end - warmup).ceil() as i64).max(a + 1);
    a..b
}

fn merged(log: &[(i64, IntervalData)], idx: &BTreeSet<i64>) -> EndpointData {
    let mut e = EndpointData::new();
    for (i, data) in log {
        if idx.contains(i) {
            e.merge(&data.overall());
        }
    }
    e
}

/// The summary section and the traffic of all fault windows together (the `fault.` SLO
/// scope) with the seconds it covers, or `None` when no fault window was seen.
pub fn summarize(
    o: &Outcome,
    namespace: &str,
    log: &[(i64, IntervalData)],
    warmup: Duration,
    run_end_s: f64,
) -> (KubeSummary, Option<(EndpointData, f64)>) {
    let s = |d: Duration| d.as_secs_f64();
    let warmup = warmup.as_secs_f64();
    let hpas = o
        .hpas
        .iter()
        .map(|h| {
            let sm = expect::summarize(&super::watch::points(&h.timeline));
            HpaSummary {
                name: h.name.clone(),
                deployment: h.deployment.clone(),
                min_replicas: h.min,
                max_replicas: h.max,
                timeline: h
                    .timeline
                    .iter()
                    .map(|(at, st)| ReplicaPoint {
                        t_s: s(*at),
                        desired: st.desired,
                        current: st.current,
                        ready: st.ready,
                        at_max: st.at_max,
                    })
                    .collect(),
                first_scale_up_s: sm.first_scale_up.map(s),
                levels: h
                    .levels
                    .iter()
                    .map(|(n, d, c)| Level {
                        replicas: *n,
                        decision_s: d.map(s),
                        capacity_s: c.map(s),
                    })
                    .collect(),
                max_desired: sm.max_desired,
                max_ready: sm.max_ready,
                at_max: sm
                    .limited
                    .iter()
                    .map(|(a, b)| Period {
                        start_s: s(*a),
                        end_s: b.map(s),
                    })
                    .collect(),
                scale_down_start_s: sm.scale_down_start.map(s),
                pod_restarts: h.restarts,
                pods_seen: h.pods_seen,
                watch_errors: h
                    .errors
                    .iter()
                    .map(|(at, e)| format!("{:.1} s: {e}", s(*at)))
                    .collect(),
            }
        })
        .collect();
    let mut all_windows = BTreeSet::new();
    let faults = o
        .faults
        .iter()
        .map(|(plan, rec)| {
            let start = rec.executed_at.map(s);
            let end = start.map(|st| rec.recovered_at.map_or(run_end_s, s).max(st));
            let (mut requests, mut errors, mut availability, mut p99) = (0, 0, None, None);
            if let (Some(a), Some(b)) = (start, end) {
                let idx: BTreeSet<i64> = seconds(a, b, warmup).collect();
                all_windows.extend(idx.iter().copied());
                let e = merged(log, &idx);
                let f = figures(&e, b - a);
                requests = f.requests;
                errors = f.errors;
                availability = (f.requests > 0).then_some(f.availability);
                p99 = percentile_ms(&e.latency, 99.0);
            }
            let (selector, mode) = plan.action.target();
            FaultSummary {
                action: plan.action.action().to_string(),
                selector,
                mode,
                at_s: s(plan.at),
                executed_s: start,
                affected: rec.affected.clone(),
                outcome: rec.outcome.clone(),
                detail: rec.detail.iter().cloned().collect(),
                errors: rec.errors.clone(),
                window_start_s: start,
                window_end_s: end,
                recovered: rec.recovered_at.is_some(),
                requests,
                errors_in_window: errors,
                availability,
                p99_ms: p99,
            }
        })
        .collect();
    let union =
        (!all_windows.is_empty()).then(|| (merged(log, &all_windows), all_windows.len() as f64));
    (
        KubeSummary {
            namespace: namespace.to_string(),
            server: o.server.clone(),
            hpas,
            expectations: o
                .expectations
                .iter()
                .map(|(hpa, what, pass, seen)| ExpectationResult {
                    hpa: hpa.clone(),
                    expectation: what.clone(),
                    pass: *pass,
                    observed: seen.clone(),
                })
                .collect(),
            faults,
            warnings: o.warnings.clone(),
        },
        union,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_whole_seconds() {
        // Load start 0, warmup 5 s: a window 7.2–9.1 s is measured seconds 2..5.
        assert_eq!(seconds(7.2, 9.1, 5.0), 2..5);
        // A window inside one second still counts that second.
        assert_eq!(seconds(3.0, 3.0, 5.0), -2..-1);
    }
}
