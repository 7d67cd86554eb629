//! Validation of `[capacity]`: the search range, precision, step times, trials, hold and
//! requirement, each bounded, and that the load is one whose rate a search can set.

use serde::Deserialize;
use toml::Spanned;

use crate::diag::{parse_fraction, Ctx};
use crate::scenario::plan::capacity::CapacityPlan;

/// `[capacity]`: the search `loadctl capacity` runs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapacity {
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub precision: Option<Spanned<String>>,
    pub step: Option<Spanned<String>>,
    pub settle: Option<Spanned<String>>,
    pub trials: Option<Spanned<i64>>,
    pub hold: Option<Spanned<String>>,
    pub require: Option<Spanned<String>>,
    pub hpa_stable: Option<Spanned<String>>,
    pub hpa_settle_max: Option<Spanned<String>>,
}

/// Most repeats of a boundary rate: each is a whole step.
const MAX_TRIALS: i64 = 20;

pub(super) fn capacity(cx: &mut Ctx<'_>, raw: Option<&Spanned<RawCapacity>>) -> CapacityPlan {
    let mut plan = CapacityPlan::default();
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return plan;
    };
    let rate = |cx: &mut Ctx<'_>, v: &Option<Spanned<f64>>, field: &str, out: &mut f64| {
        if let Some(v) = v {
            match cx.rate_bound(v, field) {
                Some(r) if r.is_finite() && r > 0.0 => *out = r,
                Some(r) => cx.err(v.span(), field, format!("must be a rate above 0, not {r}")),
                None => {}
            }
        }
    };
    rate(cx, &raw.min, "capacity.min", &mut plan.min);
    rate(cx, &raw.max, "capacity.max", &mut plan.max);
    if let (Some(min), Some(max)) = (&raw.min, &raw.max) {
        if plan.min > plan.max {
            cx.err(
                max.span(),
                "capacity.max",
                format!("{} is below capacity.min {}", max.get_ref(), min.get_ref()),
            );
        }
    } else if plan.min > plan.max {
        // One of them defaulted: move the other bound with it.
        if raw.min.is_some() {
            plan.max = plan.min;
        } else {
            plan.min = plan.max;
        }
    }
    if let Some(p) = &raw.precision {
        match parse_fraction(p.get_ref()) {
            Some(f) if (0.001..=0.5).contains(&f) => plan.precision = f,
            _ => cx.err(
                p.span(),
                "capacity.precision",
                format!(
                    "`{}`: write a share from 0.1% to 50%, such as 2%",
                    p.get_ref()
                ),
            ),
        }
    }
    for (v, field, out) in [
        (&raw.step, "capacity.step", &mut plan.step),
        (&raw.settle, "capacity.settle", &mut plan.settle),
        (&raw.hpa_stable, "capacity.hpa_stable", &mut plan.hpa_stable),
        (
            &raw.hpa_settle_max,
            "capacity.hpa_settle_max",
            &mut plan.hpa_settle_max,
        ),
    ] {
        if let Some(v) = v {
            if let Some(d) = cx.duration(v, field) {
                *out = d;
            }
        }
    }
    if plan.step.is_zero() {
        let span = raw.step.as_ref().map_or(0..0, |s| s.span());
        cx.err(
            span,
            "capacity.step",
            "must be longer than 0 s: it is what each step judges",
        );
    }
    if let Some(h) = &raw.hold {
        plan.hold = cx.duration(h, "capacity.hold").filter(|d| !d.is_zero());
    }
    if let Some(t) = &raw.trials {
        match *t.get_ref() {
            n @ 1..=MAX_TRIALS => plan.trials = n as usize,
            n => cx.err(
                t.span(),
                "capacity.trials",
                format!("{n}: use 1 to {MAX_TRIALS} runs of each boundary rate"),
            ),
        }
    }
    if let Some(r) = &raw.require {
        match crate::slo::parse_requirement(r.get_ref()) {
            Ok(req) => plan.require = Some(req),
            Err(e) => cx.err(r.span(), "capacity.require", e),
        }
    }
    plan
}
