//! Validation of `[distributed]` and `[distributed.kubernetes]`: durations bounded, the
//! Job's names and quantities in the forms Kubernetes accepts.

use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

use crate::diag::Ctx;
use crate::scenario::plan::distributed::DistributedPlan;

/// `[distributed]`: how a run over agents is judged, and `[distributed.kubernetes]`: the
/// Job `--kube-agents` creates.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDistributed {
    pub start_tolerance: Option<Spanned<String>>,
    pub heartbeat_timeout: Option<Spanned<String>>,
    pub kubernetes: Option<RawAgentsJob>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentsJob {
    pub namespace: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    #[serde(default)]
    pub node_selector: IndexMap<String, Spanned<String>>,
    pub separate: Option<Spanned<bool>>,
    #[serde(default)]
    pub tolerations: Vec<Spanned<String>>,
    pub cpu: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
}

pub(super) fn distributed(
    cx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawDistributed>>,
) -> DistributedPlan {
    let mut plan = DistributedPlan::default();
    let Some(raw) = raw.map(Spanned::get_ref) else {
        return plan;
    };
    if let Some(v) = &raw.start_tolerance {
        if let Some(d) = cx.duration(v, "distributed.start_tolerance") {
            plan.start_tolerance = d;
        }
    }
    if let Some(v) = &raw.heartbeat_timeout {
        match cx.duration(v, "distributed.heartbeat_timeout") {
            Some(d) if d < std::time::Duration::from_secs(1) => cx.err(
                v.span(),
                "distributed.heartbeat_timeout",
                "must be at least 1s: agents beat every 500 ms",
            ),
            Some(d) => plan.heartbeat_timeout = d,
            None => {}
        }
    }
    let Some(k) = &raw.kubernetes else {
        return plan;
    };
    let job = &mut plan.kubernetes;
    if let Some(ns) = &k.namespace {
        if dns_label(ns.get_ref()) {
            job.namespace = Some(ns.get_ref().clone());
        } else {
            cx.err(
                ns.span(),
                "distributed.kubernetes.namespace",
                format!(
                    "`{}` is not a namespace name: lowercase letters, digits and `-`, at most 63",
                    ns.get_ref()
                ),
            );
        }
    }
    if let Some(i) = &k.image {
        let img = i.get_ref().trim();
        if img.is_empty() || img.len() > 512 || img.chars().any(char::is_whitespace) {
            cx.err(
                i.span(),
                "distributed.kubernetes.image",
                "write an image reference such as registry.example/loadctl:0.1.0",
            );
        } else {
            job.image = img.to_string();
        }
    }
    for (key, v) in &k.node_selector {
        if key.is_empty() || key.len() > 253 || v.get_ref().len() > 63 {
            cx.err(
                v.span(),
                "distributed.kubernetes.node_selector",
                format!("`{key}`: a label key of at most 253 characters and a value of at most 63"),
            );
        } else {
            job.node_selector.push((key.clone(), v.get_ref().clone()));
        }
    }
    if let Some(s) = &k.separate {
        job.separate = *s.get_ref();
    }
    for t in &k.tolerations {
        match toleration(t.get_ref()) {
            Some(parsed) => job.tolerations.push(parsed),
            None => cx.err(
                t.span(),
                "distributed.kubernetes.tolerations",
                format!("`{}`: write key=value:Effect, such as loadctl.io/generator=true:NoSchedule (Effect: NoSchedule, PreferNoSchedule or NoExecute)", t.get_ref()),
            ),
        }
    }
    for (v, field, out, ok) in [
        (
            &k.cpu,
            "distributed.kubernetes.cpu",
            &mut job.cpu,
            "such as 2 or 500m",
        ),
        (
            &k.memory,
            "distributed.kubernetes.memory",
            &mut job.memory,
            "such as 1Gi or 512Mi",
        ),
    ] {
        if let Some(v) = v {
            if quantity(v.get_ref()) {
                *out = v.get_ref().clone();
            } else {
                cx.err(
                    v.span(),
                    field,
                    format!("`{}` is not a quantity: write one {ok}", v.get_ref()),
                );
            }
        }
    }
    plan
}

fn toleration(s: &str) -> Option<(String, String, String)> {
    let (kv, effect) = s.rsplit_once(':')?;
    let (k, v) = kv.split_once('=')?;
    let ok = !k.is_empty()
        && k.len() <= 253
        && v.len() <= 63
        && ["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect);
    ok.then(|| (k.to_string(), v.to_string(), effect.to_string()))
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Kubernetes quantity: a decimal number and an optional suffix.
fn quantity(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &s[digits.len()..];
    !digits.is_empty()
        && digits.parse::<f64>().is_ok_and(|n| n > 0.0)
        && ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&suffix)
}
