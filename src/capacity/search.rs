//! The search itself, apart from running anything: which rate to try next given what
//! the steps so far found. Exponential growth from `min` until a step fails (or `max`
//! passes), then bisection between the last passing and the first failing rate until they
//! are within `precision`, then the boundary rates again for `trials`, then the hold. A
//! step the generator could not hold ends the search there: it bounds the generator, not
//! the target.

use crate::scenario::plan::capacity::CapacityPlan;

/// Why a search ended where it did.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// The next rate failed this SLO.
    Slo(String),
    /// The generator could not hold the next rate.
    Generator,
    /// `max` passed.
    Max,
    /// Not even `min` passed (this SLO failed).
    BelowMin(String),
    Interrupted,
}

impl Bound {
    pub fn label(&self) -> String {
        match self {
            Bound::Slo(n) => format!("slo:{n}"),
            Bound::Generator => "generator".into(),
            Bound::Max => "max".into(),
            Bound::BelowMin(_) => "below_min".into(),
            Bound::Interrupted => "interrupted".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Growth,
    Bisect,
    Trial,
    Hold,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Growth => "growth",
            Phase::Bisect => "bisect",
            Phase::Trial => "trial",
            Phase::Hold => "hold",
        }
    }
}

/// What a step found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Pass,
    /// An SLO failed (the first failing one's name).
    Fail(String),
    /// The generator could not hold the rate.
    Generator,
    Interrupted,
}

pub struct Search {
    plan: CapacityPlan,
    growth: Vec<f64>,
    next_growth: usize,
    lo: Option<f64>,
    hi: Option<(f64, String)>,
    bisecting: bool,
    trials: Vec<f64>,
    /// `(rate, verdict)` of every step but the hold, in order.
    pub history: Vec<(f64, Verdict)>,
    pub bound: Option<Bound>,
    held: Option<bool>,
}

impl Search {
    pub fn new(plan: &CapacityPlan) -> Search {
        Search {
            growth: plan.growth(),
            plan: plan.clone(),
            next_growth: 0,
            lo: None,
            hi: None,
            bisecting: false,
            trials: Vec::new(),
            history: Vec::new(),
            bound: None,
            held: None,
        }
    }

    /// The highest rate that passed where the search ended.
    pub fn capacity(&self) -> Option<f64> {
        self.lo
    }

    /// `[passing, failing]` when the search bracketed the capacity.
    pub fn bracket(&self) -> Option<[f64; 2]> {
        Some([self.lo?, self.hi.as_ref()?.0])
    }

    pub fn held(&self) -> Option<bool> {
        self.held
    }

    /// The next step to run, or `None` when the search is over.
    pub fn next_step(&mut self) -> Option<(Phase, f64)> {
        if matches!(
            self.bound,
            Some(Bound::Generator | Bound::Interrupted | Bound::BelowMin(_))
        ) {
            return None;
        }
        if self.bound.is_none() {
            if !self.bisecting {
                return Some((Phase::Growth, self.growth[self.next_growth]));
            }
            let (lo, (hi, _)) = (self.lo?, self.hi.clone()?);
            if (hi - lo) / lo > self.plan.precision {
                let mid = (lo + hi) / 2.0;
                let mid = if hi - lo > 4.0 { mid.round() } else { mid };
                return Some((Phase::Bisect, mid));
            }
            let why = self.hi.clone().map(|h| h.1).unwrap_or_default();
            self.bound = Some(Bound::Slo(why));
            for _ in 1..self.plan.trials {
                self.trials.push(lo);
                self.trials.push(hi);
            }
        }
        if let Some(r) = self.trials.first().copied() {
            self.trials.remove(0);
            return Some((Phase::Trial, r));
        }
        match (self.plan.hold, self.held, self.lo) {
            (Some(_), None, Some(rate)) => Some((Phase::Hold, rate)),
            _ => None,
        }
    }

    /// What the step at `rate` of `phase` found.
    pub fn record(&mut self, phase: Phase, rate: f64, v: Verdict) {
        if phase != Phase::Hold {
            self.history.push((rate, v.clone()));
        }
        match (&v, phase) {
            (Verdict::Interrupted, _) => self.bound = Some(Bound::Interrupted),
            (Verdict::Generator, Phase::Growth | Phase::Bisect) => {
                self.bound = Some(Bound::Generator)
            }
            (_, Phase::Hold) => self.held = Some(v == Verdict::Pass),
            // Trials only measure noise at the boundary; the result says what they found.
            (_, Phase::Trial) => {}
            (Verdict::Pass, Phase::Growth) => {
                self.lo = Some(rate);
                self.next_growth += 1;
                if self.next_growth >= self.growth.len() {
                    self.bound = Some(Bound::Max);
                }
            }
            (Verdict::Fail(slo), Phase::Growth) => {
                self.hi = Some((rate, slo.clone()));
                if self.lo.is_none() {
                    self.bound = Some(Bound::BelowMin(slo.clone()));
                } else {
                    self.bisecting = true;
                }
            }
            (Verdict::Pass, Phase::Bisect) => self.lo = Some(rate),
            (Verdict::Fail(slo), Phase::Bisect) => self.hi = Some((rate, slo.clone())),
        }
    }

    /// Rates that failed although a higher one passed.
    pub fn inversions(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (r, v) in &self.history {
            if let Verdict::Fail(slo) = v {
                if let Some((higher, _)) = self
                    .history
                    .iter()
                    .filter(|(h, hv)| h > r && *hv == Verdict::Pass)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                {
                    out.push(format!("{r} failed ({slo}) although {higher} passed"));
                }
            }
        }
        out
    }

    /// Per boundary rate tried more than once: passes and runs.
    pub fn trial_counts(&self) -> Vec<(f64, u32, u32)> {
        let mut rates: Vec<f64> = self.bracket().map(|b| b.to_vec()).unwrap_or_default();
        rates.dedup();
        rates
            .into_iter()
            .map(|rate| {
                let runs: Vec<&Verdict> = self
                    .history
                    .iter()
                    .filter(|(r, _)| *r == rate)
                    .map(|(_, v)| v)
                    .collect();
                let passed = runs.iter().filter(|v| ***v == Verdict::Pass).count();
                (rate, passed as u32, runs.len() as u32)
            })
            .filter(|(_, _, runs)| *runs > 1)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Runs a search against a target that holds `capacity` exactly.
    fn against(capacity: f64, plan: &CapacityPlan) -> Search {
        let mut s = Search::new(plan);
        let mut steps = 0;
        while let Some((phase, rate)) = s.next_step() {
            let v = if rate <= capacity {
                Verdict::Pass
            } else {
                Verdict::Fail("p95".into())
            };
            s.record(phase, rate, v);
            steps += 1;
            assert!(steps < 100, "the search must end");
        }
        s
    }

    fn plan(min: f64, max: f64) -> CapacityPlan {
        CapacityPlan {
            min,
            max,
            precision: 0.02,
            ..CapacityPlan::default()
        }
    }

    #[test]
    fn finds_a_known_capacity_within_its_precision() {
        for cap in [3000.0, 777.0, 5001.0, 100.0] {
            let s = against(cap, &plan(100.0, 100_000.0));
            let found = s.capacity().unwrap();
            assert!(
                found <= cap && found >= cap * 0.98 - 1.0,
                "{cap}: found {found}"
            );
            assert_eq!(s.bound, Some(Bound::Slo("p95".into())));
            let [lo, hi] = s.bracket().unwrap();
            assert!((hi - lo) / lo <= 0.02);
        }
    }

    #[test]
    fn a_max_below_the_capacity_is_reported_as_max() {
        let s = against(3000.0, &plan(500.0, 1500.0));
        assert_eq!(s.capacity(), Some(1500.0));
        assert_eq!(s.bound, Some(Bound::Max));
        let rates: Vec<f64> = s.history.iter().map(|h| h.0).collect();
        assert_eq!(rates, vec![500.0, 1000.0, 1500.0]);
    }

    #[test]
    fn below_min_and_generator_end_the_search() {
        let s = against(50.0, &plan(100.0, 1000.0));
        assert_eq!(s.capacity(), None);
        assert_eq!(s.bound, Some(Bound::BelowMin("p95".into())));

        let mut s = Search::new(&plan(100.0, 10_000.0));
        let (p, r) = s.next_step().unwrap();
        s.record(p, r, Verdict::Pass);
        let (p, r) = s.next_step().unwrap();
        s.record(p, r, Verdict::Generator);
        assert_eq!(s.next_step(), None);
        assert_eq!(
            (s.capacity(), s.bound.clone()),
            (Some(100.0), Some(Bound::Generator))
        );
    }

    #[test]
    fn trials_repeat_the_boundary_then_the_hold_confirms() {
        let p = CapacityPlan {
            trials: 3,
            hold: Some(Duration::from_secs(60)),
            ..plan(1000.0, 100_000.0)
        };
        let mut s = Search::new(&p);
        let mut trial_rates = Vec::new();
        let mut n = 0;
        while let Some((phase, rate)) = s.next_step() {
            n += 1;
            // A noisy target: the boundary's lower rate fails once in its trials.
            let v = if phase == Phase::Trial && trial_rates.is_empty() {
                Verdict::Fail("p95".into())
            } else if rate <= 2500.0 {
                Verdict::Pass
            } else {
                Verdict::Fail("p95".into())
            };
            if phase == Phase::Trial {
                trial_rates.push(rate);
            }
            s.record(phase, rate, v);
            assert!(n < 100);
        }
        assert_eq!(trial_rates.len(), 4, "two more runs of each boundary rate");
        let counts = s.trial_counts();
        assert_eq!(counts.len(), 2);
        assert!(counts
            .iter()
            .any(|(_, passed, runs)| *runs == 3 && *passed == 2));
        assert_eq!(s.held(), Some(true));
        // Failing once where it also passed is noise (in `trials`), not an inversion.
        assert!(s.inversions().is_empty(), "{:?}", s.inversions());
    }

    #[test]
    fn a_failure_below_a_pass_is_an_inversion() {
        let mut s = Search::new(&plan(1000.0, 100_000.0));
        s.record(Phase::Growth, 1000.0, Verdict::Pass);
        s.record(Phase::Growth, 2000.0, Verdict::Fail("p99".into()));
        s.record(Phase::Bisect, 1500.0, Verdict::Pass);
        s.record(Phase::Trial, 1000.0, Verdict::Fail("p99".into()));
        assert_eq!(
            s.inversions(),
            vec!["1000 failed (p99) although 1500 passed"]
        );
    }
}
