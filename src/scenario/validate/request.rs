//! Validation of one request as written: name, method, path (a template, or a full URL
//! on loopback or the named target's host), headers, body and expected status.

use indexmap::IndexMap;
use serde::Deserialize;
use std::ops::Range;

use http::{HeaderName, Method};
use toml::Spanned;

use super::target::parse_url;
use crate::diag::Ctx;
use crate::scenario::plan::request::{BodyPlan, RequestPlan, StatusSet, StepRules};
use crate::scenario::plan::target::Origin;

use crate::template::{Scope, Template};

/// Where an extracted value comes from: exactly one of the three.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExtract {
    pub json: Option<Spanned<String>>,
    pub header: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    /// The value of a cookie the answer sets (`Set-Cookie: SID=…`).
    pub cookie: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    pub name: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: IndexMap<String, Spanned<String>>,
    pub body: Option<Spanned<toml::Value>>,
    pub weight: Option<Spanned<f64>>,
    pub expect_status: Option<Spanned<toml::Value>>,
    /// Named answers that are neither success nor error (`sold_out = 409`).
    #[serde(default)]
    pub outcomes: IndexMap<String, Spanned<toml::Value>>,
    /// JSON pointer → value the body of an expected answer must hold.
    #[serde(default)]
    pub check: IndexMap<String, Spanned<toml::Value>>,
    /// Flow steps: variable → where to take it from in the response.
    #[serde(default)]
    pub extract: IndexMap<String, Spanned<RawExtract>>,
    /// Flow steps: run once per session (log in once, order many times).
    pub once: Option<Spanned<bool>>,
    /// Flow steps: a pause after the step before the next (a user reading the page).
    pub think: Option<Spanned<String>>,
    /// A gRPC call, `package.Service/Method` (see [`crate::grpc`]).
    pub grpc: Option<Spanned<String>>,
    /// A gRPC call's message, in protobuf's JSON mapping.
    pub message: Option<Spanned<toml::Value>>,
    /// A gRPC call's metadata (its request headers).
    #[serde(default)]
    pub metadata: IndexMap<String, Spanned<String>>,
    /// A streaming gRPC call's messages.
    pub stream: Option<Spanned<crate::grpc::RawStream>>,
}

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// One request as written: name, method, path, headers, body, weight, expected status.
/// (Outcomes, checks and extraction are `validate/flow.rs`.)
pub(super) fn request(
    cx: &mut Ctx<'_>,
    r: &RawRequest,
    span: Range<usize>,
    field: &str,
    explicit: Option<&Origin>,
    scope: &Scope<'_>,
) -> Option<RequestPlan> {
    let name = match &r.name {
        Some(n) if !valid_name(n.get_ref()) => {
            cx.err(
                n.span(),
                format!("{field}.name"),
                "use letters, digits, `-` and `_` only (it is used in SLO keys and CSV)",
            );
            None
        }
        Some(n) => Some(n.get_ref().clone()),
        None => {
            cx.err(span.clone(), field, "missing `name`");
            None
        }
    };
    if let Some(g) = &r.grpc {
        return grpc_request(cx, r, g, field, scope, name);
    }
    for (key, at) in [
        ("message", r.message.as_ref().map(Spanned::span)),
        ("stream", r.stream.as_ref().map(Spanned::span)),
        ("metadata", r.metadata.values().next().map(Spanned::span)),
    ] {
        if let Some(at) = at {
            cx.err(at, format!("{field}.{key}"), format!("`{key}` is for gRPC calls: add `grpc = \"package.Service/Method\"`, or send a `body` and `headers`"));
        }
    }
    let method = match &r.method {
        None => Some(Method::GET),
        Some(m) => {
            let up = m.get_ref().to_ascii_uppercase();
            match up.as_str() {
                "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
                    Method::from_bytes(up.as_bytes()).ok()
                }
                _ => {
                    cx.err(m.span(), format!("{field}.method"), format!("unknown method `{}`; use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS", m.get_ref()));
                    None
                }
            }
        }
    };
    let (origin, path) = match &r.path {
        None => {
            cx.err(
                span,
                field,
                "missing `path` (\"/api/v1/activities/\" or a full http:// URL)",
            );
            (None, None)
        }
        Some(p) => request_path(cx, p, &format!("{field}.path"), explicit, scope),
    };
    let mut headers = Vec::new();
    for (hname, hval) in &r.headers {
        let hfield = format!("{field}.headers.{hname}");
        let Ok(hn) = HeaderName::from_bytes(hname.as_bytes()) else {
            cx.err(
                hval.span(),
                &hfield,
                format!("`{hname}` is not a valid header name"),
            );
            continue;
        };
        if let Some(t) = template(cx, hval, &hfield, scope) {
            if t.is_static() && http::HeaderValue::from_str(&t.render_static()).is_err() {
                cx.err(
                    hval.span(),
                    &hfield,
                    "is not a valid header value (control characters?)",
                );
                continue;
            }
            headers.push((hn, t));
        }
    }
    let body = r
        .body
        .as_ref()
        .and_then(|b| body(cx, b, &format!("{field}.body"), scope));
    let weight = weight(cx, r, field);
    let expect = match &r.expect_status {
        None => Some(StatusSet::success()),
        Some(v) => match parse_status_set(v.get_ref()) {
            Ok(s) => Some(s),
            Err(e) => {
                cx.err(v.span(), format!("{field}.expect_status"), e);
                None
            }
        },
    };
    Some(RequestPlan {
        name: name?,
        method: method?,
        origin,
        path: path?,
        headers,
        body,
        weight: weight?,
        expect: expect?,
        rules: StepRules::default(),
        grpc: None,
    })
}

fn weight(cx: &mut Ctx<'_>, r: &RawRequest, field: &str) -> Option<f64> {
    match &r.weight {
        None => Some(1.0),
        Some(w) if w.get_ref().is_finite() && *w.get_ref() > 0.0 => Some(*w.get_ref()),
        Some(w) => {
            cx.err(
                w.span(),
                format!("{field}.weight"),
                format!("must be a positive number, not {}", w.get_ref()),
            );
            None
        }
    }
}

/// A gRPC request: `POST /package.Service/Method` to the target, its metadata as
/// headers; the call itself is [`crate::grpc::Call`]'s, resolved once `[grpc]` is read.
fn grpc_request(
    cx: &mut Ctx<'_>,
    r: &RawRequest,
    g: &Spanned<String>,
    field: &str,
    scope: &Scope<'_>,
    name: Option<String>,
) -> Option<RequestPlan> {
    let http_only = [
        ("method", r.method.as_ref().map(Spanned::span), "a gRPC call is always a POST"),
        ("path", r.path.as_ref().map(Spanned::span), "a gRPC call goes to its method's path on the target"),
        ("body", r.body.as_ref().map(Spanned::span), "write the call's `message` instead"),
        ("headers", r.headers.values().next().map(Spanned::span), "write them as `metadata`"),
        ("expect_status", r.expect_status.as_ref().map(Spanned::span), "list the gRPC statuses that succeed in `check = { grpc_status = [\"OK\", \"NOT_FOUND\"] }`"),
        ("outcomes", r.outcomes.values().next().map(Spanned::span), "a gRPC call's statuses that succeed are `check.grpc_status`"),
    ];
    for (key, at, fix) in http_only {
        if let Some(at) = at {
            cx.err(
                at,
                format!("{field}.{key}"),
                format!("not for a gRPC request: {fix}"),
            );
        }
    }
    let mut headers = Vec::new();
    for (mname, mval) in &r.metadata {
        let mfield = format!("{field}.metadata.{mname}");
        let lower = mname.to_ascii_lowercase();
        let reserved =
            lower.starts_with("grpc-") || ["content-type", "te", "host"].contains(&lower.as_str());
        let Ok(hn) = HeaderName::from_bytes(lower.as_bytes()) else {
            cx.err(
                mval.span(),
                &mfield,
                format!("`{mname}` is not a valid metadata key"),
            );
            continue;
        };
        if reserved {
            cx.err(mval.span(), &mfield, format!("`{mname}` is set by gRPC itself (grpc-timeout comes from the request's timeout)"));
            continue;
        }
        if let Some(t) = template(cx, mval, &mfield, scope) {
            headers.push((hn, t));
        }
    }
    let raw = crate::grpc::RawCall {
        grpc: g,
        message: r.message.as_ref(),
        stream: r.stream.as_ref(),
        status: r.check.get("grpc_status"),
    };
    let call = crate::grpc::call::call(cx, raw, field, scope)?;
    let path = Template::compile(&call.path(), scope).ok();
    if path.is_none() {
        cx.err(
            g.span(),
            format!("{field}.grpc"),
            "write the method as `package.Service/Method`",
        );
    }
    Some(RequestPlan {
        name: name?,
        method: Method::POST,
        origin: None,
        path: path?,
        headers,
        body: None,
        weight: weight(cx, r, field)?,
        expect: StatusSet(vec![(200, 200)]),
        rules: StepRules::default(),
        grpc: Some(Box::new(call)),
    })
}

fn template(
    cx: &mut Ctx<'_>,
    v: &Spanned<String>,
    field: &str,
    scope: &Scope<'_>,
) -> Option<Template> {
    match Template::compile(v.get_ref(), scope) {
        Ok(t) => Some(t),
        Err(e) => {
            // +1 skips the opening quote, so the column points at the `{{`.
            let span = v.span();
            let at = (span.start + 1 + e.offset).min(span.end);
            cx.err(at..at, field, e.message);
            None
        }
    }
}

fn request_path(
    cx: &mut Ctx<'_>,
    p: &Spanned<String>,
    field: &str,
    explicit: Option<&Origin>,
    scope: &Scope<'_>,
) -> (Option<Origin>, Option<Template>) {
    let text = p.get_ref();
    if text.starts_with('/') {
        let t = template(cx, p, field, scope);
        if let Some(t) = &t {
            if !path_ok(cx, p, field, t) {
                return (None, None);
            }
        }
        return (None, t);
    }
    if !text.contains("://") {
        cx.err(
            p.span(),
            field,
            format!("`{text}` must start with `/` or be a full http:// URL"),
        );
        return (None, None);
    }
    match parse_url(text) {
        Ok((origin, path)) => {
            let allowed = origin.is_loopback() || explicit.is_some_and(|t| t.host == origin.host);
            if !allowed {
                cx.err(p.span(), field, format!(
                    "`{}` is not loopback; loadctl sends traffic elsewhere only to a target named with `target =` or --target",
                    origin.host
                ));
                return (None, None);
            }
            let t = Template::compile(&path, scope);
            match t {
                Ok(t) if !path_ok(cx, p, field, &t) => (None, None),
                Ok(t) => (Some(origin), Some(t)),
                Err(e) => {
                    cx.err(p.span(), field, e.message);
                    (None, None)
                }
            }
        }
        Err(e) => {
            cx.err(p.span(), field, e);
            (None, None)
        }
    }
}

/// The path as the file (and its environment values) writes it must be a valid request
/// target: a space, a control character or a non-ASCII letter is refused here, with its
/// position, rather than failing every request at run time.
fn path_ok(cx: &mut Ctx<'_>, p: &Spanned<String>, field: &str, t: &Template) -> bool {
    let sample = t.render_sample();
    if http::uri::PathAndQuery::try_from(sample.as_str()).is_ok() {
        return true;
    }
    let bad = p
        .get_ref()
        .char_indices()
        .find(|(_, c)| {
            !(c.is_ascii_graphic()) || matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '|')
        })
        .map_or(0, |(i, _)| i);
    let at = p.span().start + 1 + bad;
    let what = if t.has_secret() {
        "the path (with its environment values) is not a valid URL path"
    } else {
        "is not a valid URL path"
    };
    cx.err(
        at..at,
        field,
        format!("{what}: spaces, control characters and non-ASCII letters must be percent-encoded (a space is %20)"),
    );
    false
}

fn body(
    cx: &mut Ctx<'_>,
    b: &Spanned<toml::Value>,
    field: &str,
    scope: &Scope<'_>,
) -> Option<BodyPlan> {
    let (text, content_type) = match b.get_ref() {
        toml::Value::String(s) => (s.clone(), None),
        v @ (toml::Value::Table(_) | toml::Value::Array(_)) => match serde_json::to_string(v) {
            Ok(json) => (json, Some("application/json")),
            Err(e) => {
                cx.err(b.span(), field, format!("cannot be written as JSON: {e}"));
                return None;
            }
        },
        _ => {
            cx.err(
                b.span(),
                field,
                "must be a string (sent as is) or a table (sent as JSON)",
            );
            return None;
        }
    };
    match Template::compile(&text, scope) {
        Ok(template) => Some(BodyPlan {
            // A table body is JSON: values put into its strings must stay inside them.
            template: if content_type.is_some() {
                template.json_escaped()
            } else {
                template
            },
            content_type,
        }),
        Err(e) => {
            cx.err(b.span(), field, e.message);
            None
        }
    }
}

/// `200`, `[200, 201]`, `"2xx"`, `["2xx", 404]`.
pub(super) fn parse_status_set(v: &toml::Value) -> Result<StatusSet, String> {
    fn one(v: &toml::Value) -> Result<(u16, u16), String> {
        match v {
            toml::Value::Integer(n) if (100..=599).contains(n) => Ok((*n as u16, *n as u16)),
            toml::Value::String(s) if s.len() == 3 && s.ends_with("xx") => {
                match s[..1].parse::<u16>() {
                    Ok(c @ 1..=5) => Ok((c * 100, c * 100 + 99)),
                    _ => Err(format!("`{s}` is not a status class; use 1xx … 5xx")),
                }
            }
            toml::Value::Integer(n) => Err(format!("{n} is not an HTTP status (100–599)")),
            toml::Value::String(s) => Err(format!(
                "`{s}` is not a status; use a code (200), a class (\"2xx\") or a list of them"
            )),
            other => Err(format!(
                "a {} is not a status; use a code (200), a class (\"2xx\") or a list of them",
                other.type_str()
            )),
        }
    }
    let list = match v {
        toml::Value::Array(a) if a.is_empty() => {
            return Err("is empty; list at least one status".into())
        }
        toml::Value::Array(a) => a.iter().map(one).collect::<Result<Vec<_>, _>>()?,
        v => vec![one(v)?],
    };
    Ok(StatusSet(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets() {
        let s = parse_status_set(&toml::Value::String("2xx".into())).unwrap();
        assert!(s.contains(204) && !s.contains(301));
        let s = parse_status_set(&toml::Value::Array(vec![
            toml::Value::Integer(200),
            toml::Value::String("4xx".into()),
        ]))
        .unwrap();
        assert!(s.contains(200) && s.contains(409) && !s.contains(201));
        assert_eq!(s.to_string(), "200,4xx");
        assert!(parse_status_set(&toml::Value::Integer(42)).is_err());
    }
}
