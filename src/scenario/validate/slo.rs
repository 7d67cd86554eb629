//! Validation of the `[slo]` table: each key a metric (optionally scoped to a request),
//! each value a threshold or a list of them for a range.

use indexmap::IndexMap;
use toml::Spanned;

use crate::scenario::diag::Ctx;
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
        let exprs: Vec<&str> = match value.get_ref() {
            toml::Value::String(s) => vec![s.as_str()],
            toml::Value::Array(a) if !a.is_empty() && a.iter().all(|v| v.is_str()) => {
                a.iter().filter_map(toml::Value::as_str).collect()
            }
            _ => {
                cx.err(
                    value.span(),
                    &field,
                    "write a threshold such as \"< 100ms\", or a list of them for a range: [\">= 45%\", \"<= 55%\"]",
                );
                continue;
            }
        };
        for expr in exprs {
            match slo::parse_with_outcomes(key, expr, names, outcomes) {
                Ok(s) => slos.push(s),
                Err(e) => cx.err(value.span(), &field, e),
            }
        }
    }
    slos
}
