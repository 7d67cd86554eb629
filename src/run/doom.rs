//! Stage 5's early stop (`RunOptions::stop_on_certain_failure`): a sink that checks each
//! final second of the measured window against the plan's SLOs and flags the run as soon
//! as they can no longer pass; the control loop then stops the generator. A capacity search
//! uses it so that a failing step ends in seconds, not at the end of its window.

use std::cell::RefCell;
use std::rc::Rc;

use crate::metrics::sink::{Final, IntervalSink};
use crate::scenario::{Plan, Workload};
use crate::slo::doom::certain_failure;
use crate::slo::Slo;

/// Set once, with the reason, when the SLOs are beyond saving.
pub(super) type Verdict = Rc<RefCell<Option<String>>>;

pub(super) struct DoomSink {
    slos: Vec<Slo>,
    /// Requests the measured window plans (a flow's iterations × its steps).
    planned: u64,
    verdict: Verdict,
}

impl DoomSink {
    /// `None` when the plan has no count to judge against (only the open model plans one).
    pub(super) fn new(plan: &Plan, verdict: Verdict) -> Option<DoomSink> {
        let per_iteration = match &plan.workload {
            Workload::Flow { steps, .. } => steps.len() as u64,
            Workload::Requests(_) => 1,
            Workload::Chat(_) => return None,
        };
        Some(DoomSink {
            slos: plan.slos.clone(),
            planned: plan.planned_requests()? * per_iteration,
            verdict,
        })
    }
}

impl IntervalSink for DoomSink {
    fn interval(&mut self, f: &Final<'_>) {
        if f.idx < 0 || self.verdict.borrow().is_some() {
            return;
        }
        if let Some(why) = certain_failure(&self.slos, &f.totals.overall(), self.planned) {
            *self.verdict.borrow_mut() = Some(why);
        }
    }

    fn live_only(&self) -> bool {
        true
    }
}
