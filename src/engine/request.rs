//! Requests prepared once per run so that sending one costs only the request itself
//! (static parts pre-built, templates kept for the rest), and the judgement of what came
//! back (declared outcomes, expected status, body checks, extraction). Sending is the
//! transport's (`transport/`); this file knows no protocol version.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{Method, Request, Uri};

use super::body::Body;
use crate::metrics::connection::RetryCause;
use crate::metrics::{ConnSample, ErrorKind};
use crate::scenario::plan::request::{Extractor, RequestPlan, StatusSet, StepRules};
use crate::template::{RenderCtx, Template};

/// A request ready to be stamped out: static parts pre-built, templates kept for the rest.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub origin: usize,
    method: Method,
    /// Pre-parsed when the path has no template.
    uri: Option<Uri>,
    path_prefix: String,
    path: Template,
    headers: HeaderMap,
    dynamic_headers: Vec<(HeaderName, Template)>,
    body: Option<Bytes>,
    dynamic_body: Option<Template>,
    pub expect: StatusSet,
    pub rules: StepRules,
    keep: Keep,
    /// A gRPC call: makes the body and judges the status.
    grpc: Option<Box<crate::grpc::Call>>,
    /// The whole request, when no template is in it: sent as it is every time.
    fixed: Option<Arc<Fixed>>,
}

/// A request as a lane sends it: built for this send, or the same every time. Small
/// (two words): it is an argument of every level of a request's future.
pub enum Outgoing<'a> {
    Built(Box<Request<Body>>),
    Fixed(&'a Fixed),
}

/// A request none of whose bytes vary over the run. A transport that writes requests
/// as bytes encodes it once, on its first send, and keeps the encoding here: what a
/// request costs to build, encode and drop goes (`bench/README.md`, issue 33).
#[derive(Debug)]
pub struct Fixed {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub encoded: OnceLock<Bytes>,
}

impl Outgoing<'_> {
    pub fn method(&self) -> &Method {
        match self {
            Outgoing::Built(r) => r.method(),
            Outgoing::Fixed(f) => &f.method,
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Outgoing::Built(r) => r.headers(),
            Outgoing::Fixed(f) => &f.headers,
        }
    }

    /// As an `http::Request`, for what sends those.
    pub fn into_request(self) -> Request<Body> {
        match self {
            Outgoing::Built(r) => *r,
            Outgoing::Fixed(f) => {
                let mut req = Request::new(Body::whole(f.body.clone()));
                *req.method_mut() = f.method.clone();
                *req.uri_mut() = f.uri.clone();
                *req.headers_mut() = f.headers.clone();
                req
            }
        }
    }
}

/// What of an answer to keep beyond its status.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Keep {
    pub body: bool,
    pub headers: bool,
    /// Read the answer as gRPC messages.
    pub grpc: Option<GrpcRead>,
}

/// How a gRPC answer is read: its messages' bound, and how many make the call complete.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GrpcRead {
    pub max_message: u32,
    pub wanted: u32,
    /// Messages the request carries.
    pub sent: u32,
    /// Paced: one message each this long.
    pub every: Option<std::time::Duration>,
}

impl Prepared {
    /// `origin` indexes the run's address list; `authority` is that origin's `Host`.
    pub fn new(plan: &RequestPlan, origin: usize, authority: &str, path_prefix: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            HOST,
            HeaderValue::from_str(authority).expect("validated host"),
        );
        let mut dynamic_headers = Vec::new();
        if let Some(ct) = plan.body.as_ref().and_then(|b| b.content_type) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        for (name, t) in &plan.headers {
            if t.is_static() {
                let v = HeaderValue::from_str(&t.render_static()).expect("validated header");
                headers.insert(name.clone(), v);
            } else {
                dynamic_headers.push((name.clone(), t.clone()));
            }
        }
        let (body, dynamic_body) = match &plan.body {
            Some(b) if b.template.is_static() => {
                (Some(Bytes::from(b.template.render_static())), None)
            }
            Some(b) => (None, Some(b.template.clone())),
            None => (None, None),
        };
        if let Some(call) = &plan.grpc {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
            headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
            if let Ok(v) = HeaderValue::from_str(&call.timeout_header()) {
                headers.insert("grpc-timeout", v);
            }
        }
        let uri = plan.path.is_static().then(|| {
            Uri::try_from(format!("{path_prefix}{}", plan.path.render_static()))
                .expect("validated path")
        });
        let fixed = match (&uri, &body) {
            (Some(u), b)
                if dynamic_headers.is_empty() && dynamic_body.is_none() && plan.grpc.is_none() =>
            {
                Some(Arc::new(Fixed {
                    method: plan.method.clone(),
                    uri: u.clone(),
                    headers: headers.clone(),
                    body: b.clone().unwrap_or_default(),
                    encoded: OnceLock::new(),
                }))
            }
            _ => None,
        };
        Prepared {
            origin,
            method: plan.method.clone(),
            uri,
            path_prefix: path_prefix.to_string(),
            path: plan.path.clone(),
            headers,
            dynamic_headers,
            body,
            dynamic_body,
            expect: plan.expect.clone(),
            rules: plan.rules.clone(),
            keep: Keep {
                body: plan.rules.needs_body(),
                headers: plan.rules.needs_headers(),
                grpc: plan.grpc.as_ref().map(|c| GrpcRead {
                    max_message: c.max_message,
                    wanted: c.wanted(),
                    sent: c.stream.send,
                    every: c.stream.every,
                }),
            },
            grpc: plan.grpc.clone(),
            fixed,
        }
    }

    /// A gRPC call's own deadline (`stream.timeout`), when it has one.
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.grpc.as_ref().and_then(|c| c.stream.timeout)
    }

    /// No template in it: [`Self::build`] costs nothing.
    pub fn is_fixed(&self) -> bool {
        self.fixed.is_some()
    }

    pub fn keep(&self) -> Keep {
        self.keep
    }

    /// Keeps what `[balance]` reads of every answer: the header or cookie, or the body.
    pub fn keep_for(&mut self, b: &crate::scenario::plan::balance::BalancePlan) {
        use crate::scenario::plan::balance::BackendSource;
        match b.backend {
            BackendSource::Header(_) | BackendSource::Cookie(_) => self.keep.headers = true,
            BackendSource::Json(_) => self.keep.body = true,
        }
    }

    /// Safe to send twice (RFC 9110, 9.2.2): what may be retried on a fresh connection.
    pub fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        )
    }

    /// Judges an answer: a transport error stands; then declared outcomes (in order), then
    /// the expected status and body checks. On success, extracts into `vars`; a value that
    /// is not there is `extract_failed`.
    pub fn judge(&self, resp: &Response, vars: &mut [String]) -> (Option<ErrorKind>, Option<u8>) {
        if resp.error.is_some() {
            return (resp.error, None);
        }
        let Some(code) = resp.status else {
            return (Some(ErrorKind::Protocol), None);
        };
        if let (Some(call), true) = (&self.grpc, self.expect.contains(code)) {
            // An HTTP status other than 200 is judged as HTTP (a proxy's 503); a 200 by
            // its grpc-status, then its first message.
            let none = crate::grpc::wire::Answer::default();
            if let Some(kind) = call.judge(resp.grpc.as_deref().unwrap_or(&none)) {
                return (Some(kind), None);
            }
            let doc = resp.body.as_deref().and_then(|b| call.first_json(b));
            return self.judged(doc, resp, vars);
        }
        let doc = if self.keep.body {
            resp.body
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        } else {
            None
        };
        for o in &self.rules.outcomes {
            if o.status.contains(code)
                && o.json
                    .iter()
                    .all(|c| doc.as_ref().is_some_and(|d| c.holds(d)))
            {
                return (None, Some(o.index));
            }
        }
        if !self.expect.contains(code) {
            let kind = match code {
                400..=499 => ErrorKind::Http4xx,
                500..=599 => ErrorKind::Http5xx,
                _ => ErrorKind::HttpOther,
            };
            return (Some(kind), None);
        }
        self.judged(doc, resp, vars)
    }

    /// An expected answer's body checks, then its extraction into `vars`.
    fn judged(
        &self,
        doc: Option<serde_json::Value>,
        resp: &Response,
        vars: &mut [String],
    ) -> (Option<ErrorKind>, Option<u8>) {
        if !self
            .rules
            .checks
            .iter()
            .all(|c| doc.as_ref().is_some_and(|d| c.holds(d)))
        {
            return (Some(ErrorKind::CheckFailed), None);
        }
        for e in &self.rules.extract {
            let value = match &e.from {
                Extractor::Json(ptr) => {
                    doc.as_ref()
                        .and_then(|d| d.pointer(ptr))
                        .and_then(|v| match v {
                            serde_json::Value::Null => None,
                            serde_json::Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        })
                }
                Extractor::Header(h) => resp
                    .headers
                    .as_ref()
                    .and_then(|m| m.get(h))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                Extractor::Cookie(name) => resp.headers.as_ref().and_then(|m| {
                    m.get_all(http::header::SET_COOKIE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find_map(|v| {
                            let (k, v) = v.split(';').next()?.split_once('=')?;
                            (k.trim() == name).then(|| v.trim().to_string())
                        })
                }),
                Extractor::Regex(re) => resp
                    .body
                    .as_deref()
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|text| re.captures(text))
                    .and_then(|c| c.get(1).or_else(|| c.get(0)))
                    .map(|m| m.as_str().to_string()),
            };
            match value {
                Some(v) => vars[e.var] = v,
                None => return (Some(ErrorKind::ExtractFailed), None),
            }
        }
        (None, None)
    }

    /// One request to send. Fails only if a template renders to an invalid URI or header.
    pub fn build(
        &self,
        rng: &mut fastrand::Rng,
        seq: &AtomicU64,
        vars: &[String],
    ) -> Option<Outgoing<'_>> {
        if let Some(f) = &self.fixed {
            return Some(Outgoing::Fixed(f));
        }
        self.render(rng, seq, vars)
            .map(|r| Outgoing::Built(Box::new(r)))
    }

    /// Renders the request's templates into a request.
    fn render(
        &self,
        rng: &mut fastrand::Rng,
        seq: &AtomicU64,
        vars: &[String],
    ) -> Option<Request<Body>> {
        let mut ctx = RenderCtx { rng, seq, vars };
        let body = match (&self.body, &self.dynamic_body) {
            _ if self.grpc.is_some() => match self.grpc.as_ref()?.body(&mut ctx)? {
                crate::grpc::call::CallBody::Whole(b) => b,
                crate::grpc::call::CallBody::Paced(frames, every) => {
                    return self.request(Body::paced(frames, every), &mut ctx);
                }
            },
            (Some(b), _) => b.clone(),
            (None, Some(t)) => {
                let mut s = String::new();
                t.render_into(&mut s, &mut ctx);
                Bytes::from(s)
            }
            (None, None) => Bytes::new(),
        };
        self.request(Body::whole(body), &mut ctx)
    }

    /// The request around `body`: method, URI and headers.
    fn request(&self, body: Body, ctx: &mut RenderCtx<'_>) -> Option<Request<Body>> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = match &self.uri {
            Some(u) => u.clone(),
            None => {
                let mut s = self.path_prefix.clone();
                self.path.render_into(&mut s, ctx);
                Uri::try_from(s).ok()?
            }
        };
        *req.headers_mut() = self.headers.clone();
        for (name, t) in &self.dynamic_headers {
            let mut s = String::new();
            t.render_into(&mut s, ctx);
            req.headers_mut()
                .insert(name.clone(), HeaderValue::try_from(s).ok()?);
        }
        Some(req)
    }
}

/// What came back. `error` here is about transport only; [`Prepared::judge`] decides
/// what the status and body mean.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    pub bytes: u64,
    /// Kept only when the request's rules read it.
    pub body: Option<Vec<u8>>,
    /// Boxed: kept only when asked for, and a `HeaderMap` would be a third of the size
    /// of a value every request moves several times.
    pub headers: Option<Box<HeaderMap>>,
    /// The request failed in a way that says the target never processed it: a reused
    /// connection closed while idle (worth one retry of an idempotent request), or an
    /// HTTP/2 stream refused or beyond a GOAWAY (safe to send again, whatever the method).
    /// Set only where `[http] retry` allows a retry.
    pub retry: Option<RetryCause>,
    /// The request's phases, its connection, a TLS failure's reason.
    pub conn: ConnSample,
    /// `[balance] affinity`: the client the request went as (its source address, or the
    /// value of its cookie or header), set by the engine.
    pub client: Option<ClientKey>,
    /// A gRPC answer's status, messages and their timing.
    pub grpc: Option<Box<crate::grpc::wire::Answer>>,
    /// When the transport read the answer's last byte, where it looked at the clock
    /// then (one clock read fewer per request).
    pub done: Option<Instant>,
}

/// Who a request went as, for `[balance] affinity`.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientKey {
    Ip(std::net::IpAddr),
    Text(Box<str>),
}

impl Response {
    pub fn failed(kind: ErrorKind) -> Self {
        Response {
            error: Some(kind),
            ..Default::default()
        }
    }
}
