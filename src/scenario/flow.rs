//! Validation of what makes a scenario more than a list of requests: flows (ordered steps
//! that extract values for later steps), feeders (CSV rows bound to variables), named
//! outcomes and body checks, and the `[[setup]]` / `[[verify]]` requests around the load.
//!
//! Variables get their slot numbers here: feeder columns first, then each step's
//! extractions in step order, so a template can only name a value that exists by the time
//! it is rendered.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::HeaderName;
use toml::Spanned;

use super::raw::{RawCheckedRequest, RawFeeder, RawFlow, RawRequest};
use super::template::Scope;
use super::validate::{request, valid_name, Ctx, Origin, RequestPlan, StatusSet};
use crate::metrics::MAX_OUTCOMES;
use crate::slo::checks::{self, Assertion};

/// How iterations share state.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowPlan {
    /// Open model: this many sessions persist across iterations (log in once, order many
    /// times); `None`: every iteration is a new session. The closed model has one session
    /// per virtual user.
    pub sessions: Option<usize>,
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
}

impl StepRules {
    /// The answer's body must be kept (for outcomes with JSON, checks or extraction).
    pub fn needs_body(&self) -> bool {
        !self.checks.is_empty()
            || self.outcomes.iter().any(|o| !o.json.is_empty())
            || self
                .extract
                .iter()
                .any(|e| !matches!(e.from, Extractor::Header(_)))
    }

    pub fn needs_headers(&self) -> bool {
        self.extract
            .iter()
            .any(|e| matches!(e.from, Extractor::Header(_)))
    }
}

/// A named answer that is neither success nor failure (`sold_out = 409`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomePlan {
    pub name: String,
    /// Index into the plan's outcome names (and the counters' outcome slots).
    pub slot: u8,
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
}

impl PartialEq for Extractor {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Extractor::Json(a), Extractor::Json(b)) => a == b,
            (Extractor::Header(a), Extractor::Header(b)) => a == b,
            (Extractor::Regex(a), Extractor::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExtractPlan {
    /// Variable slot it fills.
    pub var: usize,
    pub name: String,
    pub from: Extractor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedMode {
    /// File order.
    Sequential,
    /// A uniformly random row each time.
    Random,
    /// Each row at most once, in file order.
    Unique,
}

/// What a feeder does when every row has been used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exhausted {
    /// End the load early; the run is judged on what ran.
    Stop,
    /// Start from the first row again.
    Wrap,
    /// End the load early and fail the run.
    Fail,
}

/// CSV rows bound to variables named after the header's columns.
#[derive(Clone, PartialEq)]
pub struct FeederPlan {
    pub name: String,
    pub file: PathBuf,
    pub columns: Vec<String>,
    /// Slot of the first column's variable; the others follow.
    pub first_var: usize,
    pub rows: Arc<Vec<Vec<String>>>,
    pub mode: FeedMode,
    pub on_exhausted: Exhausted,
}

impl std::fmt::Debug for FeederPlan {
    // The rows would drown any debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeederPlan")
            .field("name", &self.name)
            .field("file", &self.file)
            .field("columns", &self.columns)
            .field("rows", &self.rows.len())
            .field("mode", &self.mode)
            .field("on_exhausted", &self.on_exhausted)
            .finish()
    }
}

/// A request sent once around the load, with checks on its JSON answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRequest {
    pub request: RequestPlan,
    pub checks: Vec<Assertion>,
}

pub(super) fn feeders(
    cx: &mut Ctx<'_>,
    raw: &[Spanned<RawFeeder>],
    base: &Path,
) -> (Vec<FeederPlan>, Vec<String>) {
    let mut out = Vec::new();
    let mut vars: Vec<String> = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let f = spanned.get_ref();
        let field = format!("feeders[{i}]");
        let name = match &f.name {
            Some(n) if valid_name(n.get_ref()) => Some(n.get_ref().clone()),
            Some(n) => {
                cx.err(
                    n.span(),
                    format!("{field}.name"),
                    "use letters, digits, `-` and `_` only",
                );
                None
            }
            None => {
                cx.err(spanned.span(), &field, "missing `name`");
                None
            }
        };
        let mode = match f.mode.as_ref().map(|m| (m, m.get_ref().as_str())) {
            None | Some((_, "sequential")) => Some(FeedMode::Sequential),
            Some((_, "random")) => Some(FeedMode::Random),
            Some((_, "unique")) => Some(FeedMode::Unique),
            Some((m, other)) => {
                cx.err(
                    m.span(),
                    format!("{field}.mode"),
                    format!("unknown mode `{other}`; use sequential, random or unique"),
                );
                None
            }
        };
        let on_exhausted = match f.on_exhausted.as_ref().map(|m| (m, m.get_ref().as_str())) {
            None => Some(if mode == Some(FeedMode::Unique) {
                Exhausted::Stop
            } else {
                Exhausted::Wrap
            }),
            Some((m, _)) if mode == Some(FeedMode::Random) => {
                cx.err(
                    m.span(),
                    format!("{field}.on_exhausted"),
                    "a random feeder never runs out; remove `on_exhausted`",
                );
                None
            }
            Some((_, "stop")) => Some(Exhausted::Stop),
            Some((_, "wrap")) => Some(Exhausted::Wrap),
            Some((_, "fail")) => Some(Exhausted::Fail),
            Some((m, other)) => {
                cx.err(
                    m.span(),
                    format!("{field}.on_exhausted"),
                    format!("unknown value `{other}`; use stop, wrap or fail"),
                );
                None
            }
        };
        let Some(file) = &f.file else {
            cx.err(
                spanned.span(),
                &field,
                "missing `file` (a CSV file with a header row, relative to the scenario)",
            );
            continue;
        };
        let path = base.join(file.get_ref());
        let (columns, rows) = match read_csv(&path) {
            Ok(x) => x,
            Err(e) => {
                cx.err(file.span(), format!("{field}.file"), e);
                continue;
            }
        };
        let mut ok = true;
        for c in &columns {
            if !valid_var(c) {
                cx.err(
                    file.span(),
                    format!("{field}.file"),
                    format!("column `{c}` cannot be a variable name; use letters, digits and `_`, starting with a letter"),
                );
                ok = false;
            } else if vars.contains(c) {
                cx.err(
                    file.span(),
                    format!("{field}.file"),
                    format!("column `{c}` is also a column of another feeder; rename one"),
                );
                ok = false;
            }
        }
        if let (Some(name), Some(mode), Some(on_exhausted), true) = (name, mode, on_exhausted, ok) {
            out.push(FeederPlan {
                name,
                file: path,
                first_var: vars.len(),
                columns: columns.clone(),
                rows: Arc::new(rows),
                mode,
                on_exhausted,
            });
            vars.extend(columns);
        }
    }
    (out, vars)
}

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let shown = path.display();
    let mut r = csv::Reader::from_path(path).map_err(|e| {
        format!("cannot read `{shown}`: {e}; paths are relative to the scenario file")
    })?;
    let columns: Vec<String> = r
        .headers()
        .map_err(|e| format!("`{shown}`: {e}"))?
        .iter()
        .map(|c| c.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| format!("`{shown}`: {e}"))?;
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(format!("`{shown}` has a header but no rows"));
    }
    Ok((columns, rows))
}

fn valid_var(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Outcomes, checks, extraction and `once` of one request or step. Extracted names are
/// appended to `vars` (visible to later steps); new outcome names to `outcomes`.
pub(super) fn rules(
    cx: &mut Ctx<'_>,
    r: &RawRequest,
    field: &str,
    in_flow: bool,
    vars: &mut Vec<String>,
    outcomes: &mut Vec<String>,
) -> Option<StepRules> {
    let mut ok = true;
    let mut rules = StepRules {
        once: r.once.as_ref().is_some_and(|o| *o.get_ref()),
        ..StepRules::default()
    };
    if let (false, Some(o)) = (in_flow, &r.once) {
        cx.err(
            o.span(),
            format!("{field}.once"),
            "`once` belongs to [flow] steps; define the iteration as [[flow.steps]]",
        );
        ok = false;
    }
    for (name, v) in &r.outcomes {
        let ofield = format!("{field}.outcomes.{name}");
        if !valid_name(name) {
            cx.err(v.span(), &ofield, "use letters, digits, `-` and `_` only");
            ok = false;
            continue;
        }
        let slot = match outcomes.iter().position(|o| o == name) {
            Some(i) => i,
            None if outcomes.len() < MAX_OUTCOMES => {
                outcomes.push(name.clone());
                outcomes.len() - 1
            }
            None => {
                cx.err(
                    v.span(),
                    &ofield,
                    format!("a scenario may name at most {MAX_OUTCOMES} outcomes"),
                );
                ok = false;
                continue;
            }
        };
        match outcome(v.get_ref()) {
            Ok((status, json)) => rules.outcomes.push(OutcomePlan {
                name: name.clone(),
                slot: slot as u8,
                status,
                json,
            }),
            Err(e) => {
                cx.err(v.span(), &ofield, e);
                ok = false;
            }
        }
    }
    for (ptr, v) in &r.check {
        match json_check(ptr, v.get_ref()) {
            Ok(c) => rules.checks.push(c),
            Err(e) => {
                cx.err(v.span(), format!("{field}.check"), e);
                ok = false;
            }
        }
    }
    for (name, spanned) in &r.extract {
        let efield = format!("{field}.extract.{name}");
        if !in_flow {
            cx.err(
                spanned.span(),
                &efield,
                "extraction feeds later steps; define the iteration as [[flow.steps]]",
            );
            ok = false;
            continue;
        }
        if !valid_var(name) {
            cx.err(
                spanned.span(),
                &efield,
                "a variable name is letters, digits and `_`, starting with a letter",
            );
            ok = false;
            continue;
        }
        let e = spanned.get_ref();
        let from = match (&e.json, &e.header, &e.regex) {
            (Some(p), None, None) if p.get_ref().is_empty() || p.get_ref().starts_with('/') => {
                Some(Extractor::Json(p.get_ref().clone()))
            }
            (Some(p), None, None) => {
                cx.err(
                    p.span(),
                    format!("{efield}.json"),
                    format!(
                        "`{}` is not a JSON pointer; write it as `/token` or `/data/0/id`",
                        p.get_ref()
                    ),
                );
                None
            }
            (None, Some(h), None) => match HeaderName::from_bytes(h.get_ref().as_bytes()) {
                Ok(h) => Some(Extractor::Header(h)),
                Err(_) => {
                    cx.err(
                        h.span(),
                        format!("{efield}.header"),
                        "not a valid header name",
                    );
                    None
                }
            },
            (None, None, Some(re)) => match regex::Regex::new(re.get_ref()) {
                Ok(re) => Some(Extractor::Regex(re)),
                Err(err) => {
                    cx.err(re.span(), format!("{efield}.regex"), format!("{err}"));
                    None
                }
            },
            _ => {
                cx.err(
                    spanned.span(),
                    &efield,
                    "give exactly one of `json = \"/pointer\"`, `header = \"name\"` or `regex = \"pattern\"`",
                );
                None
            }
        };
        let Some(from) = from else {
            ok = false;
            continue;
        };
        let var = match vars.iter().position(|v| v == name) {
            // Re-extracting a name (a refreshed token) overwrites the same slot.
            Some(i) => i,
            None => {
                vars.push(name.clone());
                vars.len() - 1
            }
        };
        rules.extract.push(ExtractPlan {
            var,
            name: name.clone(),
            from,
        });
    }
    ok.then_some(rules)
}

/// `409`, `[409, 410]`, `"4xx"`, or `{ status = 409, json = { "/error" = "sold_out" } }`.
fn outcome(v: &toml::Value) -> Result<(StatusSet, Vec<JsonCheck>), String> {
    let toml::Value::Table(t) = v else {
        return super::validate::parse_status_set(v).map(|s| (s, Vec::new()));
    };
    let mut status = None;
    let mut json = Vec::new();
    for (k, v) in t {
        match (k.as_str(), v) {
            ("status", v) => status = Some(super::validate::parse_status_set(v)?),
            ("json", toml::Value::Table(checks)) => {
                for (ptr, val) in checks {
                    json.push(json_check(ptr, val)?);
                }
            }
            ("json", _) => {
                return Err(
                    "`json` is a table of pointer = value, such as { \"/error\" = \"sold_out\" }"
                        .into(),
                )
            }
            (other, _) => {
                return Err(format!(
                    "unknown key `{other}`; an outcome has `status` and optionally `json`"
                ))
            }
        }
    }
    let status = status.ok_or("an outcome table needs `status` (such as status = 409)")?;
    Ok((status, json))
}

fn json_check(ptr: &str, v: &toml::Value) -> Result<JsonCheck, String> {
    if !ptr.starts_with('/') {
        return Err(format!(
            "`{ptr}` is not a JSON pointer; write it as \"/status\" or \"/data/0/id\""
        ));
    }
    let value = serde_json::to_value(v).map_err(|e| format!("cannot compare with JSON: {e}"))?;
    Ok(JsonCheck {
        pointer: ptr.to_string(),
        value,
    })
}

pub(super) fn flow_plan(cx: &mut Ctx<'_>, raw: &Spanned<RawFlow>, closed: bool) -> FlowPlan {
    let mut plan = FlowPlan { sessions: None };
    if let Some(s) = &raw.get_ref().sessions {
        if closed {
            cx.err(
                s.span(),
                "flow.sessions",
                "in the closed model every virtual user is a session; remove `sessions` (or set load.vus)",
            );
        } else {
            plan.sessions = cx.positive(s, "flow.sessions");
        }
    }
    if raw.get_ref().steps.is_empty() {
        cx.err(
            raw.span(),
            "flow.steps",
            "a flow needs steps; add [[flow.steps]] tables with `name` and `path`",
        );
    }
    plan
}

/// `[[setup]]` or `[[verify]]` entries.
pub(super) fn checked_requests(
    cx: &mut Ctx<'_>,
    raw: Vec<Spanned<RawCheckedRequest>>,
    section: &str,
    explicit: Option<&Origin>,
    scope: &Scope<'_>,
) -> Vec<CheckedRequest> {
    let mut out = Vec::new();
    for (i, spanned) in raw.into_iter().enumerate() {
        let span = spanned.span();
        let c = spanned.into_inner();
        let field = format!("{section}[{i}]");
        let mut assertions = Vec::new();
        let mut ok = true;
        for (k, text) in c.checks.iter().enumerate() {
            match checks::parse(text.get_ref()) {
                Ok(a) => assertions.push(a),
                Err(e) => {
                    cx.err(text.span(), format!("{field}.checks[{k}]"), e);
                    ok = false;
                }
            }
        }
        let as_request = RawRequest {
            name: c.name,
            method: c.method,
            path: c.path,
            headers: c.headers,
            body: c.body,
            weight: None,
            expect_status: c.expect_status,
            outcomes: Default::default(),
            check: Default::default(),
            extract: Default::default(),
            once: None,
        };
        if let (Some(request), true) = (request(cx, &as_request, span, &field, explicit, scope), ok)
        {
            out.push(CheckedRequest {
                request,
                checks: assertions,
            });
        }
    }
    out
}
