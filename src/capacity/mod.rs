//! `loadctl capacity`: the highest rate a service holds within the scenario's own SLOs,
//! found by repeated runs (exponential growth, then bisection; see [`search`]), each a
//! step with its own run folder ([`step`]), with what bounded it, the boundary's noise, a
//! confirming hold, and a requirement for CI gates. The result is `capacity.json` and a
//! `report.html` with the throughput–latency curve (`report/capacity.rs`).
//!
//! `capacity.json` is rewritten after every step, so an interrupted search (or one killed
//! between steps) leaves what it found so far.

pub mod search;
pub mod step;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::scenario::{LoadPlan, Plan, Workload};
use crate::slo::Status;
use crate::summary::capacity::{CapacityResult, Requirement, Step, Trial, CAPACITY_SCHEMA_VERSION};
use search::{Bound, Phase, Search};
use step::StepRun;

/// How to search, beyond the plan.
#[derive(Debug, Clone, Default)]
pub struct CapacityOptions {
    /// Output folder; default `reports/<scenario>-capacity-<UTC timestamp>`.
    pub out: Option<PathBuf>,
    /// Print a line per step and the answer on stdout.
    pub print: bool,
    /// Handle SIGINT/SIGTERM in each step (the CLI does).
    pub handle_signals: bool,
    /// What starts the embedded reference service for each step ([`RunOptions::services`](crate::run::RunOptions)).
    pub services: Option<crate::run::Services>,
}

#[derive(Debug)]
pub struct CapacityOutcome {
    pub result: CapacityResult,
    pub out_dir: PathBuf,
}

/// An interrupt arrived outside a step's load (setting up, writing reports): the search
/// stops before its next step. During a step's load, the step's own handler stops it.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// For the whole search, an interrupt is noted instead of ending the process, so the
/// partial result is written; a step's control loop chains to this handler.
fn note_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_interrupt as *const () as libc::sighandler_t);
        }
    }
}

/// Searches `plan`'s capacity.
pub fn search(plan: &Plan, opts: &CapacityOptions) -> Result<CapacityOutcome> {
    check(plan)?;
    if opts.handle_signals {
        note_interrupts();
    }
    let out_dir =
        crate::run::create_output_dir(&format!("{}-capacity", plan.name), opts.out.as_ref())?;
    let cap = &plan.capacity;
    let runner = StepRun {
        plan,
        dir: &out_dir,
        handle_signals: opts.handle_signals,
        services: opts.services.clone(),
    };
    let mut s = Search::new(cap);
    let mut result = empty_result(plan);
    let mut index = 0u32;
    while let Some((phase, rate)) = s.next_step() {
        if INTERRUPTED.load(Ordering::SeqCst) {
            s.record(phase, rate, search::Verdict::Interrupted);
            break;
        }
        index += 1;
        let (mut st, mut v) = runner.run(index, phase.name(), rate, cap.settle, cap.step)?;
        // An HPA still changing its mind in the judged window: the step did not measure a
        // steady state. Once more at the same rate, settling up to the cap.
        if st.replicas.values().any(|r| r.moving) && cap.hpa_settle_max > cap.settle {
            record(&mut result, st, opts, &out_dir);
            index += 1;
            (st, v) = runner.run(index, "settle_again", rate, cap.hpa_settle_max, cap.step)?;
        }
        s.record(phase, rate, v);
        if phase == Phase::Hold {
            result.hold = Some(st.clone());
            print_step(opts, &st);
        } else {
            record(&mut result, st, opts, &out_dir);
        }
        finish(&mut result, &s, plan);
        write(&out_dir, &result)?;
    }
    finish(&mut result, &s, plan);
    write(&out_dir, &result)?;
    crate::report::capacity::write(&out_dir, &result).map_err(Error::Failed)?;
    if opts.print {
        emit(&crate::report::capacity::answer(&result, &out_dir));
    }
    Ok(CapacityOutcome { result, out_dir })
}

/// A search sets the rate: it needs the open model, and a workload whose rate it is.
fn check(plan: &Plan) -> Result<()> {
    if matches!(plan.workload, Workload::Chat(_)) {
        return Err(Error::usage(format!(
            "{}: a capacity search sets the open model's rate; a [chat] scenario's load is its connections (search its publish rate by running it at several `chat.publish_rate` values)",
            plan.name
        )));
    }
    if !matches!(plan.load, LoadPlan::Open { .. }) {
        return Err(Error::usage(format!(
            "{}: a capacity search sets the arrival rate, so it needs the open model: give [load] a `rate` instead of `vus`",
            plan.name
        )));
    }
    Ok(())
}

fn empty_result(plan: &Plan) -> CapacityResult {
    CapacityResult {
        schema_version: CAPACITY_SCHEMA_VERSION,
        loadctl_version: env!("CARGO_PKG_VERSION").into(),
        scenario: plan.name.clone(),
        target: String::new(),
        status: Status::Interrupted,
        reasons: Vec::new(),
        started_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        unit: plan.workload.unit().into(),
        capacity_rps: None,
        bound: "interrupted".into(),
        bracket: None,
        precision: plan.capacity.precision,
        trials: Vec::new(),
        inversions: Vec::new(),
        require: None,
        steps: Vec::new(),
        hold: None,
        replicas_at_capacity: Default::default(),
    }
}

fn record(result: &mut CapacityResult, st: Step, opts: &CapacityOptions, dir: &Path) {
    print_step(opts, &st);
    if result.target.is_empty() {
        if let Ok(s) = crate::summary::load_summary(&dir.join(&st.dir)) {
            result.target = s.target;
        }
    }
    result.steps.push(st);
}

fn print_step(opts: &CapacityOptions, st: &Step) {
    if opts.print {
        emit(&crate::report::capacity::step_line(st));
    }
}

fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The answer so far: capacity, bound, status and why.
fn finish(r: &mut CapacityResult, s: &Search, plan: &Plan) {
    let cap = &plan.capacity;
    r.capacity_rps = s.capacity();
    r.bracket = s.bracket();
    r.bound = s.bound.as_ref().map_or("interrupted".into(), Bound::label);
    r.inversions = s.inversions();
    r.trials = s
        .trial_counts()
        .into_iter()
        .map(|(rate, passed, runs)| Trial { rate, passed, runs })
        .collect();
    r.replicas_at_capacity = r
        .steps
        .iter()
        .rev()
        .find(|st| st.pass && Some(st.rate) == r.capacity_rps)
        .map(|st| st.replicas.clone())
        .unwrap_or_default();
    let met = |c: Option<f64>| match (cap.require, c) {
        (Some((op, v)), Some(c)) => op.holds(c, v),
        _ => false,
    };
    r.require = plan.capacity.require.map(|(op, v)| Requirement {
        expr: format!("{} {}", op_text(op), step::rate_label(v)),
        met: met(r.capacity_rps),
    });
    let mut reasons = Vec::new();
    let status = match &s.bound {
        None | Some(Bound::Interrupted) => {
            reasons.push("interrupted: the result holds the steps run so far".into());
            Status::Interrupted
        }
        Some(Bound::Generator) => {
            reasons.push(format!(
                "the generator could not hold {} {}/s: the capacity is at least {}, not found",
                next_rate(r),
                r.unit,
                r.capacity_rps.map_or("—".into(), step::rate_label)
            ));
            if r.require.as_ref().is_some_and(|q| q.met) {
                Status::Pass
            } else {
                Status::Invalid
            }
        }
        Some(Bound::BelowMin(slo)) => {
            reasons.push(format!(
                "not even min = {} passed ({slo} failed)",
                step::rate_label(cap.min)
            ));
            Status::Fail
        }
        Some(_) => Status::Pass,
    };
    let mut status = status;
    if let Some(false) = s.held() {
        reasons.push("the hold at the capacity did not pass".into());
        status = worse(status, Status::Fail);
    }
    if let Some(q) = &r.require {
        if !q.met && status == Status::Pass {
            reasons.push(format!("capacity requirement {} not met", q.expr));
            status = Status::Fail;
        }
    }
    r.status = status;
    r.reasons = reasons;
}

fn next_rate(r: &CapacityResult) -> String {
    r.steps
        .last()
        .map_or("—".into(), |s| step::rate_label(s.rate))
}

fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Pass => 0,
        Status::Fail => 1,
        Status::Invalid => 2,
        Status::Interrupted => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn op_text(op: crate::slo::Op) -> &'static str {
    use crate::slo::Op;
    match op {
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        Op::Eq => "==",
    }
}

/// Writes `capacity.json` (atomically).
fn write(dir: &Path, r: &CapacityResult) -> Result<()> {
    let json = serde_json::to_string_pretty(r).expect("plain data serialises");
    crate::files::write_atomic(&dir.join("capacity.json"), json.as_bytes()).map_err(Error::Failed)
}
