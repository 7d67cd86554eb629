//! Per-replica balance (`[balance]`): from the run's seconds (answers by backend name),
//! the pods' Ready spans when watching Kubernetes, and each client's backends, to the
//! summary's `balance` section.
//!
//! A fair share is counted over the backends in service each second: the Ready pods when
//! the run watches Kubernetes (so a new pod that gets nothing still counts, which is the
//! pinning failure this exists to show), else the backends seen from their first answer
//! to their last. A backend's ratio is its requests over the sum, over its seconds in
//! service, of that second's answers divided by the backends in service.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::metrics::balance::{AffinityData, BalanceData};
use crate::metrics::{percentile_ms, IntervalData};
use crate::scenario::plan::balance::BalancePlan;
use crate::summary::balance::{
    AffinitySummary, BackendSummary, BalanceSecond, BalanceSummary, NewReplica, PerSecond,
};

/// A pod's Ready span, in seconds from the load's start.
pub type ReadySpan = (String, Duration, Option<Duration>);

/// What the balance is judged from.
pub struct Inputs<'a> {
    pub plan: &'a BalancePlan,
    /// The run's seconds (measured window from 0).
    pub log: &'a [(i64, IntervalData)],
    /// The measured window's totals.
    pub totals: &'a IntervalData,
    /// Ready spans of the watched pods, when watching Kubernetes.
    pub ready: Option<&'a [ReadySpan]>,
    pub affinity: &'a AffinityData,
    pub warmup: Duration,
    pub window_s: f64,
}

/// Examples of affinity violations kept for the reader.
const EXAMPLES: usize = 5;

struct Grid {
    names: Vec<String>,
    /// `[second][backend]` answers.
    counts: Vec<Vec<u64>>,
    /// `[second][backend]` in service.
    serving: Vec<Vec<bool>>,
}

impl Grid {
    fn total(&self, t: usize) -> u64 {
        self.counts[t].iter().sum()
    }

    fn in_service(&self, t: usize) -> usize {
        self.serving[t].iter().filter(|s| **s).count()
    }

    /// What a fair share of second `t` is, in answers.
    fn fair(&self, t: usize) -> Option<f64> {
        let k = self.in_service(t);
        (k > 0 && self.total(t) > 0).then(|| self.total(t) as f64 / k as f64)
    }
}

fn grid(i: &Inputs<'_>, totals: &BalanceData, seconds: usize) -> Grid {
    let mut names: Vec<String> = totals.backends.iter().map(|(n, _)| n.to_string()).collect();
    let warm = i.warmup.as_secs_f64();
    // Ready pods that never answered are backends too: the ones a pinned load starves.
    if let Some(spans) = i.ready {
        for (pod, from, until) in spans {
            let before_end = from.as_secs_f64() - warm < i.window_s;
            let after_start = until.is_none_or(|u| u.as_secs_f64() > warm);
            if before_end && after_start && !names.contains(pod) {
                names.push(pod.clone());
            }
        }
    }
    let mut counts = vec![vec![0u64; names.len()]; seconds];
    for (idx, data) in i.log {
        let (Ok(t), Some(b)) = (usize::try_from(*idx), &data.balance) else {
            continue;
        };
        if t >= seconds {
            continue;
        }
        for (name, d) in &b.backends {
            if let Some(k) = names.iter().position(|n| **n == **name) {
                counts[t][k] += d.requests;
            }
        }
    }
    let mut serving = vec![vec![false; names.len()]; seconds];
    match i.ready {
        Some(spans) => {
            for (t, row) in serving.iter_mut().enumerate() {
                let (a, b) = (warm + t as f64, warm + t as f64 + 1.0);
                for (k, name) in names.iter().enumerate() {
                    row[k] = counts[t][k] > 0
                        || spans.iter().any(|(pod, from, until)| {
                            pod == name
                                && from.as_secs_f64() < b
                                && until.is_none_or(|u| u.as_secs_f64() > a)
                        });
                }
            }
        }
        None => {
            for k in 0..names.len() {
                let first = (0..seconds).find(|t| counts[*t][k] > 0);
                let last = (0..seconds).rev().find(|t| counts[*t][k] > 0);
                if let (Some(a), Some(b)) = (first, last) {
                    (a..=b).for_each(|t| serving[t][k] = true);
                }
            }
        }
    }
    Grid {
        names,
        counts,
        serving,
    }
}

/// Each backend's requests over what a fair share of its seconds in service gave.
fn ratios(g: &Grid) -> Vec<Option<f64>> {
    (0..g.names.len())
        .map(|k| {
            let expected: f64 = (0..g.counts.len())
                .filter(|t| g.serving[*t][k])
                .filter_map(|t| g.fair(t))
                .sum();
            let got: u64 = g.counts.iter().map(|row| row[k]).sum();
            (expected > 0.0).then(|| got as f64 / expected)
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn cv(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return (values.len() == 1).then_some(0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean > 0.0).then(|| var.sqrt() / mean)
}

/// Each replica that became Ready during the run: to its first answer, and to its first
/// second at a fair share within the band (a replica that never got there counts the
/// time it waited in vain, so an SLO on it fails with the figure).
fn new_replicas(i: &Inputs<'_>, g: &Grid) -> Vec<NewReplica> {
    let Some(spans) = i.ready else {
        return Vec::new();
    };
    let warm = i.warmup.as_secs_f64();
    spans
        .iter()
        .filter(|(_, from, _)| !from.is_zero())
        .filter(|(_, from, _)| from.as_secs_f64() - warm < i.window_s)
        .map(|(pod, from, _)| {
            let ready = from.as_secs_f64() - warm;
            let k = g.names.iter().position(|n| n == pod);
            let start = ready.floor().max(0.0) as usize;
            let after = |t: usize| (t as f64 - ready).max(0.0);
            let first = k.and_then(|k| (start..g.counts.len()).find(|t| g.counts[*t][k] > 0));
            let fair = k.and_then(|k| {
                (start..g.counts.len()).find(|t| {
                    g.fair(*t)
                        .is_some_and(|f| g.counts[*t][k] as f64 >= (1.0 - i.plan.band) * f)
                })
            });
            NewReplica {
                pod: pod.clone(),
                ready_s: from.as_secs_f64(),
                first_request_s: first.map(after),
                fair_share_s: fair.map(after),
            }
        })
        .collect()
}

/// The slowest of the new replicas; one that never got there counts its wait to the end.
fn slowest(news: &[NewReplica], i: &Inputs<'_>, of: fn(&NewReplica) -> Option<f64>) -> Option<f64> {
    let warm = i.warmup.as_secs_f64();
    news.iter()
        .map(|n| of(n).unwrap_or(i.window_s - (n.ready_s - warm)))
        .reduce(f64::max)
}

fn affinity(i: &Inputs<'_>, g: &Grid) -> Option<AffinitySummary> {
    let mode = i.plan.affinity.as_ref()?.describe();
    let last: BTreeMap<&str, i64> = g
        .names
        .iter()
        .enumerate()
        .filter_map(|(k, n)| {
            let t = (0..g.counts.len()).rev().find(|t| g.counts[*t][k] > 0)?;
            Some((n.as_str(), t as i64))
        })
        .collect();
    let mut s = AffinitySummary {
        mode,
        clients: i.affinity.len() as u64,
        untracked: i.affinity.untracked,
        ..Default::default()
    };
    let mut clients: Vec<_> = i.affinity.clients().collect();
    clients.sort_by(|a, b| a.0.cmp(&b.0));
    for (client, reached) in clients {
        let mut r = reached.clone();
        r.sort_by_key(|(_, first, _)| *first);
        // A move is a violation when the backend left behind still answered others a
        // second after: it had not died, the client was sent elsewhere.
        let moved = r.windows(2).find(|w| {
            let still = last.get(&*w[0].0).copied().unwrap_or(w[0].2);
            still > w[1].1 + 1
        });
        if let Some(w) = moved {
            s.violations += 1;
            if s.examples.len() < EXAMPLES {
                s.examples.push(format!(
                    "{client}: {} (s {}–{}) → {} (s {}–{})",
                    w[0].0, w[0].1, w[0].2, w[1].0, w[1].1, w[1].2
                ));
            }
        }
    }
    Some(s)
}

/// The summary's `balance` section.
pub fn summarize(i: &Inputs<'_>) -> BalanceSummary {
    let empty = BalanceData::default();
    let totals = i.totals.balance.as_deref().unwrap_or(&empty);
    let seconds = i.window_s.ceil().max(0.0) as usize;
    let g = grid(i, totals, seconds);
    let named: u64 = totals.backends.iter().map(|(_, d)| d.requests).sum();
    let mut notes = Vec::new();
    let source = i.plan.backend.describe();
    if named == 0 {
        notes.push(format!("no answer named its backend ({source}): the balance is unknown; check that the target sets it"));
    } else if totals.unnamed > 0 {
        notes.push(format!(
            "{} of {} answers named no backend ({source}); the shares are of the others",
            totals.unnamed,
            named + totals.unnamed
        ));
    }
    if totals
        .backends
        .iter()
        .any(|(n, _)| &**n == crate::metrics::balance::OTHER)
    {
        notes.push(format!(
            "more than {} backend names: the rest are counted as {}",
            crate::metrics::balance::MAX_BACKENDS,
            crate::metrics::balance::OTHER
        ));
    }
    let ratios = if named > 0 { ratios(&g) } else { Vec::new() };
    let known_ratios: Vec<f64> = ratios.iter().flatten().copied().collect();
    let per_second: Vec<f64> = (0..seconds)
        .filter_map(|t| Some(*g.counts[t].iter().max()? as f64 / g.fair(t)?))
        .collect();
    let backends = g
        .names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let d = totals
                .backends
                .iter()
                .find(|(n, _)| **n == **name)
                .map(|(_, d)| d);
            let requests = d.map_or(0, |d| d.requests);
            let seen = |t: &usize| g.counts[*t][k] > 0;
            BackendSummary {
                name: name.clone(),
                requests,
                share: if named > 0 {
                    requests as f64 / named as f64
                } else {
                    0.0
                },
                ratio: ratios.get(k).copied().flatten(),
                errors: d.map_or(0, |d| d.errors),
                p50_ms: d.and_then(|d| percentile_ms(&d.latency, 50.0)),
                p99_ms: d.and_then(|d| percentile_ms(&d.latency, 99.0)),
                first_s: (0..seconds).find(seen).map(|t| t as i64),
                last_s: (0..seconds).rev().find(seen).map(|t| t as i64),
            }
        })
        .collect();
    let news = if named > 0 {
        new_replicas(i, &g)
    } else {
        Vec::new()
    };
    BalanceSummary {
        source,
        known: named > 0,
        notes,
        answered: named + totals.unnamed,
        unnamed: totals.unnamed,
        backends,
        imbalance: known_ratios.iter().copied().reduce(f64::max),
        cv: cv(&known_ratios),
        imbalance_per_second: per_second
            .iter()
            .copied()
            .reduce(f64::max)
            .map(|max| PerSecond {
                p50: median(per_second.clone()).unwrap_or(max),
                max,
            }),
        fair_over: if i.ready.is_some() {
            "ready pods"
        } else {
            "backends seen"
        }
        .into(),
        band: i.plan.band,
        new_replica_first_request_s: slowest(&news, i, |n| n.first_request_s),
        new_replica_fair_share_s: slowest(&news, i, |n| n.fair_share_s),
        new_replicas: news,
        seconds: (0..seconds)
            .map(|t| BalanceSecond {
                t: t as i64,
                counts: g.counts[t].clone(),
                in_service: g.in_service(t) as u32,
            })
            .collect(),
        affinity: affinity(i, &g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::plan::balance::BackendSource;

    /// Ten seconds: a and b from the start; c Ready at 4 s, first answer in second 5, its
    /// fair share from second 7; d Ready at 6 s and never given a request (pinned out).
    fn log() -> Vec<(i64, IntervalData)> {
        (0..10)
            .map(|t| {
                let mut d = IntervalData::new(1);
                let b = d.balance_mut();
                let c = match t {
                    5 | 6 => 2,
                    7.. => 30,
                    _ => 0,
                };
                for (name, n) in [("a", 60), ("b", 60), ("c", c)] {
                    for _ in 0..n {
                        b.record(Some(name), false, 1000);
                    }
                }
                (t, d)
            })
            .collect()
    }

    fn plan(affinity: bool) -> BalancePlan {
        BalancePlan {
            backend: BackendSource::Header(http::HeaderName::from_static("x-served-by")),
            affinity: affinity.then_some(crate::scenario::plan::balance::Affinity::ClientIp),
            band: 0.2,
        }
    }

    #[test]
    fn new_replicas_are_timed_to_their_first_request_and_fair_share() {
        let log = log();
        let mut totals = IntervalData::new(1);
        log.iter().for_each(|(_, d)| totals.merge(d));
        let s = |v: u64| Duration::from_secs(v);
        let ready: Vec<ReadySpan> = vec![
            ("a".into(), s(0), None),
            ("b".into(), s(0), None),
            ("c".into(), s(4), None),
            ("d".into(), s(6), None),
        ];
        let p = plan(false);
        let affinity = AffinityData::default();
        let sum = summarize(&Inputs {
            plan: &p,
            log: &log,
            totals: &totals,
            ready: Some(&ready),
            affinity: &affinity,
            warmup: Duration::ZERO,
            window_s: 10.0,
        });
        let c = sum.new_replicas.iter().find(|r| r.pod == "c").unwrap();
        assert_eq!((c.first_request_s, c.fair_share_s), (Some(1.0), Some(3.0)));
        let d = sum.new_replicas.iter().find(|r| r.pod == "d").unwrap();
        assert_eq!((d.first_request_s, d.fair_share_s), (None, None));
        // d waited from 6 s to the end in vain: the slowest.
        assert_eq!(sum.new_replica_fair_share_s, Some(4.0));
        let d_row = sum.backends.iter().find(|b| b.name == "d").unwrap();
        assert_eq!(d_row.requests, 0, "a starved Ready pod is listed");
        // a and b carry what d (and c, early) should have: well above fair.
        assert!(sum.imbalance.unwrap() > 1.2, "{:?}", sum.imbalance);
        assert_eq!(sum.seconds[8].in_service, 4);

        // Without Kubernetes only the backends seen count, from first to last answer.
        let blind = summarize(&Inputs {
            ready: None,
            plan: &p,
            log: &log,
            totals: &totals,
            affinity: &affinity,
            warmup: Duration::ZERO,
            window_s: 10.0,
        });
        assert!(blind.new_replicas.is_empty() && blind.backends.len() == 3);
        assert_eq!(blind.fair_over, "backends seen");
    }

    #[test]
    fn a_client_that_moves_while_its_backend_serves_on_is_a_violation() {
        let log = log();
        let mut totals = IntervalData::new(1);
        log.iter().for_each(|(_, d)| totals.merge(d));
        let mut seen = AffinityData::default();
        let ip = |n: u8| crate::metrics::balance::Client::Ip([127, 0, 0, n].into());
        // Stays on a.
        seen.record(ip(2), "a", 0);
        seen.record(ip(2), "a", 9);
        // Moves from a to b at second 3, while a serves on to the end.
        seen.record(ip(3), "a", 0);
        seen.record(ip(3), "b", 3);
        let p = plan(true);
        let sum = summarize(&Inputs {
            plan: &p,
            log: &log,
            totals: &totals,
            ready: None,
            affinity: &seen,
            warmup: Duration::ZERO,
            window_s: 10.0,
        });
        let a = sum.affinity.unwrap();
        assert_eq!((a.clients, a.violations), (2, 1));
        assert!(
            a.examples[0].starts_with("127.0.0.3: a (s 0–0) → b (s 3–3)"),
            "{:?}",
            a.examples
        );
    }
}
