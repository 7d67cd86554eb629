//! From what a run's Kubernetes session saw to the `kube` section of the summary: the
//! timelines in seconds, what they show, and the traffic inside each fault window, merged
//! from the run's own seconds so the window's latency percentiles are exact.

use std::collections::BTreeSet;
use std::time::Duration;

use super::expect;
use super::session::Outcome;
use super::stretch::Seconds;
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

/// The traffic of the fault windows, for their SLO scopes, each with the seconds it covers.
#[derive(Default)]
pub struct FaultScopes {
    /// All windows together (`fault.availability`), `None` when no window was seen.
    pub union: Option<(EndpointData, f64)>,
    /// Each fault's own window by its name (`delay.p99`).
    pub each: Vec<(String, EndpointData, f64)>,
}

/// The summary section and the traffic of the fault windows for their SLO scopes.
pub fn summarize(
    o: &Outcome,
    namespace: &str,
    log: &[(i64, IntervalData)],
    warmup: Duration,
    run_end_s: f64,
) -> (KubeSummary, FaultScopes) {
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
    let by_second = Seconds::new(log, warmup, run_end_s);
    let windows: Vec<(f64, f64)> = o
        .faults
        .iter()
        .filter_map(|(_, rec)| {
            let start = s(rec.executed_at?);
            Some((start, rec.recovered_at.map_or(run_end_s, s).max(start)))
        })
        .collect();
    let mut each = Vec::new();
    let faults = o
        .faults
        .iter()
        .map(|(plan, rec)| {
            let start = rec.executed_at.map(s);
            let end = start.map(|st| rec.recovered_at.map_or(run_end_s, s).max(st));
            let (mut requests, mut errors, mut availability, mut p99) = (0, 0, None, None);
            let mut judged = None;
            if let (Some(a), Some(b)) = (start, end) {
                let j = by_second.judge((a, b), calm(&windows, a), plan.band);
                if let Some((data, secs)) = &j.window {
                    each.push((plan.name.clone(), data.clone(), *secs));
                }
                judged = Some(j);
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
                name: plan.name.clone(),
                before: judged.as_ref().and_then(|j| j.before.clone()),
                during: judged.as_ref().and_then(|j| j.during.clone()),
                after: judged.as_ref().and_then(|j| j.after.clone()),
                recovery_s: judged.as_ref().and_then(|j| j.recovery_s),
                recovery_band: Some([plan.band.p99_factor, plan.band.error_points]),
            }
        })
        .collect();
    let union =
        (!all_windows.is_empty()).then(|| (merged(log, &all_windows), all_windows.len() as f64));
    let scopes = FaultScopes { union, each };
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
        scopes,
    )
}

/// Where the steady state before a window starting at `a` begins: after every earlier
/// fault's window (one still open at `a` counts until `a`).
fn calm(windows: &[(f64, f64)], a: f64) -> f64 {
    windows
        .iter()
        .filter(|(start, _)| *start < a)
        .map(|(_, end)| end.min(a))
        .fold(0.0, f64::max)
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

    #[test]
    fn the_calm_before_a_fault_starts_after_the_earlier_ones() {
        let w = [(10.0, 15.0), (20.0, 30.0), (25.0, 40.0)];
        assert_eq!(calm(&w, 10.0), 0.0);
        assert_eq!(calm(&w, 20.0), 15.0);
        assert_eq!(calm(&w, 25.0), 25.0);
    }
}
