//! Validation of the `[slo]` table: each key a metric (optionally scoped to a request),
//! each value a threshold or a list of them for a range.

use std::time::Duration;

use indexmap::IndexMap;
use toml::Spanned;

use crate::diag::Ctx;
use crate::slo::{self, Slo};

/// The objectives; `names` are the scopes a key may name, `outcomes` the declared outcomes.
pub(super) fn slos(
    cx: &mut Ctx<'_>,
    raw: &IndexMap<String, Spanned<toml::Value>>,
    names: &[&str],
    outcomes: &[String],
) -> Vec<Slo> {
    let mut slos = Vec::new();
    for (key, value) in raw {
        let field = format!("slo.\"{key}\"");
        // `{ threshold = …, every = "10s", abort = true }`, or the threshold(s) alone.
        let (threshold, every, abort) = match value.get_ref() {
            toml::Value::Table(t) => match table(cx, t, value.span(), &field) {
                Some(parts) => parts,
                None => continue,
            },
            v => (v.clone(), None, false),
        };
        let exprs: Vec<&str> = match &threshold {
            toml::Value::String(s) => vec![s.as_str()],
            toml::Value::Array(a) if !a.is_empty() && a.iter().all(|v| v.is_str()) => {
                a.iter().filter_map(toml::Value::as_str).collect()
            }
            _ => {
                cx.err(
                    value.span(),
                    &field,
                    "write a threshold such as \"< 100ms\", a list of them for a range: [\">= 45%\", \"<= 55%\"], or { threshold = \"< 100ms\", every = \"10s\", abort = true }",
                );
                continue;
            }
        };
        for expr in exprs {
            match slo::parse_with_outcomes(key, expr, names, outcomes) {
                Ok(mut s) => {
                    s.every = every;
                    s.abort = abort;
                    slos.push(s);
                }
                Err(e) => cx.err(value.span(), &field, e),
            }
        }
    }
    slos
}

/// The table form: its threshold, window and abort flag; `None` after an error.
fn table(
    cx: &mut Ctx<'_>,
    t: &toml::value::Table,
    span: std::ops::Range<usize>,
    field: &str,
) -> Option<(toml::Value, Option<Duration>, bool)> {
    if let Some(k) = t
        .keys()
        .find(|k| !["threshold", "every", "abort"].contains(&k.as_str()))
    {
        cx.err(
            span,
            field,
            format!("unknown key `{k}`; an objective's table takes threshold, every and abort"),
        );
        return None;
    }
    let Some(threshold) = t.get("threshold").cloned() else {
        cx.err(
            span,
            field,
            "needs `threshold`, such as threshold = \"< 100ms\"",
        );
        return None;
    };
    let every = match t.get("every") {
        None => None,
        Some(toml::Value::String(s)) => match humantime::parse_duration(s.trim()) {
            Ok(d) if d >= Duration::from_secs(1) && d <= MAX_WINDOW => Some(d),
            _ => {
                cx.err(
                    span,
                    field,
                    format!("every = `{s}`: write whole seconds from 1s to 1h, such as \"10s\" (windows are cut on the run's seconds)"),
                );
                return None;
            }
        },
        Some(_) => {
            cx.err(span, field, "every: write a duration such as \"10s\"");
            return None;
        }
    };
    let abort = match t.get("abort") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(_) => {
            cx.err(span, field, "abort: write true or false");
            return None;
        }
    };
    Some((threshold, every, abort))
}

/// The longest window an objective may ask for.
const MAX_WINDOW: Duration = Duration::from_secs(3600);
