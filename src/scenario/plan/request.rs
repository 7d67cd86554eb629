//! One request of a plan: what to send (method, path and header templates, body), what
//! counts as success, and what to do with the answer (named outcomes, body checks,
//! extraction into variables, once per session).

use http::{HeaderName, Method};

use super::target::Origin;
use crate::template::Template;

#[derive(Debug, Clone, PartialEq)]
pub struct RequestPlan {
    pub name: String,
    pub method: Method,
    /// `None`: the run's target.
    pub origin: Option<Origin>,
    /// Path and query.
    pub path: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<BodyPlan>,
    pub weight: f64,
    pub expect: StatusSet,
    /// Outcomes, body checks, extraction, once-per-session.
    pub rules: StepRules,
    /// A gRPC call (`grpc = "pkg.Svc/Method"`): its message and status rules.
    pub grpc: Option<Box<crate::grpc::Call>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BodyPlan {
    pub template: Template,
    pub content_type: Option<&'static str>,
}

/// Expected status codes, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub(crate) Vec<(u16, u16)>);

impl StatusSet {
    pub fn success() -> Self {
        StatusSet(vec![(200, 299)])
    }

    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= code && code <= hi)
    }
}

impl std::fmt::Display for StatusSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else if lo % 100 == 0 && hi == lo + 99 {
                    format!("{}xx", lo / 100)
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// What a step does with its answer besides timing it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepRules {
    /// Checked in order before `expect_status`.
    pub outcomes: Vec<OutcomePlan>,
    /// Pointer → value an expected answer's JSON body must hold.
    pub checks: Vec<JsonCheck>,
    pub extract: Vec<ExtractPlan>,
    pub once: bool,
    /// Flow steps: a pause after the step, before the next.
    pub think: Option<std::time::Duration>,
}

impl StepRules {
    /// The answer's body must be kept (for outcomes with JSON, checks or extraction).
    pub fn needs_body(&self) -> bool {
        !self.checks.is_empty()
            || self.outcomes.iter().any(|o| !o.json.is_empty())
            || self
                .extract
                .iter()
                .any(|e| !matches!(e.from, Extractor::Header(_) | Extractor::Cookie(_)))
    }

    pub fn needs_headers(&self) -> bool {
        self.extract
            .iter()
            .any(|e| matches!(e.from, Extractor::Header(_) | Extractor::Cookie(_)))
    }
}

/// A named answer that is neither success nor failure (`sold_out = 409`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomePlan {
    pub name: String,
    /// Index into the plan's outcome names (and the counters' outcome indices).
    pub index: u8,
    pub status: StatusSet,
    pub json: Vec<JsonCheck>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonCheck {
    pub pointer: String,
    pub value: serde_json::Value,
}

impl JsonCheck {
    pub fn holds(&self, doc: &serde_json::Value) -> bool {
        doc.pointer(&self.pointer) == Some(&self.value)
    }
}

#[derive(Debug, Clone)]
pub enum Extractor {
    /// JSON pointer into the body.
    Json(String),
    Header(HeaderName),
    /// First capture group (or the whole match) of the body text.
    Regex(regex::Regex),
    /// The value of the cookie the answer sets under this name.
    Cookie(String),
}

impl PartialEq for Extractor {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Extractor::Json(a), Extractor::Json(b)) => a == b,
            (Extractor::Header(a), Extractor::Header(b)) => a == b,
            (Extractor::Regex(a), Extractor::Regex(b)) => a.as_str() == b.as_str(),
            (Extractor::Cookie(a), Extractor::Cookie(b)) => a == b,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExtractPlan {
    /// variable indices it fills.
    pub var: usize,
    pub name: String,
    pub from: Extractor,
}
