//! Service-level objectives: the compact `"metric" = "op value unit"` expressions of a
//! scenario's `[slo]` table, and their evaluation against a finished run.
//!
//! Keys name a metric, optionally scoped to one request: `p95`, `p99.9`, `max`, `mean`,
//! `error_rate`, `availability`, `rps`, `list_activities.p99`, and a phase of the
//! requests' time: `ttfb.p99`, `tls.p95`, `list_activities.ttfb.p99`. Values are a comparison
//! and a threshold with its unit: `< 100ms`, `< 0.1%`, `>= 99.9%`, `>= 1000`.
//! Thresholds are stored in the metric's canonical unit (milliseconds, fraction, req/s).

pub mod checks;
pub mod doom;
pub mod observe;
pub mod window;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::metrics::connection::Phase;

/// A latency statistic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Percentile in 0..=100.
    Percentile(f64),
    Max,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Latency from the intended start (coordinated-omission corrected), in ms.
    Latency(Stat),
    /// One phase of the requests' time (`ttfb.p99`, `tls.p95`), in ms, over the requests
    /// that had it (handshake phases: those that opened a connection).
    Phase(Phase, Stat),
    /// Errors over completed requests (fraction).
    ErrorRate,
    /// Requests that were neither a transport error nor a 5xx, over completed requests (fraction).
    Availability,
    /// Completed requests per second of the measured window.
    Rps,
    /// Share of answers that matched the declared outcome at this index (fraction).
    Outcome(u8),
    /// Chat runs: owed deliveries not received, over owed deliveries (fraction).
    LossRate,
    /// From a `[[prometheus.scrape]]` of the target: its histogram's percentile, in ms.
    ServerLatency(Stat),
    /// From a scrape: the server's counted requests per second.
    ServerRps,
    /// A named fault: seconds from the end of its window until the traffic was back within
    /// the band of the traffic before it (`delay.recovery_s`).
    RecoverySeconds,
    /// `[balance]`: how the backends shared the load (`balance.imbalance`,
    /// `affinity.violations`).
    Balance(BalanceStat),
}

/// What `[balance]` measures, each a key of the `balance` (or `affinity`) scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceStat {
    /// The busiest backend's share over a fair share (1 = perfectly even).
    Imbalance,
    /// The coefficient of variation of the backends' request counts.
    Cv,
    /// The slowest new replica: seconds from Ready to its first request.
    NewReplicaFirstRequest,
    /// The slowest new replica: seconds from Ready to its fair share.
    NewReplicaFairShare,
    /// Clients seen on two backends while the first still served (`affinity.violations`).
    Violations,
}

impl BalanceStat {
    pub const NAMES: [(&'static str, BalanceStat); 5] = [
        ("imbalance", BalanceStat::Imbalance),
        ("cv", BalanceStat::Cv),
        (
            "new_replica_first_request_s",
            BalanceStat::NewReplicaFirstRequest,
        ),
        ("new_replica_fair_share_s", BalanceStat::NewReplicaFairShare),
        ("violations", BalanceStat::Violations),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("imbalance", |(n, _)| n)
    }

    /// The scope the key lives in: `affinity.violations`, `balance.<the others>`.
    pub fn scope(self) -> &'static str {
        match self {
            BalanceStat::Violations => "affinity",
            _ => "balance",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "==")]
    Eq,
}

impl Op {
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => observed < threshold,
            Op::Le => observed <= threshold,
            Op::Gt => observed > threshold,
            Op::Ge => observed >= threshold,
            Op::Eq => (observed - threshold).abs() <= f64::EPSILON * threshold.abs().max(1.0),
        }
    }
}

/// One objective, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The key as written (`list_activities.p99`).
    pub name: String,
    /// Request name the SLO is scoped to; `None` for the whole run.
    pub scope: Option<String>,
    pub metric: Metric,
    pub op: Op,
    /// In the metric's canonical unit: ms, fraction, or req/s.
    pub threshold: f64,
    /// The threshold as written (`< 100ms`).
    pub expr: String,
    /// The metric part of the key as written (`p99`, `throttled`).
    pub metric_name: String,
    /// Must hold in every window of this length of the measured window, not only over the
    /// whole of it (`{ threshold = "< 100ms", every = "10s" }`).
    pub every: Option<std::time::Duration>,
    /// Stop the run as soon as this objective has failed beyond recovery.
    pub abort: bool,
}

impl Metric {
    /// Measured by the target itself (a scrape), not by loadctl.
    pub fn is_server(&self) -> bool {
        matches!(self, Metric::ServerLatency(_) | Metric::ServerRps)
    }

    pub fn is_server_latency(&self) -> bool {
        matches!(self, Metric::ServerLatency(_))
    }

    /// The metric part of a key (`p99`), used in reports.
    pub fn key(&self) -> String {
        match self {
            Metric::Latency(Stat::Percentile(p)) => format!("p{}", fmt_pct(*p)),
            Metric::Latency(Stat::Max) => "max".into(),
            Metric::Latency(Stat::Mean) => "mean".into(),
            Metric::Phase(p, stat) => format!("{}.{}", p.name(), Metric::Latency(*stat).key()),
            Metric::ErrorRate => "error_rate".into(),
            Metric::Availability => "availability".into(),
            Metric::Rps => "rps".into(),
            Metric::Outcome(i) => format!("outcome{i}"),
            Metric::LossRate => "loss_rate".into(),
            Metric::ServerLatency(stat) => format!("server_{}", Metric::Latency(*stat).key()),
            Metric::ServerRps => "server_rps".into(),
            Metric::RecoverySeconds => "recovery_s".into(),
            Metric::Balance(b) => b.name().into(),
        }
    }

    /// Unit the observed value is shown in.
    pub fn unit(&self) -> &'static str {
        match self {
            Metric::Latency(_) | Metric::Phase(..) | Metric::ServerLatency(_) => "ms",
            Metric::ErrorRate | Metric::Availability | Metric::Outcome(_) | Metric::LossRate => "%",
            Metric::Rps | Metric::ServerRps => "req/s",
            Metric::RecoverySeconds => "s",
            Metric::Balance(
                BalanceStat::NewReplicaFirstRequest | BalanceStat::NewReplicaFairShare,
            ) => "s",
            Metric::Balance(BalanceStat::Violations) => "clients",
            Metric::Balance(_) => "",
        }
    }

    /// Canonical value → display value (fractions become percent).
    pub fn display_value(&self, canonical: f64) -> f64 {
        match self {
            Metric::ErrorRate | Metric::Availability | Metric::Outcome(_) | Metric::LossRate => {
                canonical * 100.0
            }
            _ => canonical,
        }
    }
}

fn fmt_pct(p: f64) -> String {
    let s = format!("{p}");
    s.trim_end_matches(".0").to_string()
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.expr)
    }
}

/// Parses one `[slo]` entry. `requests` are the scenario's request names, for scoped keys.
pub fn parse(key: &str, value: &str, requests: &[&str]) -> Result<Slo, String> {
    parse_with_outcomes(key, value, requests, &[])
}

/// Like [`parse`], where the scenario also declares `outcomes` (by index): a key naming
/// one (`login.throttled`) is the share of answers with that outcome.
pub fn parse_with_outcomes(
    key: &str,
    value: &str,
    requests: &[&str],
    outcomes: &[String],
) -> Result<Slo, String> {
    let (scope, metric_key) = split_scope(key, requests)?;
    let outcome = outcomes
        .iter()
        .position(|o| o == metric_key)
        .map(|i| Metric::Outcome(i as u8));
    let metric = outcome.or_else(|| parse_metric(metric_key)).ok_or_else(|| {
        let declared = if outcomes.is_empty() {
            String::new()
        } else {
            format!(", a declared outcome ({})", outcomes.join(", "))
        };
        format!(
            "unknown metric `{metric_key}`; use p50, p90, p95, p99, p99.9 (any pNN), max, mean, a phase's latency (dns, connect, tls, ttfb, download: `ttfb.p99`), error_rate, availability, rps, loss_rate (chat){declared}, optionally after a request name (`list_activities.p99`)"
        )
    })?;
    let (op, threshold) = parse_threshold(value, metric)?;
    Ok(Slo {
        name: key.to_string(),
        scope: scope.map(str::to_string),
        metric,
        op,
        threshold,
        expr: value.trim().to_string(),
        metric_name: metric_key.to_string(),
        every: None,
        abort: false,
    })
}

fn split_scope<'k>(key: &'k str, requests: &[&str]) -> Result<(Option<&'k str>, &'k str), String> {
    // `p99.9` contains a dot too: a scope is only a prefix that names a request.
    if let Some((scope, rest)) = key.split_once('.') {
        if parse_metric(key).is_some() {
            return Ok((None, key));
        }
        if !requests.contains(&scope) {
            return Err(format!(
                "`{scope}` is not a request name in this scenario (requests: {})",
                requests.join(", ")
            ));
        }
        return Ok((Some(scope), rest));
    }
    Ok((None, key))
}

fn parse_metric(key: &str) -> Option<Metric> {
    if let Some((phase, stat)) = key.split_once('.') {
        if let Some(phase) = Phase::parse(phase) {
            return match parse_metric(stat)? {
                Metric::Latency(s) => Some(Metric::Phase(phase, s)),
                _ => None,
            };
        }
    }
    if let Some(rest) = key.strip_prefix("server_") {
        return match rest {
            "rps" => Some(Metric::ServerRps),
            // The percentiles the summary keeps of the server's histogram.
            _ => match parse_metric(rest)? {
                Metric::Latency(s @ Stat::Percentile(p))
                    if [50.0, 90.0, 95.0, 99.0].contains(&p) =>
                {
                    Some(Metric::ServerLatency(s))
                }
                _ => None,
            },
        };
    }
    match key {
        "max" => Some(Metric::Latency(Stat::Max)),
        "mean" => Some(Metric::Latency(Stat::Mean)),
        "error_rate" => Some(Metric::ErrorRate),
        "availability" => Some(Metric::Availability),
        "loss_rate" => Some(Metric::LossRate),
        "rps" => Some(Metric::Rps),
        "recovery_s" => Some(Metric::RecoverySeconds),
        b if BalanceStat::NAMES.iter().any(|(n, _)| *n == b) => BalanceStat::NAMES
            .iter()
            .find(|(n, _)| *n == b)
            .map(|(_, s)| Metric::Balance(*s)),
        _ => {
            let digits = key.strip_prefix('p')?;
            // `p999` is the conventional spelling of p99.9.
            let p: f64 = match digits {
                "999" => 99.9,
                "9999" => 99.99,
                d => d.parse().ok()?,
            };
            (p > 0.0 && p <= 100.0 && digits.chars().all(|c| c.is_ascii_digit() || c == '.'))
                .then_some(Metric::Latency(Stat::Percentile(p)))
        }
    }
}

/// A requirement on a rate in requests per second (`>= 5000`), as `[capacity] require`.
pub fn parse_requirement(value: &str) -> Result<(Op, f64), String> {
    parse_threshold(value, Metric::Rps)
}

fn parse_threshold(value: &str, metric: Metric) -> Result<(Op, f64), String> {
    let v = value.trim();
    let (op, rest) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(s, op)| v.strip_prefix(s).map(|r| (*op, r.trim())))
    .ok_or_else(|| {
        format!("`{v}` has no comparison; write it as `< 100ms`, `>= 99.9%` or `>= 1000`")
    })?;
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    let (num, unit) = rest.split_at(split);
    let n: f64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{rest}` does not start with a number"))?;
    let unit = unit.trim();
    let canonical = match metric {
        Metric::Latency(_) | Metric::Phase(..) | Metric::ServerLatency(_) => match unit {
            "us" | "µs" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "" => {
                return Err(format!(
                    "latency threshold `{v}` needs a unit: us, ms or s (`{v}ms`)"
                ))
            }
            u => return Err(format!("unknown latency unit `{u}`; use us, ms or s")),
        },
        Metric::ErrorRate | Metric::Availability | Metric::Outcome(_) | Metric::LossRate => {
            match unit {
                "%" => n / 100.0,
                "" if n <= 1.0 => n,
                "" => {
                    return Err(format!(
                        "`{v}` is a ratio above 1; write a percentage such as `{n}%`"
                    ))
                }
                u => {
                    return Err(format!(
                        "unknown unit `{u}` for a rate; use % (`< 0.1%`) or a fraction"
                    ))
                }
            }
        }
        Metric::RecoverySeconds
        | Metric::Balance(BalanceStat::NewReplicaFirstRequest | BalanceStat::NewReplicaFairShare) => {
            match unit {
                "" | "s" => n,
                u => {
                    return Err(format!(
                        "unknown unit `{u}` for {}; write seconds (`<= 30`)",
                        metric.key()
                    ))
                }
            }
        }
        Metric::Balance(_) => match unit {
            "" => n,
            u => {
                return Err(format!(
                    "unknown unit `{u}` for a balance figure; write a plain number (`<= 1.3`)"
                ))
            }
        },
        Metric::Rps | Metric::ServerRps => match unit {
            "" | "rps" | "/s" => n,
            u => {
                return Err(format!(
                    "unknown unit `{u}` for rps; write a plain number (`>= 1000`)"
                ))
            }
        },
    };
    if matches!(
        metric,
        Metric::ErrorRate | Metric::Availability | Metric::Outcome(_) | Metric::LossRate
    ) && canonical > 1.0
    {
        return Err(format!("`{v}` is above 100%"));
    }
    Ok((op, canonical))
}

/// The run's verdict, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Invalid,
    Interrupted,
}

impl Status {
    /// The documented process exit code for this status.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Pass => 0,
            Status::Fail => 1,
            Status::Invalid => 3,
            Status::Interrupted => 130,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Invalid => "INVALID",
            Status::Interrupted => "INTERRUPTED",
        }
    }
}

/// What the verdict is decided from.
#[derive(Debug, Clone)]
pub struct Evidence<'a> {
    pub interrupted: bool,
    /// Successful requests in the measured window.
    pub ok: u64,
    /// Dropped over planned requests.
    pub dropped_ratio: f64,
    pub max_dropped_ratio: f64,
    pub send_lag_p99_ms: f64,
    pub max_send_lag_p99_ms: f64,
    pub slo: &'a [SloResult],
    /// Regressions against a baseline, one line each.
    pub regressions: &'a [String],
    /// Post-run (`[[verify]]`) check results.
    pub checks: &'a [checks::CheckResult],
    /// Other reasons the run failed (a feeder that ran out with `on_exhausted = "fail"`).
    pub failures: &'a [String],
    /// Why a distributed run's generators cannot be trusted (an agent lost, or unable to
    /// hold its share, a start spread beyond tolerance): each makes the run invalid.
    pub generators: &'a [String],
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Status,
    /// Why the status is not `pass`, one line each.
    pub reasons: Vec<String>,
    /// The generator held the planned load (figures can be trusted).
    pub valid: bool,
}

/// Interrupted beats invalid beats fail: a figure that cannot be trusted is not judged.
pub fn verdict(e: &Evidence<'_>) -> Verdict {
    let mut reasons = Vec::new();
    if e.dropped_ratio > e.max_dropped_ratio {
        reasons.push(format!(
            "generator dropped {:.3}% of planned requests (tolerance {:.3}%): raise load.max_in_flight or lower the rate",
            e.dropped_ratio * 100.0,
            e.max_dropped_ratio * 100.0
        ));
    }
    if e.send_lag_p99_ms > e.max_send_lag_p99_ms {
        reasons.push(format!(
            "generator send lag p99 {:.2} ms exceeds {:.2} ms: the generator could not keep up (CPU?)",
            e.send_lag_p99_ms, e.max_send_lag_p99_ms
        ));
    }
    reasons.extend(e.generators.iter().cloned());
    let valid = reasons.is_empty();
    let status = if e.interrupted {
        reasons.insert(0, "interrupted before the planned end".into());
        Status::Interrupted
    } else if !valid {
        Status::Invalid
    } else {
        if e.ok == 0 {
            reasons.push("not one request succeeded".into());
        }
        for r in e.slo.iter().filter(|r| !r.pass) {
            let observed = r
                .observed
                .map_or("no data".into(), |v| format!("{v:.3} {}", r.unit));
            reasons.push(format!(
                "SLO {} {} failed: observed {observed}",
                r.name, r.threshold
            ));
        }
        reasons.extend(
            e.regressions
                .iter()
                .map(|r| format!("regression against the baseline: {r}")),
        );
        reasons.extend(e.checks.iter().filter(|c| !c.pass).map(|c| {
            format!(
                "verification {} failed: {} ({})",
                c.name, c.check, c.observed
            )
        }));
        reasons.extend(e.failures.iter().cloned());
        if reasons.is_empty() {
            Status::Pass
        } else {
            Status::Fail
        }
    };
    Verdict {
        status,
        reasons,
        valid,
    }
}

/// An objective's outcome, as written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloResult {
    pub name: String,
    pub metric: String,
    pub scope: Option<String>,
    /// As written: `< 100ms`.
    pub threshold: String,
    /// In `unit`; `null` when the run produced no value (no request completed).
    pub observed: Option<f64>,
    pub unit: String,
    pub pass: bool,
    /// A windowed objective: the window length; `observed` is then the worst window's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_s: Option<f64>,
    /// Windows judged, and how many failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<window::WindowCounts>,
    /// `[start_s, end_s]` of the worst window, from the measured window's start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_window: Option<[f64; 2]>,
}

/// Evaluates each objective with `observe(scope, metric)` giving the canonical value.
pub fn evaluate(
    slos: &[Slo],
    observe: impl Fn(Option<&str>, Metric) -> Option<f64>,
) -> Vec<SloResult> {
    slos.iter()
        .map(|slo| {
            let observed = observe(slo.scope.as_deref(), slo.metric);
            SloResult {
                name: slo.name.clone(),
                metric: match slo.metric {
                    Metric::Outcome(_) => slo.metric_name.clone(),
                    m => m.key(),
                },
                scope: slo.scope.clone(),
                threshold: slo.expr.clone(),
                observed: observed.map(|v| slo.metric.display_value(v)),
                unit: slo.metric.unit().into(),
                pass: observed.is_some_and(|v| slo.op.holds(v, slo.threshold)),
                every_s: None,
                windows: None,
                worst_window: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQS: &[&str] = &["list_activities", "health"];

    fn p(key: &str, value: &str) -> Slo {
        parse(key, value, REQS).unwrap()
    }

    #[test]
    fn parses_the_readme_examples() {
        let s = p("p95", "< 100ms");
        assert_eq!(s.metric, Metric::Latency(Stat::Percentile(95.0)));
        assert_eq!((s.op, s.threshold, s.scope.clone()), (Op::Lt, 100.0, None));

        let s = p("list_activities.p99", "< 200ms");
        assert_eq!(s.scope.as_deref(), Some("list_activities"));
        assert_eq!(s.threshold, 200.0);

        let s = p("error_rate", "< 0.1%");
        assert!((s.threshold - 0.001).abs() < 1e-12);
        let s = p("availability", ">= 99.99%");
        assert!((s.threshold - 0.9999).abs() < 1e-12);
        let s = p("rps", ">= 1_000");
        assert_eq!((s.op, s.threshold), (Op::Ge, 1000.0));
    }

    #[test]
    fn percentile_spellings_and_units() {
        assert_eq!(
            p("p99.9", "< 1s").metric,
            Metric::Latency(Stat::Percentile(99.9))
        );
        assert_eq!(
            p("p999", "< 1s").metric,
            Metric::Latency(Stat::Percentile(99.9))
        );
        assert_eq!(p("p99.9", "< 1s").threshold, 1000.0);
        assert_eq!(p("max", "<= 250us").threshold, 0.25);
        assert_eq!(p("mean", "< 20ms").metric, Metric::Latency(Stat::Mean));
        assert_eq!(p("health.p50", "< 5ms").scope.as_deref(), Some("health"));
        assert_eq!(p("error_rate", "== 0").threshold, 0.0);
    }

    #[test]
    fn rejects_with_a_fix() {
        let e = |k: &str, v: &str| parse(k, v, REQS).unwrap_err();
        assert!(e("p95", "100ms").contains("no comparison"));
        assert!(e("p95", "< 100").contains("needs a unit"));
        assert!(e("p95", "< 100min").contains("unknown latency unit"));
        assert!(e("p101", "< 1ms").contains("unknown metric"));
        assert!(e("latency", "< 1ms").contains("unknown metric"));
        assert!(e("checkout.p99", "< 1ms").contains("not a request name"));
        assert!(e("error_rate", "< 5").contains("percentage"));
        assert!(e("availability", ">= 120%").contains("above 100%"));
        assert!(e("rps", ">= fast").contains("number"));
    }

    #[test]
    fn evaluation_compares_in_canonical_units() {
        let slos = vec![
            p("p95", "< 100ms"),
            p("error_rate", "< 0.1%"),
            p("rps", ">= 1000"),
            p("list_activities.max", "< 1s"),
        ];
        let results = evaluate(&slos, |scope, m| match (scope, m) {
            (None, Metric::Latency(_)) => Some(99.9),
            (None, Metric::ErrorRate) => Some(0.002),
            (None, Metric::Rps) => Some(1000.0),
            (Some("list_activities"), _) => None,
            _ => unreachable!(),
        });
        let pass: Vec<bool> = results.iter().map(|r| r.pass).collect();
        assert_eq!(pass, [true, false, true, false]);
        assert_eq!(results[1].observed, Some(0.2));
        assert_eq!(results[1].unit, "%");
        assert_eq!(results[0].threshold, "< 100ms");
        assert_eq!(
            results[3].observed, None,
            "no data is a failure, not a pass"
        );
    }

    #[test]
    fn verdict_precedence() {
        let failed = evaluate(&[p("p95", "< 1ms")], |_, _| Some(5.0));
        let base = Evidence {
            interrupted: false,
            ok: 10,
            dropped_ratio: 0.0,
            max_dropped_ratio: 0.001,
            send_lag_p99_ms: 0.1,
            max_send_lag_p99_ms: 10.0,
            slo: &[],
            regressions: &[],
            checks: &[],
            failures: &[],
            generators: &[],
        };
        assert_eq!(verdict(&base).status, Status::Pass);
        let oversold = [checks::CheckResult {
            name: "stock".into(),
            check: "oversold == 0".into(),
            pass: false,
            observed: "oversold = 12".into(),
        }];
        let v = verdict(&Evidence {
            checks: &oversold,
            ..base.clone()
        });
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.reasons,
            ["verification stock failed: oversold == 0 (oversold = 12)"]
        );
        assert!(verdict(&base).reasons.is_empty());
        let lost = ["agent b lost: no heartbeat for 3 s".to_string()];
        let v = verdict(&Evidence {
            generators: &lost,
            ..base.clone()
        });
        assert_eq!((v.status, v.valid), (Status::Invalid, false));
        assert_eq!(v.reasons, lost);
        let v = verdict(&Evidence {
            slo: &failed,
            ..base.clone()
        });
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.reasons, ["SLO p95 < 1ms failed: observed 5.000 ms"]);
        let reg = ["all p99 +20.0% (tolerance +10%)".to_string()];
        let v = verdict(&Evidence {
            regressions: &reg,
            ..base.clone()
        });
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.reasons,
            ["regression against the baseline: all p99 +20.0% (tolerance +10%)"]
        );
        let v = verdict(&Evidence {
            ok: 0,
            ..base.clone()
        });
        assert_eq!(
            (v.status, v.reasons[0].as_str()),
            (Status::Fail, "not one request succeeded")
        );
        // Invalid beats fail: untrustworthy figures are not judged.
        let v = verdict(&Evidence {
            dropped_ratio: 0.002,
            slo: &failed,
            ..base.clone()
        });
        assert_eq!(v.status, Status::Invalid);
        assert!(!v.valid && v.reasons.len() == 1 && v.reasons[0].contains("dropped 0.200%"));
        let v = verdict(&Evidence {
            send_lag_p99_ms: 11.0,
            ..base.clone()
        });
        assert_eq!(v.status, Status::Invalid);
        // At the tolerance is still valid.
        let v = verdict(&Evidence {
            dropped_ratio: 0.001,
            send_lag_p99_ms: 10.0,
            ..base.clone()
        });
        assert_eq!(v.status, Status::Pass);
        // Interrupted beats everything, and still says whether the figures were valid.
        let v = verdict(&Evidence {
            interrupted: true,
            dropped_ratio: 0.5,
            ..base.clone()
        });
        assert_eq!(v.status, Status::Interrupted);
        assert!(!v.valid);
        assert_eq!(Status::Interrupted.exit_code(), 130);
        assert_eq!(Status::Invalid.exit_code(), 3);
    }

    #[test]
    fn ops_hold_as_written() {
        assert!(Op::Le.holds(1.0, 1.0));
        assert!(!Op::Lt.holds(1.0, 1.0));
        assert!(Op::Ge.holds(1000.0, 1000.0));
        assert!(Op::Gt.holds(2.0, 1.0));
        assert!(Op::Eq.holds(0.0, 0.0));
        assert!(!Op::Eq.holds(0.001, 0.0));
    }
}
