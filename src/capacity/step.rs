//! One step of a search: the scenario's workload at one rate in the open model, `settle`
//! unjudged then `step` judged, as an ordinary run into its own folder (every usual output),
//! stopped early once its SLOs can no longer pass; then its verdict and figures as a
//! `capacity.json` step.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::search::Verdict;
use crate::error::Result;
use crate::run::{run, RunOptions};
use crate::scenario::plan::schedule::RateSchedule;
use crate::scenario::{LoadPlan, Plan};
use crate::summary::capacity::{FailingSlo, Replicas, Step};
use crate::summary::{Status, Summary};

/// How to run each step.
pub struct StepRun<'a> {
    pub plan: &'a Plan,
    pub dir: &'a Path,
    pub handle_signals: bool,
    pub services: Option<crate::run::Services>,
}

impl StepRun<'_> {
    /// Runs step `index` at `rate`, judged over `judged` after `settle`.
    pub fn run(
        &self,
        index: u32,
        phase: &str,
        rate: f64,
        settle: Duration,
        judged: Duration,
    ) -> Result<(Step, Verdict)> {
        let mut p = self.plan.clone();
        let (connections, max_in_flight) = match &p.load {
            LoadPlan::Open {
                connections,
                max_in_flight,
                ..
            } => (*connections, *max_in_flight),
            _ => unreachable!("checked by capacity::search: the open model only"),
        };
        p.load = LoadPlan::Open {
            schedule: RateSchedule::constant(rate, settle + judged),
            connections,
            max_in_flight,
            duration: judged,
        };
        p.warmup = settle;
        let name = format!("step-{index:02}-{}", rate_label(rate));
        let opts = RunOptions {
            out: Some(self.dir.join(&name)),
            handle_signals: self.handle_signals,
            keep_signal_handlers: self.handle_signals,
            // A hold proves a pass: it runs to its end.
            stop_on_certain_failure: phase != "hold",
            services: self.services.clone(),
            ..RunOptions::default()
        };
        let out = run(&p, &opts)?;
        let s = &out.summary;
        let verdict = verdict(s);
        let mut st = step(index, phase, rate, &name, s, &verdict);
        st.replicas = replicas(s, self.plan.capacity.hpa_stable.as_secs_f64());
        Ok((st, verdict))
    }
}

pub fn rate_label(rate: f64) -> String {
    let s = format!("{rate:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn verdict(s: &Summary) -> Verdict {
    let first_failing = || {
        s.slo
            .iter()
            .find(|r| !r.pass)
            .map(|r| r.name.clone())
            .or_else(|| s.reasons.first().cloned())
            .unwrap_or_else(|| "fail".into())
    };
    match s.status {
        Status::Pass => Verdict::Pass,
        Status::Interrupted => Verdict::Interrupted,
        // Its SLOs were beyond saving before the generator's tolerance mattered: the
        // target's verdict (a queue the target built is not the generator's lateness).
        Status::Invalid if s.stopped_early.is_some() => Verdict::Fail(first_failing()),
        Status::Invalid => Verdict::Generator,
        Status::Fail => Verdict::Fail(first_failing()),
    }
}

fn step(index: u32, phase: &str, rate: f64, dir: &str, s: &Summary, v: &Verdict) -> Step {
    Step {
        index,
        phase: phase.into(),
        rate,
        achieved_rps: s.totals.rps,
        // The step's verdict: a run whose SLOs failed before its generator's tolerance
        // mattered is the target's failure (see `verdict`), whatever its own status says.
        status: match v {
            Verdict::Fail(_) => Status::Fail,
            _ => s.status,
        },
        pass: *v == Verdict::Pass,
        failing: s
            .slo
            .iter()
            .filter(|r| !r.pass)
            .map(|r| FailingSlo {
                name: r.name.clone(),
                threshold: r.threshold.clone(),
                observed: r.observed,
                unit: r.unit.clone(),
            })
            .collect(),
        p50_ms: s.latency_ms.p50,
        p95_ms: s.latency_ms.p95,
        p99_ms: s.latency_ms.p99,
        error_rate: s.totals.error_rate,
        dropped: s.totals.dropped,
        send_lag_p99_ms: s.generator.send_lag_p99_ms,
        judged_s: s.duration_s,
        stopped_early: s.stopped_early.clone(),
        dir: dir.into(),
        replicas: BTreeMap::new(),
    }
}

/// Each watched HPA at the end of the step, and whether its desired replicas still moved
/// within `stable_s` before the judged window or during it (the settle did not reach a
/// steady state).
fn replicas(s: &Summary, stable_s: f64) -> BTreeMap<String, Replicas> {
    let Some(k) = &s.kube else {
        return BTreeMap::new();
    };
    k.hpas
        .iter()
        .filter_map(|h| {
            let last = h.timeline.last()?;
            // The timeline counts from the load's start; the judged window from `warmup_s`.
            let since = s.warmup_s - stable_s;
            let moving = h
                .timeline
                .windows(2)
                .any(|w| w[1].desired != w[0].desired && w[1].t_s >= since);
            Some((
                h.name.clone(),
                Replicas {
                    desired: last.desired,
                    ready: last.ready,
                    max_replicas: h.max_replicas,
                    moving,
                },
            ))
        })
        .collect()
}
