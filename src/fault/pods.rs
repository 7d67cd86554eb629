//! Which pods a fault acts on: a label `selector` and a `mode` (one, a fixed number or a
//! share of the Ready ones), validated and counted the same way for every kind that
//! chooses pods.

use std::ops::Range;

use k8s_openapi::api::core::v1::Pod;
use toml::Spanned;

use crate::diag::Ctx;

/// How many of the Ready pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    One,
    Fixed(usize),
    /// Percent of the Ready pods, rounded up.
    Percent(u32),
}

impl Mode {
    /// How many of `ready` pods to act on.
    pub fn count(self, ready: usize) -> usize {
        match self {
            Mode::One => 1.min(ready),
            Mode::Fixed(n) => n.min(ready),
            Mode::Percent(p) => ((ready * p as usize).div_ceil(100)).min(ready),
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::One => f.write_str("one pod"),
            Mode::Fixed(n) => write!(f, "{n} pods"),
            Mode::Percent(p) => write!(f, "{p}% of pods"),
        }
    }
}

/// The pods a fault chooses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub selector: String,
    pub mode: Mode,
}

/// The keys that choose pods, as a kind's raw struct holds them: `selector`, `mode`,
/// `value`.
pub(super) type RawChoice<'a> = (
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<String>>,
    &'a Option<Spanned<i64>>,
);

/// `selector`, `mode` and `value` of a fault's table (at `span`, named `field`).
pub(super) fn choice(
    cx: &mut Ctx<'_>,
    raw: RawChoice<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Choice> {
    let (selector, mode, value) = raw;
    let field = |k: &str| format!("{field}.{k}");
    let selector = match selector {
        Some(s) if valid_selector(s.get_ref()) => Some(s.get_ref().clone()),
        Some(s) => {
            cx.err(
                s.span(),
                field("selector"),
                "write a label selector such as \"app=flash-order\" (key=value, comma-separated)",
            );
            None
        }
        None => {
            cx.err(
                span.clone(),
                field("selector"),
                "missing; which pods (selector = \"app=flash-order\")",
            );
            None
        }
    };
    let count = |cx: &mut Ctx<'_>| match value {
        Some(v) => cx.positive(v, &field("value")).map(|n| (n, v.span())),
        None => {
            cx.err(
                span.clone(),
                field("value"),
                "missing; how many (mode = \"fixed\") or what percent (mode = \"percent\")",
            );
            None
        }
    };
    let mode = match mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("one", _)) => {
            if let Some(v) = value {
                cx.err(
                    v.span(),
                    field("value"),
                    "applies to mode = \"fixed\" or \"percent\"",
                );
                None
            } else {
                Some(Mode::One)
            }
        }
        Some(("fixed", _)) => count(cx).map(|(n, _)| Mode::Fixed(n)),
        Some(("percent", _)) => match count(cx) {
            Some((n, _)) if n <= 100 => Some(Mode::Percent(n as u32)),
            Some((_, span)) => {
                cx.err(span, field("value"), "a percent is at most 100");
                None
            }
            None => None,
        },
        Some((other, span)) => {
            cx.err(
                span,
                field("mode"),
                format!("`{other}`: use \"one\", \"fixed\" or \"percent\""),
            );
            None
        }
    };
    Some(Choice {
        selector: selector?,
        mode: mode?,
    })
}

/// Equality label selectors: `k=v`, `k==v`, `k!=v`, comma-separated.
pub(super) fn valid_selector(s: &str) -> bool {
    let label = |t: &str| {
        let t = t.trim();
        !t.is_empty()
            && t.len() <= 253
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    };
    !s.trim().is_empty()
        && s.split(',').all(|req| {
            let (k, v) = match req
                .split_once("!=")
                .or_else(|| req.split_once("=="))
                .or_else(|| req.split_once('='))
            {
                Some(kv) => kv,
                None => return false,
            };
            label(k) && (v.trim().is_empty() || label(v))
        })
}

/// Ready, and not being deleted.
pub(super) fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(Mode::One.count(5), 1);
        assert_eq!(Mode::One.count(0), 0);
        assert_eq!(Mode::Fixed(3).count(2), 2);
        assert_eq!(Mode::Percent(30).count(5), 2);
        assert_eq!(Mode::Percent(100).count(7), 7);
    }

    #[test]
    fn selectors() {
        assert!(valid_selector("app=flash-order"));
        assert!(valid_selector("app=flash-order,tier!=web"));
        assert!(valid_selector("app.kubernetes.io/name==x"));
        assert!(!valid_selector("app"));
        assert!(!valid_selector("app in (a,b)"));
        assert!(!valid_selector(""));
    }
}
