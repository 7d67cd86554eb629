//! A fault judged before, during and after: the traffic of its window, of the same number
//! of whole seconds just before it and just after it, each from the run's own seconds (so
//! the percentiles are exact), and how long after the window each second's p99 and error
//! rate took to come back within the band of the seconds before.

use std::collections::BTreeMap;

use crate::metrics::{percentile_ms, EndpointData, IntervalData};
use crate::scenario::plan::kube::RecoveryBand;
use crate::summary::kube::Stretch;

/// Seconds in a row that must all be in the band for the traffic to count as recovered: one
/// lucky second among slow ones is not a recovery.
const IN_BAND_SECONDS: usize = 3;

/// The run's seconds by index (seconds from the measured window's start).
pub struct Seconds {
    by_idx: BTreeMap<i64, EndpointData>,
    warmup: f64,
}

/// What a fault's three stretches say, and the traffic of its window for its SLO scope.
pub struct Judged {
    pub before: Option<Stretch>,
    pub during: Option<Stretch>,
    pub after: Option<Stretch>,
    pub recovery_s: Option<f64>,
    /// The window's traffic and the seconds it covers.
    pub window: Option<(EndpointData, f64)>,
}

impl Seconds {
    /// The seconds of `log` up to the measured window's end, `end_s` from the load's start:
    /// a second after it holds only stragglers, no traffic to judge.
    pub fn new(log: &[(i64, IntervalData)], warmup: f64, end_s: f64) -> Self {
        let last = (end_s - warmup).ceil() as i64;
        Seconds {
            by_idx: log
                .iter()
                .filter(|(i, _)| *i < last)
                .map(|(i, d)| (*i, d.overall()))
                .collect(),
            warmup,
        }
    }

    /// The merged traffic of seconds `idx` (those the run has) and how many there were.
    fn merged(&self, idx: std::ops::Range<i64>) -> (EndpointData, usize) {
        let mut e = EndpointData::new();
        let mut n = 0;
        for (_, d) in self.by_idx.range(idx) {
            e.merge(d);
            n += 1;
        }
        (e, n)
    }

    fn stretch(&self, idx: std::ops::Range<i64>) -> Option<(Stretch, EndpointData)> {
        // The seconds the run has of the range: the stretch says what it covers.
        let start = *self.by_idx.range(idx.clone()).next()?.0;
        let end = *self.by_idx.range(idx.clone()).next_back()?.0 + 1;
        let (e, n) = self.merged(idx);
        let f = e.figures(n as f64);
        let any = f.requests > 0;
        let s = Stretch {
            start_s: start as f64 + self.warmup,
            end_s: end as f64 + self.warmup,
            requests: f.requests,
            availability: any.then_some(f.availability),
            error_rate: any.then_some(f.error_rate),
            p50_ms: percentile_ms(&e.latency, 50.0),
            p99_ms: percentile_ms(&e.latency, 99.0),
            rps: f.rps,
        };
        Some((s, e))
    }

    /// Judges a window from `a` to `b` (seconds from the load's start); its "before" starts
    /// no earlier than `calm` (the end of an earlier fault's window: its traffic is no
    /// steady state to come back to).
    pub fn judge(&self, (a, b): (f64, f64), calm: f64, band: RecoveryBand) -> Judged {
        let first = (a - self.warmup).floor() as i64;
        let end = ((b - self.warmup).ceil() as i64).max(first + 1);
        let len = end - first;
        // Only measured seconds are a fair "before": the warmup is not the steady state.
        let floor = ((calm - self.warmup).ceil() as i64).max(0);
        let before = self.stretch(first.saturating_sub(len).max(floor)..first.max(floor));
        let during = self.stretch(first..end);
        let after = self.stretch(end..end + len);
        let recovery_s = before
            .as_ref()
            .and_then(|(s, _)| self.recovery(end, s, band))
            .map(|at| (at - b).max(0.0));
        let window = during
            .as_ref()
            .map(|(s, e)| (e.clone(), s.end_s - s.start_s));
        Judged {
            before: before.map(|(s, _)| s),
            during: during.map(|(s, _)| s),
            after: after.map(|(s, _)| s),
            recovery_s,
            window,
        }
    }

    /// When (seconds from the load's start) the first of `IN_BAND_SECONDS` seconds in a row
    /// from `from` on began, each within the band of `before`; `None` if none did.
    fn recovery(&self, from: i64, before: &Stretch, band: RecoveryBand) -> Option<f64> {
        let p99 = before.p99_ms?;
        let errors = before.error_rate?;
        let in_band = |e: &EndpointData| {
            let f = e.figures(1.0);
            f.requests > 0
                && percentile_ms(&e.latency, 99.0).is_some_and(|p| p <= p99 * band.p99_factor)
                && f.error_rate <= errors + band.error_points + 1e-12
        };
        let after: Vec<(i64, bool)> = self
            .by_idx
            .range(from..)
            .map(|(i, e)| (*i, in_band(e)))
            .collect();
        (0..after.len())
            .find(|&k| {
                let run = &after[k..(k + IN_BAND_SECONDS).min(after.len())];
                run.iter().all(|(_, ok)| *ok)
            })
            .map(|k| after[k].0 as f64 + self.warmup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::Recorder;
    use crate::metrics::{ErrorKind, Sample};
    use std::time::Duration;

    /// A second of `n` requests, each taking `ms`, of which `errors` failed.
    fn second(n: u64, ms: u64, errors: u64) -> IntervalData {
        let mut r = Recorder::new(1);
        for i in 0..n {
            let failed = i < errors;
            r.record(
                0,
                &Sample {
                    latency: Duration::from_millis(ms),
                    service: Duration::from_millis(ms),
                    send_lag: None,
                    queue_wait: None,
                    status: Some(if failed { 500 } else { 200 }),
                    error: failed.then_some(ErrorKind::Http5xx),
                    outcome: None,
                    bytes: 0,
                    warmup: false,
                    conn: Default::default(),
                },
            );
        }
        r.rotate(0, None)
    }

    #[test]
    fn before_during_after_and_recovery_from_known_seconds() {
        // 10 ms steady; the fault's window is 10.0–12.0 s (seconds 10 and 11 at 50 ms, one
        // in ten failing); seconds 12 and 13 are still slow, steady again from 14 on.
        let log: Vec<(i64, IntervalData)> = (0..20)
            .map(|i| match i {
                10 | 11 => (i, second(100, 50, 10)),
                12 | 13 => (i, second(100, 30, 0)),
                _ => (i, second(100, 10, 0)),
            })
            .collect();
        let s = Seconds::new(&log, 0.0, 20.0);
        let j = s.judge((10.0, 12.0), 0.0, RecoveryBand::default());
        let before = j.before.unwrap();
        let during = j.during.unwrap();
        let after = j.after.unwrap();
        assert_eq!(
            (before.start_s, before.end_s, before.requests),
            (8.0, 10.0, 200)
        );
        assert_eq!(
            (during.start_s, during.end_s, during.requests),
            (10.0, 12.0, 200)
        );
        assert_eq!((after.start_s, after.end_s), (12.0, 14.0));
        assert!((during.p50_ms.unwrap() - 50.0).abs() < 0.1);
        assert!((during.availability.unwrap() - 0.9).abs() < 1e-9);
        assert!((before.p99_ms.unwrap() - 10.0).abs() < 0.1);
        // Back in band (p99 <= 15 ms) from second 14: 2 s after the window's end.
        assert_eq!(j.recovery_s, Some(2.0));
        let (window, secs) = j.window.unwrap();
        assert_eq!((window.figures(secs).requests, secs), (200, 2.0));
    }

    #[test]
    fn no_recovery_when_the_run_ends_degraded_and_none_without_a_before() {
        let log: Vec<(i64, IntervalData)> = (0..8)
            .map(|i| (i, second(50, if i < 4 { 10 } else { 80 }, 0)))
            .collect();
        let s = Seconds::new(&log, 0.0, 8.0);
        assert_eq!(
            s.judge((4.0, 5.0), 0.0, RecoveryBand::default()).recovery_s,
            None
        );
        // The after stretch stops at the run's end.
        let late = s
            .judge((6.0, 7.0), 0.0, RecoveryBand::default())
            .after
            .unwrap();
        assert_eq!((late.start_s, late.end_s, late.requests), (7.0, 8.0, 50));
        let clipped = Seconds::new(&log, 0.0, 7.5).judge((6.0, 7.0), 0.0, RecoveryBand::default());
        assert_eq!(clipped.after.unwrap().end_s, 8.0);
        assert!(Seconds::new(&log, 0.0, 7.0)
            .judge((6.0, 7.0), 0.0, RecoveryBand::default())
            .after
            .is_none());
        // A fault at the very start has no before to come back to.
        let j = s.judge((0.0, 1.0), 0.0, RecoveryBand::default());
        assert!(j.before.is_none());
        assert_eq!(j.recovery_s, None);
        // A wider band accepts 80 ms after a 10 ms before.
        let wide = RecoveryBand {
            p99_factor: 10.0,
            error_points: 0.0,
        };
        assert_eq!(s.judge((4.0, 5.0), 0.0, wide).recovery_s, Some(0.0));
        // An earlier fault's window is no "before": it starts after that window's end.
        let j = s.judge((6.0, 7.0), 5.5, RecoveryBand::default());
        assert_eq!(j.before.map(|b| (b.start_s, b.end_s)), None);
        let j = s.judge((6.0, 8.0), 3.2, RecoveryBand::default());
        assert_eq!(j.before.map(|b| (b.start_s, b.end_s)), Some((4.0, 6.0)));
    }
}
