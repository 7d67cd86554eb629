//! Windowed objectives: `"p99" = { threshold = "< 100ms", every = "10s" }` must hold in
//! every `every`-long window of the measured window (the last one may be shorter), not only
//! over the whole run. The result is the worst window's value, when it was, and how many
//! windows failed; a run that stalls for five seconds of an hour fails it, where a whole-run
//! p99 would hide the stall.

use serde::{Deserialize, Serialize};

use super::observe::{self, Scope};
use super::{Op, Slo, SloResult};
use crate::metrics::{EndpointData, IntervalData};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowCounts {
    pub judged: u64,
    pub failed: u64,
}

/// How a windowed result reads in a report: `every 5 s: 1 of 3 windows failed, worst
/// 5–10 s`; empty for a whole-run objective.
pub fn describe(r: &SloResult) -> String {
    match (r.every_s, r.windows) {
        (Some(every), Some(c)) => {
            let mut s = format!(
                "every {every:.0} s: {} of {} windows failed",
                c.failed, c.judged
            );
            if let Some([a, b]) = r.worst_window {
                s.push_str(&format!(", worst {a:.0}–{b:.0} s"));
            }
            s
        }
        _ => String::new(),
    }
}

/// One window of a scope: `[start_s, end_s)` from the measured window's start, its data.
pub struct Window<'a> {
    pub start_s: f64,
    pub end_s: f64,
    pub data: &'a EndpointData,
}

/// Judges `slo` in each of `windows` (already cut to its `every`), replacing `whole`'s
/// observed value with the worst window's. `loss` is a chat run's whole-run loss rate.
pub fn judge(slo: &Slo, whole: SloResult, windows: &[Window<'_>], loss: Option<f64>) -> SloResult {
    let mut worst: Option<(f64, [f64; 2])> = None;
    let mut counts = WindowCounts {
        judged: 0,
        failed: 0,
    };
    for w in windows {
        let scope = Scope {
            data: w.data,
            window_s: w.end_s - w.start_s,
        };
        let Some(v) = observe::value(slo.metric, &scope, loss) else {
            continue;
        };
        counts.judged += 1;
        if !slo.op.holds(v, slo.threshold) {
            counts.failed += 1;
        }
        let worse = match worst {
            None => true,
            Some((w0, _)) => match slo.op {
                Op::Lt | Op::Le => v > w0,
                Op::Gt | Op::Ge => v < w0,
                Op::Eq => (v - slo.threshold).abs() > (w0 - slo.threshold).abs(),
            },
        };
        if worse {
            worst = Some((v, [w.start_s, w.end_s]));
        }
    }
    SloResult {
        observed: worst.map(|(v, _)| slo.metric.display_value(v)),
        pass: counts.judged > 0 && counts.failed == 0,
        every_s: slo.every.map(|d| d.as_secs_f64()),
        windows: Some(counts),
        worst_window: worst.map(|(_, w)| w),
        ..whole
    }
}

/// Judges each windowed objective of `slos` (those with `every`) again on the run's
/// per-second data `intervals` (`(second, data)`, from its interval log), replacing its
/// whole-run result in `results`. `names` are the request names in order; a scope that is
/// none of them (the fault windows, a scrape) is left as it is.
pub fn judge_all(
    slos: &[Slo],
    results: &mut [SloResult],
    intervals: &[(i64, IntervalData)],
    names: &[String],
    (window_s, loss): (f64, Option<f64>),
) {
    let overall: Vec<(i64, EndpointData)> = intervals
        .iter()
        .map(|(idx, d)| (*idx, d.overall()))
        .collect();
    for (slo, result) in slos.iter().zip(results.iter_mut()) {
        let Some(every) = slo.every else { continue };
        let seconds: Vec<(i64, &EndpointData)> = match slo.scope.as_deref() {
            None => overall.iter().map(|(i, d)| (*i, d)).collect(),
            Some(name) => match names.iter().position(|n| n == name) {
                Some(ep) => intervals
                    .iter()
                    .map(|(i, d)| (*i, &d.endpoints[ep]))
                    .collect(),
                None => continue,
            },
        };
        let cut = cut(&seconds, every.as_secs_f64(), window_s);
        let windows: Vec<Window<'_>> = cut
            .iter()
            .map(|(start_s, end_s, data)| Window {
                start_s: *start_s,
                end_s: *end_s,
                data,
            })
            .collect();
        *result = judge(slo, result.clone(), &windows, loss);
    }
}

/// Cuts per-second data (`(second, data)`, seconds from the measured window's start) into
/// windows of `every_s` over `[0, window_s)`, merged.
pub fn cut(
    seconds: &[(i64, &EndpointData)],
    every_s: f64,
    window_s: f64,
) -> Vec<(f64, f64, EndpointData)> {
    let every = every_s.max(1.0);
    let n = (window_s / every).ceil().max(1.0) as usize;
    let mut out: Vec<(f64, f64, EndpointData)> = (0..n)
        .map(|i| {
            let start = i as f64 * every;
            (start, (start + every).min(window_s), EndpointData::new())
        })
        .collect();
    for &(sec, data) in seconds {
        if sec < 0 || (sec as f64) >= window_s {
            continue;
        }
        let i = ((sec as f64) / every) as usize;
        if let Some(w) = out.get_mut(i) {
            w.2.merge(data);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn second(ms: u64, n: u64) -> EndpointData {
        let mut e = EndpointData::new();
        for _ in 0..n {
            e.latency.record(ms * 1000).unwrap();
        }
        e.counts.ok = n;
        e
    }

    #[test]
    fn a_stall_in_one_window_fails_it_and_is_the_worst() {
        // 30 s: fast everywhere but seconds 12 and 13.
        let data: Vec<EndpointData> = (0..30)
            .map(|s| {
                if s == 12 || s == 13 {
                    second(900, 100)
                } else {
                    second(5, 100)
                }
            })
            .collect();
        let seconds: Vec<(i64, &EndpointData)> = data
            .iter()
            .enumerate()
            .map(|(i, d)| (i as i64, d))
            .collect();
        let windows = cut(&seconds, 10.0, 30.0);
        assert_eq!(windows.len(), 3);
        let mut slo = crate::slo::parse("p99", "< 100ms", &[]).unwrap();
        slo.every = Some(Duration::from_secs(10));
        let mut all = EndpointData::new();
        data.iter().for_each(|d| all.merge(d));
        let whole = crate::slo::evaluate(std::slice::from_ref(&slo), |_, m| {
            observe::value(
                m,
                &Scope {
                    data: &all,
                    window_s: 30.0,
                },
                None,
            )
        })
        .remove(0);
        assert!(
            !whole.pass,
            "2 slow seconds of 30 are above the whole-run p99 too"
        );
        let w: Vec<Window<'_>> = windows
            .iter()
            .map(|(a, b, d)| Window {
                start_s: *a,
                end_s: *b,
                data: d,
            })
            .collect();
        let r = judge(&slo, whole, &w, None);
        assert!(!r.pass);
        assert_eq!(
            r.windows,
            Some(WindowCounts {
                judged: 3,
                failed: 1
            })
        );
        assert_eq!(r.worst_window, Some([10.0, 20.0]));
        assert!(r.observed.unwrap() > 800.0);
    }

    #[test]
    fn the_last_window_may_be_shorter() {
        let d = second(5, 10);
        let seconds: Vec<(i64, &EndpointData)> = (0..25).map(|i| (i, &d)).collect();
        let w = cut(&seconds, 10.0, 25.0);
        assert_eq!(
            w.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
        );
        assert_eq!(w[2].2.counts.ok, 50);
    }
}
