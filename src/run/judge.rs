//! Stage 6: judgement. The measured window (the plan's, unless the run stopped early),
//! what the reader should know (a feeder ran out), the `[[verify]]` checks, the
//! Kubernetes expectations and fault windows, every SLO over its scope, and at last the
//! verdict with the baseline comparison.

use super::checks;
use super::drive::Measured;
use super::target::Target;
use super::RunOptions;
use crate::kube::outcome::FaultScopes;
use crate::kube::session::Outcome;
use crate::scenario::{Exhausted, LoadPlan, Plan, Tolerances, FAULT_SCOPE};
use crate::slo::checks::CheckResult;
use crate::slo::observe::{self, Scope};
use crate::slo::{self, SloResult};
use crate::summary::balance::BalanceSummary;
use crate::summary::build::Measured as Figures;
use crate::summary::compare::{compare_sides, Side};
use crate::summary::kube::KubeSummary;
use crate::summary::prometheus::PrometheusSummary;
use crate::summary::Comparison;

/// What was judged, before the summary is assembled.
pub(super) struct Judged {
    /// Length of the measured window.
    pub window_s: f64,
    pub notes: Vec<String>,
    /// Failures beyond SLOs: a feeder that had to last, an unmet expectation.
    pub failures: Vec<String>,
    pub verification: Vec<CheckResult>,
    pub kube: Option<KubeSummary>,
    pub slo: Vec<SloResult>,
    pub prometheus: Vec<PrometheusSummary>,
    pub balance: Option<BalanceSummary>,
}

pub(super) fn judge(
    rt: &crate::engine::runtime::Handle,
    plan: &Plan,
    target: &Target,
    m: &Measured,
    (kube_seen, scraped): (Option<Outcome>, Vec<super::scrape::ScrapeLog>),
) -> anyhow::Result<Judged> {
    let planned_end = m.measure_start + plan.load.duration();
    let stopped = m.ended.stopped_early.as_ref().map(|(at, _)| *at);
    let window_end = match (&plan.load, m.ended.interrupted_at.or(stopped)) {
        (_, Some(at)) => at.min(planned_end),
        (LoadPlan::Open { .. }, None) if m.exhausted.is_none() => planned_end,
        _ => m.ended.at.min(planned_end),
    };
    let window_s = window_end
        .saturating_duration_since(m.measure_start)
        .as_secs_f64();
    let mut notes = Vec::new();
    let mut failures = Vec::new();
    if let Some(s) = plan.shard {
        notes.push(format!(
            "shard {} of {}: this run sent its share of the one schedule; `loadctl merge` puts the {} folders together",
            s.index, s.of, s.of
        ));
    }
    if let Some((_, why)) = &m.ended.stopped_early {
        notes.push(format!(
            "stopped early, {window_s:.1} s into the measured window: {why}"
        ));
    }
    for e in &m.examples {
        notes.push(format!(
            "`{}` {}: the target said \"{}\"",
            e.request,
            e.kind.name(),
            e.message
        ));
    }
    if let Some((feeder, how)) = &m.exhausted {
        let line = format!(
            "feeder `{feeder}` ran out of rows; the load stopped {window_s:.1} s into the measured window"
        );
        match how {
            Exhausted::Fail => failures.push(format!("{line} (on_exhausted = \"fail\")")),
            _ => notes.push(line),
        }
    }
    // Verification looks at the state the load left; an interrupted run has no such state.
    let verification = if m.ended.interrupted_at.is_some() {
        Vec::new()
    } else {
        checks::verify(rt, plan, target)
    };
    let (kube, faults) = match (&kube_seen, &plan.kube) {
        (Some(seen), Some(k)) => {
            let log = m.seconds.intervals()?;
            let end = window_end.saturating_duration_since(m.origin).as_secs_f64();
            let (summary, data) =
                crate::kube::outcome::summarize(seen, &k.namespace, &log, plan.warmup, end);
            for e in summary.expectations.iter().filter(|e| !e.pass) {
                failures.push(format!("hpa/{}: {} — {}", e.hpa, e.expectation, e.observed));
            }
            (Some(summary), data)
        }
        _ => (None, FaultScopes::default()),
    };
    let overall = m.totals.overall();
    let window = (
        m.measure_start,
        m.measure_start + std::time::Duration::from_secs_f64(window_s),
    );
    let prometheus: Vec<PrometheusSummary> = plan
        .scrapes
        .iter()
        .zip(&scraped)
        .map(|(p, log)| {
            let origin = target.origin_text();
            super::scrape::summarize((p, &origin), log, window, &overall, window_s)
        })
        .collect();
    let balance = match &plan.balance {
        Some(b) => {
            let ready: Option<Vec<_>> = kube_seen
                .as_ref()
                .map(|k| k.hpas.iter().flat_map(|h| h.ready.clone()).collect());
            let log = m.seconds.intervals()?;
            Some(crate::kube::balance::summarize(
                &crate::kube::balance::Inputs {
                    plan: b,
                    log: &log,
                    totals: &m.totals,
                    ready: ready.as_deref(),
                    affinity: &m.affinity,
                    warmup: plan.warmup,
                    window_s,
                },
            ))
        }
        None => None,
    };
    let mut slo = evaluate(plan, m, window_s, &faults);
    server_slos(plan, &prometheus, &mut slo);
    balance_slos(plan, balance.as_ref(), &mut slo);
    recovery_slos(plan, kube.as_ref(), &mut slo);
    if plan.slos.iter().any(|s| s.every.is_some()) {
        windowed(plan, window_s, m, &mut slo)?;
    }
    Ok(Judged {
        window_s,
        notes,
        failures,
        verification,
        kube,
        slo,
        prometheus,
        balance,
    })
}

/// Objectives on the backends' shares (`balance.imbalance`, `affinity.violations`).
fn balance_slos(plan: &Plan, b: Option<&BalanceSummary>, results: &mut [SloResult]) {
    use slo::BalanceStat as S;
    for (s, r) in plan.slos.iter().zip(results.iter_mut()) {
        let slo::Metric::Balance(stat) = s.metric else {
            continue;
        };
        // Unknown is never perfect: without a backend named, nothing passes.
        let value = b.filter(|b| b.known).and_then(|b| match stat {
            S::Imbalance => b.imbalance,
            S::Cv => b.cv,
            S::NewReplicaFirstRequest => b.new_replica_first_request_s,
            S::NewReplicaFairShare => b.new_replica_fair_share_s,
            S::Violations => b.affinity.as_ref().map(|a| a.violations as f64),
        });
        r.observed = value;
        r.pass = value.is_some_and(|v| s.op.holds(v, s.threshold));
    }
}

/// Objectives on what the target measured (`gateway.server_p99`), from its scrapes.
fn server_slos(plan: &Plan, prometheus: &[PrometheusSummary], results: &mut [SloResult]) {
    for (s, r) in plan.slos.iter().zip(results.iter_mut()) {
        let Some(p) = prometheus
            .iter()
            .find(|p| Some(&p.name) == s.scope.as_ref())
        else {
            continue;
        };
        let value = match s.metric {
            slo::Metric::ServerRps => p.server_rps,
            slo::Metric::ServerLatency(slo::Stat::Percentile(q)) => {
                p.server_latency_ms.map(|l| match q {
                    q if q <= 50.0 => l.p50,
                    q if q <= 90.0 => l.p90,
                    q if q <= 95.0 => l.p95,
                    _ => l.p99,
                })
            }
            _ => continue,
        };
        r.observed = value;
        r.pass = value.is_some_and(|v| s.op.holds(v, s.threshold));
    }
}

/// Objectives on how long a fault's traffic took to recover (`delay.recovery_s`).
fn recovery_slos(plan: &Plan, kube: Option<&KubeSummary>, results: &mut [SloResult]) {
    for (s, r) in plan.slos.iter().zip(results.iter_mut()) {
        if s.metric != slo::Metric::RecoverySeconds {
            continue;
        }
        let fault = kube.and_then(|k| k.faults.iter().find(|f| Some(&f.name) == s.scope.as_ref()));
        let value = fault.and_then(|f| f.recovery_s);
        r.observed = value;
        r.pass = value.is_some_and(|v| s.op.holds(v, s.threshold));
    }
}

/// Every SLO over its scope: the whole run, one request name, the fault windows together
/// or one fault's window (whose rate is over the whole seconds they cover).
fn evaluate(plan: &Plan, m: &Measured, window_s: f64, faults: &FaultScopes) -> Vec<SloResult> {
    let overall = m.totals.overall();
    let names = plan.endpoint_names();
    let loss =
        matches!(plan.workload, crate::scenario::Workload::Chat(_)).then(|| m.chat.loss_rate());
    slo::evaluate(&plan.slos, |scope, metric| {
        let scope = match scope {
            None => Scope {
                data: &overall,
                window_s,
            },
            Some(FAULT_SCOPE) if plan.kube.is_some() => {
                let (data, secs) = faults.union.as_ref()?;
                Scope {
                    data,
                    window_s: *secs,
                }
            }
            Some(name)
                if plan
                    .kube
                    .as_ref()
                    .is_some_and(|k| k.faults.iter().any(|f| f.name == name)) =>
            {
                let (_, data, secs) = faults.each.iter().find(|(n, ..)| n == name)?;
                Scope {
                    data,
                    window_s: *secs,
                }
            }
            Some(name) => Scope {
                data: &m.totals.endpoints[names.iter().position(|n| n == name)?],
                window_s,
            },
        };
        observe::value(metric, &scope, loss)
    })
}

/// Objectives that must hold in every window: judged again on the run's seconds, cut
/// into their windows, each over its scope.
fn windowed(
    plan: &Plan,
    window_s: f64,
    m: &Measured,
    results: &mut [SloResult],
) -> anyhow::Result<()> {
    let names = plan.endpoint_names();
    let log = m.seconds.intervals()?;
    let loss =
        matches!(plan.workload, crate::scenario::Workload::Chat(_)).then(|| m.chat.loss_rate());
    slo::window::judge_all(&plan.slos, results, &log, &names, (window_s, loss));
    Ok(())
}

/// The run's status and why, decided before its summary is assembled.
pub(super) struct Decided {
    pub baseline: Option<Comparison>,
    pub verdict: slo::Verdict,
}

/// Compares the figures with the baseline, if any, and decides the status.
pub(super) fn verdict(
    plan: &Plan,
    opts: &RunOptions,
    m: &Measured,
    j: &Judged,
    (figures, label): (&Figures, String),
    generators: &[String],
) -> Decided {
    let tolerances: Tolerances = opts.tolerances.unwrap_or(plan.compare);
    let baseline = opts.baseline.as_ref().map(|base| {
        let new = Side {
            label,
            latency_ms: &figures.latency_ms,
            totals: &figures.totals,
            endpoints: &figures.endpoints,
        };
        compare_sides(Side::of(base), new, &tolerances)
    });
    let regressions = baseline
        .as_ref()
        .map(Comparison::regression_lines)
        .unwrap_or_default();
    let mut verdict = slo::verdict(&slo::Evidence {
        interrupted: m.ended.interrupted_at.is_some(),
        ok: figures.totals.ok,
        dropped_ratio: figures.dropped_ratio,
        max_dropped_ratio: plan.generator.max_dropped,
        send_lag_p99_ms: figures.send_lag.p99,
        max_send_lag_p99_ms: plan.generator.max_send_lag_p99.as_secs_f64() * 1000.0,
        slo: &j.slo,
        regressions: &regressions,
        checks: &j.verification,
        failures: &j.failures,
        generators,
    });
    if let Some((_, why)) = &m.ended.stopped_early {
        verdict.reasons.insert(0, format!("aborted early: {why}"));
    }
    Decided { baseline, verdict }
}
