//! Whether a run's SLOs are already beyond saving: failures so certain that the rest of
//! the measured window cannot change the verdict, whatever the target does from now on.
//! A capacity search stops such a step early instead of spending its whole window proving
//! a failure that was certain after a few seconds.
//!
//! Only whole-run objectives whose failure is monotone in the requests seen so far are
//! judged here: a latency percentile below a threshold (more requests already above it
//! than the window's planned count allows), the error rate, availability. Every count is
//! taken at its most forgiving: a request is "above" only if its histogram bucket lies
//! wholly above the threshold, and the window is assumed to complete every planned request.

use super::{Metric, Op, Slo, Stat};
use crate::metrics::EndpointData;

/// Why the SLOs can no longer pass, given what the measured window saw so far (`so_far`,
/// all requests merged) and the requests it plans in total (`planned`).
pub fn certain_failure(slos: &[Slo], so_far: &EndpointData, planned: u64) -> Option<String> {
    let planned = planned.max(so_far.counts.requests()) as f64;
    for slo in slos.iter().filter(|s| s.scope.is_none()) {
        let upper = matches!(slo.op, Op::Lt | Op::Le);
        let lower = matches!(slo.op, Op::Gt | Op::Ge);
        let (bad, allowed) = match slo.metric {
            Metric::Latency(Stat::Percentile(p)) if upper => {
                let threshold_us = (slo.threshold * 1000.0) as u64;
                let h = &so_far.latency;
                let above: u64 = h
                    .iter_recorded()
                    .filter(|v| h.lowest_equivalent(v.value_iterated_to()) > threshold_us)
                    .map(|v| v.count_at_value())
                    .sum();
                (above as f64, (1.0 - p / 100.0) * planned)
            }
            Metric::ErrorRate if upper => {
                (so_far.counts.error_count() as f64, slo.threshold * planned)
            }
            Metric::Availability if lower => (
                so_far.counts.unavailable() as f64,
                (1.0 - slo.threshold) * planned,
            ),
            _ => continue,
        };
        if bad > allowed {
            return Some(format!(
                "SLO {} {} can no longer pass: {bad:.0} requests already count against it, more than the {allowed:.0} the window's {planned:.0} planned requests allow",
                slo.name, slo.expr
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ErrorKind;

    fn data(fast: u64, slow: u64, errors: u64) -> EndpointData {
        let mut e = EndpointData::new();
        for _ in 0..fast {
            e.latency.record(1_000).unwrap();
        }
        for _ in 0..slow {
            e.latency.record(500_000).unwrap();
        }
        e.counts.ok = fast + slow - errors;
        e.counts.errors[ErrorKind::Http5xx as usize] = errors;
        e.counts.status[503] = errors;
        e
    }

    #[test]
    fn a_percentile_fails_only_once_enough_requests_are_above_it() {
        let slos = [crate::slo::parse("p95", "< 100ms", &[]).unwrap()];
        // 1,000 planned: p95 allows 50 above 100 ms.
        assert_eq!(certain_failure(&slos, &data(100, 50, 0), 1000), None);
        let why = certain_failure(&slos, &data(100, 51, 0), 1000).unwrap();
        assert!(why.contains("p95 < 100ms") && why.contains("51"), "{why}");
    }

    #[test]
    fn error_rate_and_availability_count_against_the_whole_window() {
        let err = [crate::slo::parse("error_rate", "< 1%", &[]).unwrap()];
        assert_eq!(certain_failure(&err, &data(100, 0, 10), 1000), None);
        assert!(certain_failure(&err, &data(100, 0, 11), 1000).is_some());
        let avail = [crate::slo::parse("availability", ">= 99%", &[]).unwrap()];
        assert!(certain_failure(&avail, &data(100, 0, 11), 1000).is_some());
        // Scoped objectives and rps are left to the end of the run.
        let other = [
            crate::slo::parse("rps", ">= 1000000", &[]).unwrap(),
            crate::slo::parse("a.p99", "< 1ms", &["a"]).unwrap(),
        ];
        assert_eq!(certain_failure(&other, &data(0, 100, 100), 1000), None);
    }
}
