//! Validation of the `[kube]` section: the namespace to watch, `[[kube.expect]]` (what the
//! named HPAs must do during the run) and `[[kube.fault]]` (what to break, when).

use serde::Deserialize;
use std::time::Duration;

use toml::Spanned;

use crate::diag::Ctx;
use crate::scenario::plan::embedded::NAMESPACE;
use crate::scenario::plan::kube::{
    Basis, ExpectPlan, Expectation, FaultPlan, KubePlan, RecoveryBand,
};
use crate::scenario::plan::target::TargetSpec;

/// What to watch in a Kubernetes cluster during the run, what to expect of it, and which
/// faults to inject.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKube {
    pub namespace: Option<Spanned<String>>,
    pub context: Option<Spanned<String>>,
    #[serde(default)]
    pub expect: Vec<Spanned<RawExpect>>,
    #[serde(default)]
    pub fault: Vec<Spanned<RawFault>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub hpa: Option<Spanned<String>>,
    pub replicas_at_least: Option<Spanned<i64>>,
    pub within: Option<Spanned<String>>,
    /// `decision` (HPA desiredReplicas, the default) or `capacity` (Deployment readyReplicas).
    pub basis: Option<Spanned<String>>,
    pub never_limited: Option<Spanned<bool>>,
}

/// The part of a `[[kube.fault]]` table every kind has. The rest belongs to the kind
/// `action` names: its module reads the whole table again as its own struct (which denies
/// unknown fields), so this view alone lets the others pass.
#[derive(Debug, Deserialize)]
pub struct RawFault {
    pub at: Option<Spanned<String>>,
    pub action: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub recovery_p99: Option<Spanned<f64>>,
    pub recovery_errors: Option<Spanned<String>>,
}

/// `recovery_p99` above this is no band at all.
const MAX_RECOVERY_P99: f64 = 100.0;

pub(super) fn kube_plan(
    cx: &mut Ctx<'_>,
    raw: &Spanned<RawKube>,
    target: Option<&TargetSpec>,
    run_length: Duration,
) -> Option<KubePlan> {
    let k = raw.get_ref();
    let mut ok = true;
    let namespace = match &k.namespace {
        Some(n) if dns_label(n.get_ref()) => n.get_ref().clone(),
        Some(n) => {
            cx.err(
                n.span(),
                "kube.namespace",
                "a namespace is a DNS label: lower-case letters, digits and `-`",
            );
            ok = false;
            String::new()
        }
        None => {
            cx.err(
                raw.span(),
                "kube.namespace",
                "missing; name the namespace to watch (namespace = \"flash-sale\")",
            );
            ok = false;
            String::new()
        }
    };
    if let Some(TargetSpec::Embedded(e)) = target {
        match &e.config.cluster {
            None => {
                cx.err(
                    raw.span(),
                    "kube",
                    "the embedded service runs in no cluster; add simulate_cluster = true to [embedded] (service = \"flash-sale\"), or name a target deployed in one",
                );
                ok = false;
            }
            Some(_) if ok && namespace != NAMESPACE => {
                cx.err(
                    k.namespace.as_ref().map_or(raw.span(), |n| n.span()),
                    "kube.namespace",
                    format!("the simulated cluster serves the `{}` namespace", NAMESPACE),
                );
                ok = false;
            }
            Some(_) => {}
        }
    }
    let expect: Vec<ExpectPlan> = k
        .expect
        .iter()
        .enumerate()
        .filter_map(|(i, e)| expectation(cx, e, i))
        .collect();
    let mut faults: Vec<FaultPlan> = Vec::new();
    for (i, f) in k.fault.iter().enumerate() {
        let Some(mut plan) = fault(cx, f, i, run_length) else {
            continue;
        };
        if faults.iter().any(|p| p.name == plan.name) {
            match &f.get_ref().name {
                Some(n) => {
                    cx.err(
                        n.span(),
                        format!("kube.fault[{i}].name"),
                        format!(
                            "`{}` names another fault already; give each its own name",
                            plan.name
                        ),
                    );
                    continue;
                }
                None => {
                    let base = plan.name.clone();
                    let mut n = 2;
                    while faults.iter().any(|p| p.name == format!("{base}-{n}")) {
                        n += 1;
                    }
                    plan.name = format!("{base}-{n}");
                }
            }
        }
        faults.push(plan);
    }
    if k.expect.is_empty() && k.fault.is_empty() {
        cx.err(
            raw.span(),
            "kube",
            "nothing to do: add [[kube.expect]] (hpa = \"…\", replicas_at_least, within) or [[kube.fault]]",
        );
        ok = false;
    }
    (ok && expect.len() == k.expect.len() && faults.len() == k.fault.len()).then(|| KubePlan {
        namespace,
        context: k.context.as_ref().map(|c| c.get_ref().clone()),
        expect,
        faults,
    })
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn expectation(cx: &mut Ctx<'_>, e: &Spanned<RawExpect>, i: usize) -> Option<ExpectPlan> {
    let field = |k: &str| format!("kube.expect[{i}].{k}");
    let r = e.get_ref();
    let hpa = match &r.hpa {
        Some(h) if !h.get_ref().is_empty() => Some(h.get_ref().clone()),
        _ => {
            cx.err(
                e.span(),
                field("hpa"),
                "missing; name the HorizontalPodAutoscaler (hpa = \"flash-order\")",
            );
            None
        }
    };
    let never = r.never_limited.as_ref();
    let expectation = match (&r.replicas_at_least, never) {
        (Some(n), None) => {
            let count = cx.positive(n, &field("replicas_at_least"));
            let within = match &r.within {
                Some(w) => cx.duration(w, &field("within")),
                None => {
                    cx.err(
                        n.span(),
                        field("within"),
                        "missing; say by when, from the load's start (within = \"120s\")",
                    );
                    None
                }
            };
            let basis = match r.basis.as_ref().map(|b| (b.get_ref().as_str(), b.span())) {
                None | Some(("decision", _)) => Some(Basis::Decision),
                Some(("capacity", _)) => Some(Basis::Capacity),
                Some((other, span)) => {
                    cx.err(span, field("basis"), format!("`{other}`: use \"decision\" (HPA desiredReplicas) or \"capacity\" (Deployment readyReplicas)"));
                    None
                }
            };
            match (count, within, basis) {
                (Some(n), Some(within), Some(basis)) => Some(Expectation::ReplicasAtLeast {
                    n: n.min(u32::MAX as usize) as u32,
                    within,
                    basis,
                }),
                _ => None,
            }
        }
        (None, Some(b)) if *b.get_ref() => {
            for (k, span) in [
                ("within", r.within.as_ref().map(|v| v.span())),
                ("basis", r.basis.as_ref().map(|v| v.span())),
            ] {
                if let Some(span) = span {
                    cx.err(
                        span,
                        field(k),
                        "applies to replicas_at_least, not never_limited",
                    );
                }
            }
            (r.within.is_none() && r.basis.is_none()).then_some(Expectation::NeverLimited)
        }
        (None, Some(b)) => {
            cx.err(
                b.span(),
                field("never_limited"),
                "only `never_limited = true` states something; remove the line instead",
            );
            None
        }
        (Some(n), Some(_)) => {
            cx.err(
                n.span(),
                format!("kube.expect[{i}]"),
                "one expectation per [[kube.expect]]: replicas_at_least or never_limited, not both",
            );
            None
        }
        (None, None) => {
            cx.err(e.span(), format!("kube.expect[{i}]"), "say what to expect: replicas_at_least = N with within = \"…\", or never_limited = true");
            None
        }
    };
    Some(ExpectPlan {
        hpa: hpa?,
        expectation: expectation?,
    })
}

fn fault(
    cx: &mut Ctx<'_>,
    f: &Spanned<RawFault>,
    i: usize,
    run_length: Duration,
) -> Option<FaultPlan> {
    let field = |k: &str| format!("kube.fault[{i}].{k}");
    let r = f.get_ref();
    let at = match &r.at {
        Some(a) => match cx.duration(a, &field("at")) {
            Some(d) if d < run_length => Some(d),
            Some(d) => {
                cx.err(
                    a.span(),
                    field("at"),
                    format!(
                        "{} is after the load ends ({} with the warmup)",
                        humantime::format_duration(d),
                        humantime::format_duration(run_length)
                    ),
                );
                None
            }
            None => None,
        },
        None => {
            cx.err(
                f.span(),
                field("at"),
                "missing; say when, from the load's start (at = \"60s\")",
            );
            None
        }
    };
    let action = match &r.action {
        Some(a) => crate::fault::validate(cx, a, f.span(), &format!("kube.fault[{i}]")),
        None => {
            cx.err(
                f.span(),
                field("action"),
                format!("missing; one of {}", crate::fault::names()),
            );
            None
        }
    };
    let band = band(cx, r, &field);
    let name = match &r.name {
        Some(n) if super::request::valid_name(n.get_ref()) => Some(n.get_ref().clone()),
        Some(n) => {
            cx.err(
                n.span(),
                field("name"),
                "use letters, digits, `-` and `_` only (it is an SLO scope: \"delay.p99\")",
            );
            return None;
        }
        None => None,
    };
    let action = action?;
    Some(FaultPlan {
        at: at?,
        name: name.unwrap_or_else(|| action.action().to_string()),
        action,
        band: band?,
    })
}

/// The recovery band of a fault: `recovery_p99` (times the p99 before it) and
/// `recovery_errors` (points of error rate above the before's).
fn band(cx: &mut Ctx<'_>, r: &RawFault, field: &dyn Fn(&str) -> String) -> Option<RecoveryBand> {
    let mut band = RecoveryBand::default();
    let mut ok = true;
    if let Some(v) = &r.recovery_p99 {
        let f = *v.get_ref();
        if (1.0..=MAX_RECOVERY_P99).contains(&f) {
            band.p99_factor = f;
        } else {
            cx.err(
                v.span(),
                field("recovery_p99"),
                format!("a factor of the p99 before the fault, from 1 to {MAX_RECOVERY_P99} (1.5: back within 50 % of it)"),
            );
            ok = false;
        }
    }
    if let Some(v) = &r.recovery_errors {
        match crate::diag::parse_fraction(v.get_ref()) {
            Some(p) if (0.0..=1.0).contains(&p) => band.error_points = p,
            _ => {
                cx.err(
                    v.span(),
                    field("recovery_errors"),
                    "error rate above the before's that still counts as recovered, such as \"0.1%\"",
                );
                ok = false;
            }
        }
    }
    ok.then_some(band)
}
