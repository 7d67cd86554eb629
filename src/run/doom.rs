//! Stage 5's early stop: a sink that checks each final second of the measured window and
//! flags the run as soon as its SLOs have failed beyond recovery; the control loop then
//! stops the generator. Two users: a capacity search (`RunOptions::stop_on_certain_failure`:
//! every whole-run objective whose failure is already certain) and objectives marked
//! `abort = true` (a windowed one as soon as one of its windows fails; a whole-run one once
//! its failure is certain), so a nightly gate does not spend an hour on a run that failed
//! in minute two.

use std::cell::RefCell;
use std::rc::Rc;

use crate::metrics::sink::{Final, IntervalSink};
use crate::metrics::EndpointData;
use crate::scenario::{Plan, Workload};
use crate::slo::doom::certain_failure;
use crate::slo::observe::{self, Scope};
use crate::slo::Slo;

/// Set once, with the reason, when the SLOs are beyond saving.
pub(super) type Verdict = Rc<RefCell<Option<String>>>;

/// A windowed objective judged live: its scope's data in the current window.
struct Live {
    slo: Slo,
    /// Request index of its scope; `None`: all requests.
    scope: Option<usize>,
    every: i64,
    acc: EndpointData,
}

pub(super) struct DoomSink {
    /// Whole-run objectives whose certain failure ends the run.
    whole: Vec<Slo>,
    /// Requests the measured window plans (a flow's iterations × its steps), when known.
    planned: Option<u64>,
    windows: Vec<Live>,
    verdict: Verdict,
}

impl DoomSink {
    /// `all`: every objective counts (a capacity step); otherwise those with `abort = true`.
    /// `None` when nothing could end the run early.
    pub(super) fn new(plan: &Plan, verdict: Verdict, all: bool) -> Option<DoomSink> {
        let per_iteration = match &plan.workload {
            Workload::Flow { steps, .. } => Some(steps.len() as u64),
            Workload::Requests(_) => Some(1),
            Workload::Chat(_) => None,
        };
        let planned = per_iteration.and_then(|n| Some(plan.planned_requests()? * n));
        let names = plan.endpoint_names();
        let whole: Vec<Slo> = plan
            .slos
            .iter()
            .filter(|s| (all || s.abort) && s.every.is_none() && planned.is_some())
            .cloned()
            .collect();
        let windows: Vec<Live> = plan
            .slos
            .iter()
            .filter(|s| s.abort)
            .filter_map(|s| {
                let every = s.every?.as_secs().max(1) as i64;
                let scope = match s.scope.as_deref() {
                    None => None,
                    Some(n) => Some(names.iter().position(|x| x == n)?),
                };
                Some(Live {
                    slo: s.clone(),
                    scope,
                    every,
                    acc: EndpointData::new(),
                })
            })
            .collect();
        (!whole.is_empty() || !windows.is_empty()).then_some(DoomSink {
            whole,
            planned,
            windows,
            verdict,
        })
    }

    /// Adds second `idx` to each windowed objective; judges the windows it completes.
    fn windows(&mut self, f: &Final<'_>) -> Option<String> {
        for w in &mut self.windows {
            match w.scope {
                Some(ep) => w.acc.merge(&f.data.endpoints[ep]),
                None => w.acc.merge(&f.data.overall()),
            }
            if (f.idx + 1) % w.every != 0 {
                continue;
            }
            let scope = Scope {
                data: &w.acc,
                window_s: w.every as f64,
            };
            let value = observe::value(w.slo.metric, &scope, None);
            let failed = value.is_some_and(|v| !w.slo.op.holds(v, w.slo.threshold));
            let start = f.idx + 1 - w.every;
            w.acc = EndpointData::new();
            if failed {
                return Some(format!(
                    "SLO {} {} failed in the window {start}–{} s (observed {:.3} {}); abort = true",
                    w.slo.name,
                    w.slo.expr,
                    f.idx + 1,
                    w.slo.metric.display_value(value.unwrap_or_default()),
                    w.slo.metric.unit()
                ));
            }
        }
        None
    }
}

impl IntervalSink for DoomSink {
    fn interval(&mut self, f: &Final<'_>) {
        if f.idx < 0 || self.verdict.borrow().is_some() {
            return;
        }
        let why = self.windows(f).or_else(|| {
            let planned = self.planned?;
            (!self.whole.is_empty())
                .then(|| certain_failure(&self.whole, &f.totals.overall(), planned))
                .flatten()
        });
        if let Some(why) = why {
            *self.verdict.borrow_mut() = Some(why);
        }
    }

    fn live_only(&self) -> bool {
        true
    }
}
