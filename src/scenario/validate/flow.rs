//! Validation of what makes a scenario more than a list of requests: flows (ordered steps
//! that extract values for later steps), feeders (CSV rows bound to variables), named
//! outcomes and body checks, and the `[[setup]]` / `[[verify]]` requests around the load.
//!
//! Variables get their indices here: feeder columns first, then each step's
//! extractions in step order, so a template can only name a value that exists by the time
//! it is rendered.

use indexmap::IndexMap;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;

use http::HeaderName;
use toml::Spanned;

use super::request::RawRequest;
use super::request::{parse_status_set, request, valid_name};
use crate::diag::Ctx;
use crate::metrics::MAX_OUTCOMES;
use crate::scenario::plan::flow::{CheckedRequest, Exhausted, FeedMode, FeederPlan, FlowPlan};
use crate::scenario::plan::request::{
    ExtractPlan, Extractor, JsonCheck, OutcomePlan, RequestPlan, StatusSet, StepRules,
};
use crate::scenario::plan::target::Origin;
use crate::slo::checks;
use crate::template::Scope;

/// An iteration as ordered steps (instead of weighted `[[requests]]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    /// Open model: virtual users whose state persists across iterations.
    pub sessions: Option<Spanned<i64>>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawRequest>>,
}

/// CSV rows bound to variables named after the columns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeeder {
    pub name: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub on_exhausted: Option<Spanned<String>>,
}

/// A request sent once, before (`[[setup]]`) or after (`[[verify]]`) the load, with
/// checks on its JSON answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheckedRequest {
    pub name: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    pub body: Option<Spanned<toml::Value>>,
    pub expect_status: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub checks: Vec<Spanned<String>>,
}

/// The `[[requests]]` of a scenario, or the steps of its `[flow]` (`section` says which).
/// Flow steps may use the variables earlier steps extract; `vars` grows as they do.
pub(super) fn requests(
    cx: &mut Ctx<'_>,
    raw: &[Spanned<RawRequest>],
    section: &str,
    explicit: Option<&Origin>,
    env: &dyn Fn(&str) -> Option<String>,
    vars: &mut Vec<String>,
    outcomes: &mut Vec<String>,
) -> Vec<RequestPlan> {
    let in_flow = section != "requests";
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let r = spanned.get_ref();
        let field = format!("{section}[{i}]");
        if let Some(n) = &r.name {
            if seen.contains(n.get_ref()) {
                cx.err(
                    n.span(),
                    format!("{field}.name"),
                    format!(
                        "`{}` is already used by another request; names must be unique",
                        n.get_ref()
                    ),
                );
            }
            seen.push(n.get_ref().clone());
        }
        let scope = Scope { env, vars };
        let base = request(cx, r, spanned.span(), &field, explicit, &scope);
        if in_flow {
            if let Some(w) = &r.weight {
                cx.err(
                    w.span(),
                    format!("{field}.weight"),
                    "flow steps run in order, each once per iteration; remove `weight`",
                );
            }
        }
        let rules = rules(cx, r, &field, in_flow, vars, outcomes);
        if let (Some(mut plan), Some(rules)) = (base, rules) {
            plan.rules = rules;
            out.push(plan);
        }
    }
    out
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

/// A feeder is read whole into memory: at most this many bytes of CSV (its rows take a
/// few times that once split into values).
pub(crate) const MAX_FEEDER_BYTES: u64 = 64 << 20;
/// And at most this many rows.
pub(crate) const MAX_FEEDER_ROWS: usize = 2_000_000;

fn read_csv(path: &Path) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        format!("cannot read `{shown}`: {e}; paths are relative to the scenario file")
    })?;
    if !meta.is_file() {
        return Err(format!(
            "`{shown}` is not a regular file (a device, a pipe or a folder); a feeder reads a CSV file"
        ));
    }
    if meta.len() > MAX_FEEDER_BYTES {
        return Err(format!(
            "`{shown}` has {} MiB; a feeder is held in memory and may have at most {} MiB: split it, or keep the columns the scenario uses",
            meta.len() >> 20,
            MAX_FEEDER_BYTES >> 20
        ));
    }
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
        if rows.len() == MAX_FEEDER_ROWS {
            return Err(format!(
                "`{shown}` has more than {MAX_FEEDER_ROWS} rows, the most a feeder may hold in memory; split it"
            ));
        }
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

/// `extract = { sid = { cookie = "SID" } }`: the value of a cookie the answer sets.
fn cookie(cx: &mut Ctx<'_>, e: &super::request::RawExtract, efield: &str) -> Option<Extractor> {
    let c = e.cookie.as_ref()?;
    let alone = e.json.is_none() && e.header.is_none() && e.regex.is_none();
    let token = !c.get_ref().is_empty()
        && c.get_ref()
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
    if alone && token {
        return Some(Extractor::Cookie(c.get_ref().clone()));
    }
    let msg = if alone {
        "not a cookie name"
    } else {
        "give exactly one of `json`, `header`, `regex` or `cookie`"
    };
    cx.err(c.span(), format!("{efield}.cookie"), msg);
    None
}

/// `once` and `think`, which belong to flow steps only.
fn step_only(
    cx: &mut Ctx<'_>,
    r: &RawRequest,
    field: &str,
    in_flow: bool,
    rules: &mut StepRules,
) -> bool {
    let mut ok = true;
    if let (false, Some(o)) = (in_flow, &r.once) {
        cx.err(
            o.span(),
            format!("{field}.once"),
            "`once` belongs to [flow] steps; define the iteration as [[flow.steps]]",
        );
        ok = false;
    }
    if let Some(t) = &r.think {
        if in_flow {
            rules.think = cx.duration(t, "flow.steps.think");
            ok &= rules.think.is_some();
        } else {
            let msg =
                "`think` pauses between [flow] steps; use [load] think_time between iterations";
            cx.err(t.span(), format!("{field}.think"), msg);
            ok = false;
        }
    }
    ok
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
    ok &= step_only(cx, r, field, in_flow, &mut rules);
    for (name, v) in &r.outcomes {
        let ofield = format!("{field}.outcomes.{name}");
        if !valid_name(name) {
            cx.err(v.span(), &ofield, "use letters, digits, `-` and `_` only");
            ok = false;
            continue;
        }
        let index = match outcomes.iter().position(|o| o == name) {
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
                index: index as u8,
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
        if r.grpc.is_some() && ptr == "grpc_status" {
            // The call's own (`grpc::call`); the other keys check its first message.
            continue;
        }
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
            _ if e.cookie.is_some() => cookie(cx, e, &efield),
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
                    "give exactly one of `json = \"/pointer\"`, `header = \"name\"`, `regex = \"pattern\"` or `cookie = \"name\"`",
                );
                None
            }
        };
        let Some(from) = from else {
            ok = false;
            continue;
        };
        let var = match vars.iter().position(|v| v == name) {
            // Re-extracting a name (a refreshed token) overwrites the same index.
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
        return parse_status_set(v).map(|s| (s, Vec::new()));
    };
    let mut status = None;
    let mut json = Vec::new();
    for (k, v) in t {
        match (k.as_str(), v) {
            ("status", v) => status = Some(parse_status_set(v)?),
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
            think: None,
            grpc: None,
            message: None,
            metadata: Default::default(),
            stream: None,
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
