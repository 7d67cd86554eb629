//! Second stage of scenario loading: raw TOML values → the typed [`Plan`].
//!
//! Every check records a [`Diagnostic`] and moves on, so one run of `loadctl validate`
//! lists every problem in the file. Defaults live here and nowhere else.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use http::{HeaderName, Method};
use toml::Spanned;

use super::flow::{CheckedRequest, FeederPlan, FlowPlan, StepRules};
use super::raw::{RawEmbedded, RawGenerator, RawLoad, RawRequest, RawScenario};
use super::schedule::RateSchedule;
use super::template::{Scope, Template};
use super::{line_col, Diagnostic};
use crate::slo::{self, Slo};
use crate::testbed::{RateLimits, ServiceConfig, SERVICES};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CONNECTIONS: usize = 256;
const DEFAULT_MAX_IN_FLIGHT: usize = 10_000;
/// The time cap of an `iterations` run that gives no `duration`.
const DEFAULT_ITERATIONS_CAP: Duration = Duration::from_secs(600);
const DEFAULT_MAX_DROPPED: f64 = 0.001;
const DEFAULT_MAX_SEND_LAG_P99: Duration = Duration::from_millis(10);

/// A validated scenario: everything the engine needs, nothing it must re-check.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub target: TargetSpec,
    pub load: LoadPlan,
    /// Traffic before the measured window; excluded from totals and SLOs.
    pub warmup: Duration,
    pub timeout: Duration,
    pub generator: GeneratorPlan,
    pub requests: Vec<RequestPlan>,
    pub slos: Vec<Slo>,
    pub compare: Tolerances,
    /// Set when the iteration is a flow of steps (`requests` are then the steps in order).
    pub flow: Option<FlowPlan>,
    pub feeders: Vec<FeederPlan>,
    /// Variable names by slot: feeder columns, then extracted values.
    pub vars: Vec<String>,
    /// Declared outcome names by slot.
    pub outcomes: Vec<String>,
    /// Sent once before the load; a failure stops the run before any load.
    pub setup: Vec<CheckedRequest>,
    /// Sent once after the load; a failed check fails the run.
    pub verify: Vec<CheckedRequest>,
    /// WebSocket chat fan-out (with the `connections` load model).
    pub chat: Option<super::chat::ChatPlan>,
    /// Kubernetes objects to watch and faults to inject during the run.
    pub kube: Option<super::kube::KubePlan>,
}

/// How much worse than a baseline a run may be before it counts as a regression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    /// Allowed relative p99 increase (0.10 = +10%).
    pub p99: f64,
    pub p95: f64,
    /// Allowed relative RPS decrease.
    pub rps: f64,
    /// Allowed error-rate increase in percentage points (0.05 = +0.05 points).
    pub error_rate_points: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            p99: 0.10,
            p95: 0.10,
            rps: 0.05,
            error_rate_points: 0.05,
        }
    }
}

impl Tolerances {
    /// Sets one tolerance from `p99=10%`-style text; `error_rate` takes points (`0.05`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let v = value.trim();
        match key {
            "p99" | "p95" | "rps" => {
                let f = parse_fraction(v).ok_or_else(|| {
                    format!("`{v}` is not a share; write a percentage such as 10%")
                })?;
                match key {
                    "p99" => self.p99 = f,
                    "p95" => self.p95 = f,
                    _ => self.rps = f,
                }
            }
            "error_rate" => {
                self.error_rate_points = v
                    .trim_end_matches("points")
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| {
                        format!("`{v}` is not a number of percentage points, such as 0.05")
                    })?
            }
            other => {
                return Err(format!(
                    "unknown tolerance `{other}`; use p99, p95, rps or error_rate"
                ))
            }
        }
        Ok(())
    }
}

/// Where traffic goes.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per run, never in a collection
pub enum TargetSpec {
    /// No target named: loadctl starts its reference service on 127.0.0.1.
    Embedded(EmbeddedPlan),
    /// A URL named in the file (`target =`) or on the command line (`--target`).
    Url { origin: Origin, base_path: String },
}

/// The embedded reference service and the faults it should inject.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedPlan {
    pub service: String,
    pub config: ServiceConfig,
}

/// `http://host:port` of a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// Loopback by its literal form: `localhost`, 127.0.0.0/8 or ::1. Names that merely
    /// resolve to loopback do not count; they must be named explicitly like any other.
    pub fn is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }

    /// Value of the `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LoadPlan {
    /// Arrival rate independent of responses. The schedule includes the warmup.
    Open {
        schedule: RateSchedule,
        connections: usize,
        max_in_flight: usize,
        duration: Duration,
    },
    /// `vus` users each looping request → response → think time.
    Closed {
        vus: usize,
        think_time: Duration,
        /// Total iterations over all users (`ab -n`), if bounded by count.
        iterations: Option<u64>,
        /// Measured duration, or the time cap of an iterations run.
        duration: Duration,
    },
    /// WebSocket connections opened at `connect_rate`, then held for `hold` (the measured
    /// window) while the `[chat]` section's groups publish.
    Connections {
        connections: usize,
        connect_rate: f64,
        hold: Duration,
    },
}

impl LoadPlan {
    pub fn duration(&self) -> Duration {
        match self {
            LoadPlan::Open { duration, .. } | LoadPlan::Closed { duration, .. } => *duration,
            LoadPlan::Connections { hold, .. } => *hold,
        }
    }

    /// Connections model: how long opening every connection takes at `connect_rate`.
    pub fn ramp(&self) -> Duration {
        match self {
            LoadPlan::Connections {
                connections,
                connect_rate,
                ..
            } => Duration::from_secs_f64(*connections as f64 / connect_rate),
            _ => Duration::ZERO,
        }
    }

    pub fn model(&self) -> &'static str {
        match self {
            LoadPlan::Open { .. } => "open",
            LoadPlan::Closed { .. } => "closed",
            LoadPlan::Connections { .. } => "connections",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorPlan {
    pub threads: usize,
    /// Dropped requests over planned ones above which the run is invalid.
    pub max_dropped: f64,
    /// Send-lag p99 above which the run is invalid.
    pub max_send_lag_p99: Duration,
}

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct BodyPlan {
    pub template: Template,
    pub content_type: Option<&'static str>,
}

/// Expected status codes, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

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

pub(super) struct Ctx<'a> {
    text: &'a str,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub(super) fn err(
        &mut self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = line_col(self.text, span.start);
        self.diags.push(Diagnostic {
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }

    pub(super) fn duration(&mut self, v: &Spanned<String>, field: &str) -> Option<Duration> {
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) => Some(d),
            Err(_) => {
                self.err(
                    v.span(),
                    field,
                    format!(
                        "`{}` is not a duration; write a number and a unit, such as 30s, 500ms or 2m",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub(super) fn positive(&mut self, v: &Spanned<i64>, field: &str) -> Option<usize> {
        match usize::try_from(*v.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.err(
                    v.span(),
                    field,
                    format!("must be a positive integer, not {}", v.get_ref()),
                );
                None
            }
        }
    }

    pub(super) fn fraction(&mut self, v: &Spanned<String>, field: &str) -> Option<f64> {
        match parse_fraction(v.get_ref()) {
            Some(f) => Some(f),
            None => {
                self.err(
                    v.span(),
                    field,
                    format!("`{}` is not a share; write a percentage such as 0.1% or a fraction such as 0.001", v.get_ref()),
                );
                None
            }
        }
    }
}

/// `0.1%` → 0.001, `0.001` → 0.001. Shares above 100% are refused.
pub(crate) fn parse_fraction(s: &str) -> Option<f64> {
    let s = s.trim();
    let f = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => s.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&f).then_some(f)
}

pub(super) fn validate(
    raw: RawScenario,
    text: &str,
    cli_target: Option<&str>,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut cx = Ctx {
        text,
        diags: Vec::new(),
    };
    let name = match &raw.name {
        Some(n) if valid_name(n.get_ref()) => n.get_ref().clone(),
        Some(n) => {
            cx.err(
                n.span(),
                "name",
                "use letters, digits, `-` and `_` only (it names the output folder)",
            );
            String::new()
        }
        None => {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            cx.err(
                0..0,
                "name",
                format!(
                    "missing; add `name = \"{}\"` at the top of the file",
                    stem.unwrap_or_else(|| "my-scenario".into())
                ),
            );
            String::new()
        }
    };

    let target = target(
        &mut cx,
        raw.target.as_ref(),
        cli_target,
        raw.embedded.as_ref(),
    );
    let explicit_host = match &target {
        Some(TargetSpec::Url { origin, .. }) => Some(origin.clone()),
        _ => None,
    };
    let generator = generator(&mut cx, raw.generator.as_ref());
    let mut compare = Tolerances::default();
    if let Some(c) = &raw.compare {
        for (key, v) in [
            ("p99", &c.p99),
            ("p95", &c.p95),
            ("rps", &c.rps),
            ("error_rate", &c.error_rate),
        ] {
            if let Some(v) = v {
                if let Err(e) = compare.set(key, v.get_ref()) {
                    cx.err(v.span(), format!("compare.{key}"), e);
                }
            }
        }
    }
    let (load, warmup, timeout) = match &raw.load {
        Some(l) => load(&mut cx, l),
        None => {
            cx.err(
                0..0,
                "load",
                "missing; add a [load] table with `model`, `rate` or `vus`, and `duration`",
            );
            (None, Duration::ZERO, DEFAULT_TIMEOUT)
        }
    };

    let base_dir = path.parent().unwrap_or(Path::new("."));
    let (feeders, mut vars) = super::flow::feeders(&mut cx, &raw.feeders, base_dir);
    let mut outcomes = Vec::new();
    let explicit = explicit_host.as_ref();
    let closed = matches!(load, Some(LoadPlan::Closed { .. }));
    let (requests, flow) = match &raw.flow {
        Some(f) => {
            if let Some(first) = raw.requests.first() {
                cx.err(
                    first.span(),
                    "requests",
                    "a scenario has either [[requests]] (one weighted request per iteration) or a [flow] of steps, not both",
                );
            }
            let flow = super::flow::flow_plan(&mut cx, f, closed);
            let steps = &f.get_ref().steps;
            let steps = requests(
                &mut cx,
                steps,
                "flow.steps",
                explicit,
                env,
                &mut vars,
                &mut outcomes,
            );
            (steps, Some(flow))
        }
        None => {
            if raw.requests.is_empty() && raw.chat.is_none() {
                cx.err(
                    0..0,
                    "requests",
                    "no request defined; add a [[requests]] table with `name` and `path`",
                );
            }
            if let (Some(first), Some(_)) = (raw.requests.first(), &raw.chat) {
                cx.err(
                    first.span(),
                    "requests",
                    "a [chat] scenario sends chat messages, not [[requests]]; remove them",
                );
            }
            let r = requests(
                &mut cx,
                &raw.requests,
                "requests",
                explicit,
                env,
                &mut vars,
                &mut outcomes,
            );
            (r, None)
        }
    };
    let chat = match (&raw.chat, &load) {
        (Some(c), Some(l @ LoadPlan::Connections { .. })) => {
            super::chat::chat_plan(&mut cx, c, Some(l))
        }
        (Some(c), None) => super::chat::chat_plan(&mut cx, c, None),
        (Some(c), Some(_)) => {
            cx.err(
                c.span(),
                "chat",
                "a [chat] scenario needs load.model = \"connections\" (connections, connect_rate, hold)",
            );
            None
        }
        (None, Some(LoadPlan::Connections { .. })) => {
            cx.err(
                0..0,
                "chat",
                "model = \"connections\" needs a [chat] section (groups, members, publish_rate)",
            );
            None
        }
        (None, _) => None,
    };
    if let (Some(_), Some(TargetSpec::Embedded(e))) = (&chat, &target) {
        if e.service != "chat" {
            cx.err(
                0..0,
                "embedded.service",
                "a [chat] scenario against the embedded service needs `service = \"chat\"` in [embedded]",
            );
        }
    }
    let no_vars = Scope { env, vars: &[] };
    let setup = super::flow::checked_requests(&mut cx, raw.setup, "setup", explicit, &no_vars);
    let verify = super::flow::checked_requests(&mut cx, raw.verify, "verify", explicit, &no_vars);
    let names: Vec<&str> = if raw.chat.is_some() {
        super::chat::ENDPOINTS.to_vec()
    } else {
        requests.iter().map(|r| r.name.as_str()).collect()
    };
    if raw.chat.is_some() {
        outcomes = super::chat::OUTCOMES
            .iter()
            .map(|o| o.to_string())
            .collect();
    }
    let kube = raw.kube.as_ref().and_then(|k| {
        super::kube::kube_plan(
            &mut cx,
            k,
            target.as_ref(),
            warmup + load.as_ref().map_or(Duration::ZERO, LoadPlan::duration),
        )
    });
    let mut names = names;
    if kube.as_ref().is_some_and(|k| !k.faults.is_empty()) {
        if names.contains(&super::kube::FAULT_SCOPE) {
            cx.err(0..0, "requests", "a request named `fault` hides the fault window's SLO scope (`fault.availability`); rename it");
        }
        names.push(super::kube::FAULT_SCOPE);
    }
    let mut slos = Vec::new();
    for (key, value) in &raw.slo {
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
            match slo::parse_with_outcomes(key, expr, &names, &outcomes) {
                Ok(s) => slos.push(s),
                Err(e) => cx.err(value.span(), &field, e),
            }
        }
    }

    if !cx.diags.is_empty() {
        cx.diags.sort_by_key(|d| (d.line, d.column));
        return Err(cx.diags);
    }
    Ok(Plan {
        name,
        description: raw.description.unwrap_or_default(),
        target: target.expect("checked: no diagnostics"),
        load: load.expect("checked: no diagnostics"),
        warmup,
        timeout,
        generator,
        requests,
        slos,
        compare,
        flow,
        feeders,
        vars,
        outcomes,
        setup,
        verify,
        chat,
        kube,
    })
}

pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn target(
    cx: &mut Ctx<'_>,
    file: Option<&Spanned<String>>,
    cli: Option<&str>,
    embedded: Option<&RawEmbedded>,
) -> Option<TargetSpec> {
    let (text, span, field) = match (cli, file) {
        (Some(cli), _) => (cli.to_string(), 0..0, "--target"),
        (None, Some(f)) => (f.get_ref().clone(), f.span(), "target"),
        (None, None) => {
            return embedded_plan(cx, embedded).map(TargetSpec::Embedded);
        }
    };
    match parse_url(&text) {
        Ok((origin, path)) => Some(TargetSpec::Url {
            origin,
            base_path: path.trim_end_matches('/').to_string(),
        }),
        Err(e) => {
            cx.err(span, field, e);
            None
        }
    }
}

/// Splits `http://host[:port][/path]`. Templates are not allowed in the origin.
fn parse_url(text: &str) -> Result<(Origin, String), String> {
    if text.starts_with("https://") {
        return Err(format!(
            "`{text}`: https targets are not supported yet; use http:// (TLS termination in front of the target, or a plain-HTTP NodePort)"
        ));
    }
    if text.starts_with("wss://") {
        return Err(format!(
            "`{text}`: wss targets are not supported yet; use ws:// (TLS termination in front of the target)"
        ));
    }
    // A WebSocket URL names the same origin; the chat load upgrades on it.
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("ws://"))
        .ok_or_else(|| {
            format!("`{text}` is not an http:// (or ws://) URL; write it as http://127.0.0.1:8080")
        })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("`{text}`: unclosed `[` in the host"))?;
        (format!("[{h}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host.contains("{{") {
        return Err(format!(
            "`{text}` has no host (templates are not allowed in the host)"
        ));
    }
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("`{text}`: `{p}` is not a port number"))?,
        None => 80,
    };
    Ok((Origin { host, port }, path.to_string()))
}

fn embedded_plan(cx: &mut Ctx<'_>, raw: Option<&RawEmbedded>) -> Option<EmbeddedPlan> {
    let mut plan = EmbeddedPlan {
        service: "activities".into(),
        config: ServiceConfig::default(),
    };
    let Some(raw) = raw else { return Some(plan) };
    let mut ok = true;
    if let Some(s) = &raw.service {
        if SERVICES.split(", ").any(|k| k == s.get_ref()) {
            plan.service = s.get_ref().clone();
        } else {
            cx.err(
                s.span(),
                "embedded.service",
                format!(
                    "unknown reference service `{}`; available: {SERVICES}",
                    s.get_ref()
                ),
            );
            ok = false;
        }
    }
    if let Some(n) = &raw.items {
        match cx.positive(n, "embedded.items") {
            Some(n) => plan.config.flash.items = n.min(u32::MAX as usize) as u32,
            None => ok = false,
        }
    }
    if let Some(n) = &raw.stock {
        match usize::try_from(*n.get_ref()) {
            Ok(n) => plan.config.flash.stock = n as u64,
            Err(_) => {
                cx.err(n.span(), "embedded.stock", "must be zero or more");
                ok = false;
            }
        }
    }
    if let Some(u) = raw.unsafe_stock {
        plan.config.flash.unsafe_stock = u;
    }
    if raw.rate_limits == Some(true) {
        plan.config.rate_limits = Some(RateLimits::seed_002());
    }
    if let Some(n) = &raw.max_connections {
        match cx.positive(n, "embedded.max_connections") {
            Some(n) => plan.config.chat.max_connections = n,
            None => ok = false,
        }
    }
    if let Some(r) = &raw.drop_rate {
        match cx.fraction(r, "embedded.drop_rate") {
            Some(f) => plan.config.chat.drop_rate = f,
            None => ok = false,
        }
    }
    if let Some(l) = &raw.relay_latency {
        match crate::testbed::LatencySpec::parse(l.get_ref()) {
            Ok(spec) => plan.config.chat.relay_latency = Some(spec),
            Err(e) => {
                cx.err(l.span(), "embedded.relay_latency", e);
                ok = false;
            }
        }
    }
    if let Some(l) = &raw.latency {
        match crate::testbed::LatencySpec::parse(l.get_ref()) {
            Ok(spec) => plan.config.faults.latency = Some(spec),
            Err(e) => {
                cx.err(l.span(), "embedded.latency", e);
                ok = false;
            }
        }
    }
    if let Some(r) = &raw.error_rate {
        match cx.fraction(r, "embedded.error_rate") {
            Some(f) => plan.config.faults.error_rate = f,
            None => ok = false,
        }
    }
    match (&raw.stall, &raw.stall_every) {
        (Some(stall), Some(every)) => {
            let s = cx.duration(stall, "embedded.stall");
            let e = cx.duration(every, "embedded.stall_every");
            match (s, e) {
                (Some(s), Some(e)) if s < e => plan.config.faults.stall = Some((s, e)),
                (Some(_), Some(_)) => {
                    cx.err(
                        stall.span(),
                        "embedded.stall",
                        "must be shorter than stall_every",
                    );
                    ok = false;
                }
                _ => ok = false,
            }
        }
        (Some(v), None) | (None, Some(v)) => {
            cx.err(
                v.span(),
                "embedded",
                "`stall` and `stall_every` go together (stall = \"1s\", stall_every = \"10s\")",
            );
            ok = false;
        }
        (None, None) => {}
    }
    let scale = raw.time_scale.as_ref();
    let capacity = raw.replica_capacity.as_ref();
    if raw.simulate_cluster == Some(true) {
        let mut c = crate::testbed::cluster::ClusterConfig::default();
        if let Some(t) = scale {
            if t.get_ref().is_finite() && (0.1..=1000.0).contains(t.get_ref()) {
                c.time_scale = *t.get_ref();
            } else {
                cx.err(
                    t.span(),
                    "embedded.time_scale",
                    "use a factor from 0.1 to 1000 (simulated seconds per second)",
                );
                ok = false;
            }
        }
        if let Some(r) = capacity {
            if r.get_ref().is_finite() && *r.get_ref() > 0.0 {
                c.replica_capacity = *r.get_ref();
            } else {
                cx.err(
                    r.span(),
                    "embedded.replica_capacity",
                    "use requests per second above 0",
                );
                ok = false;
            }
        }
        if plan.service != "flash-sale" {
            cx.err(
                raw.service.as_ref().map_or(0..0, |s| s.span()),
                "embedded.simulate_cluster",
                "the simulated cluster runs the flash-sale service only; set service = \"flash-sale\"",
            );
            ok = false;
        }
        plan.config.cluster = Some(c);
    } else if let Some(span) = scale.map(|s| s.span()).or(capacity.map(|c| c.span())) {
        cx.err(span, "embedded", "`time_scale` and `replica_capacity` shape the simulated cluster; add simulate_cluster = true");
        ok = false;
    }
    ok.then_some(plan)
}

fn generator(cx: &mut Ctx<'_>, raw: Option<&RawGenerator>) -> GeneratorPlan {
    let mut g = GeneratorPlan {
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        max_dropped: DEFAULT_MAX_DROPPED,
        max_send_lag_p99: DEFAULT_MAX_SEND_LAG_P99,
    };
    let Some(raw) = raw else { return g };
    if let Some(t) = &raw.threads {
        g.threads = cx.positive(t, "generator.threads").unwrap_or(g.threads);
    }
    if let Some(m) = &raw.max_dropped {
        g.max_dropped = cx
            .fraction(m, "generator.max_dropped")
            .unwrap_or(g.max_dropped);
    }
    if let Some(m) = &raw.max_send_lag_p99 {
        g.max_send_lag_p99 = cx
            .duration(m, "generator.max_send_lag_p99")
            .unwrap_or(g.max_send_lag_p99);
    }
    g
}

fn load(cx: &mut Ctx<'_>, spanned: &Spanned<RawLoad>) -> (Option<LoadPlan>, Duration, Duration) {
    let l = spanned.get_ref();
    let whole = spanned.span();
    let before = cx.diags.len();
    let timeout = l
        .timeout
        .as_ref()
        .and_then(|t| cx.duration(t, "load.timeout"))
        .unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        cx.err(
            l.timeout.as_ref().map_or(whole.clone(), |t| t.span()),
            "load.timeout",
            "must be longer than zero",
        );
    }
    let warmup = l
        .warmup
        .as_ref()
        .and_then(|w| cx.duration(w, "load.warmup"))
        .unwrap_or(Duration::ZERO);
    let duration = l
        .duration
        .as_ref()
        .and_then(|d| cx.duration(d, "load.duration"));
    if let (Some(d), Some(raw)) = (duration, &l.duration) {
        if d.is_zero() {
            cx.err(raw.span(), "load.duration", "must be longer than zero");
        }
    }

    let model = l.model.as_ref().map(|m| m.get_ref().as_str());
    let model = match model {
        Some("open") => "open",
        Some("closed") => "closed",
        Some("connections") => {
            let plan = super::chat::connections_load(cx, l, whole);
            if cx.diags.len() > before {
                return (None, warmup, timeout);
            }
            // The ramp is the warmup: connections open before the measured hold.
            let ramp = plan.as_ref().map_or(Duration::ZERO, LoadPlan::ramp);
            return (plan, ramp, timeout);
        }
        Some(other) => {
            let span = l.model.as_ref().unwrap().span();
            cx.err(span, "load.model", format!("unknown model `{other}`; use \"open\" (arrival rate), \"closed\" (virtual users) or \"connections\" (WebSocket chat)"));
            return (None, warmup, timeout);
        }
        // Infer the obvious: a rate means open, users mean closed.
        None if l.vus.is_some() => "closed",
        None => "open",
    };

    // Keys that belong to the other model are mistakes worth naming.
    let misplaced: Vec<(&str, Option<Range<usize>>)> = if model == "open" {
        vec![
            ("vus", l.vus.as_ref().map(|v| v.span())),
            ("think_time", l.think_time.as_ref().map(|v| v.span())),
            ("iterations", l.iterations.as_ref().map(|v| v.span())),
        ]
    } else {
        vec![
            ("rate", l.rate.as_ref().map(|v| v.span())),
            ("stages", l.stages.as_ref().map(|v| v.span())),
            ("start_rate", l.start_rate.as_ref().map(|v| v.span())),
            ("max_in_flight", l.max_in_flight.as_ref().map(|v| v.span())),
            ("connections", l.connections.as_ref().map(|v| v.span())),
        ]
    };
    for (key, span) in misplaced {
        if let Some(span) = span {
            let other = if model == "open" { "closed" } else { "open" };
            cx.err(
                span,
                format!("load.{key}"),
                format!("only applies to model = \"{other}\"; remove it or change the model"),
            );
        }
    }

    let plan = if model == "open" {
        open_load(cx, l, whole, warmup, duration)
    } else {
        closed_load(cx, l, whole, duration)
    };
    if cx.diags.len() > before {
        return (None, warmup, timeout);
    }
    (plan, warmup, timeout)
}

fn open_load(
    cx: &mut Ctx<'_>,
    l: &RawLoad,
    whole: Range<usize>,
    warmup: Duration,
    duration: Option<Duration>,
) -> Option<LoadPlan> {
    let connections = l
        .connections
        .as_ref()
        .and_then(|c| cx.positive(c, "load.connections"))
        .unwrap_or(DEFAULT_CONNECTIONS);
    let mut max_in_flight = l
        .max_in_flight
        .as_ref()
        .and_then(|c| cx.positive(c, "load.max_in_flight"))
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    if max_in_flight < connections {
        if let Some(m) = &l.max_in_flight {
            cx.err(
                m.span(),
                "load.max_in_flight",
                format!("is below connections ({connections}); raise it or lower connections"),
            );
        } else {
            max_in_flight = connections;
        }
    }
    let rate_ok = |cx: &mut Ctx<'_>, v: &Spanned<f64>, field: &str, allow_zero: bool| {
        let r = *v.get_ref();
        if r.is_finite() && (r > 0.0 || (allow_zero && r == 0.0)) {
            Some(r)
        } else {
            cx.err(
                v.span(),
                field,
                format!("must be a positive number of requests per second, not {r}"),
            );
            None
        }
    };
    let schedule = match (&l.rate, &l.stages) {
        (Some(_), Some(stages)) => {
            cx.err(
                stages.span(),
                "load.stages",
                "give either `rate` (constant) or `stages` (ramp), not both",
            );
            None
        }
        (None, None) => {
            cx.err(whole, "load", "the open model needs `rate = N` (requests per second) or `stages = [{ duration = \"30s\", target = N }]`");
            None
        }
        (Some(rate), None) => {
            let rate = rate_ok(cx, rate, "load.rate", false);
            let duration = match duration {
                Some(d) => Some(d),
                None => {
                    if l.duration.is_none() {
                        cx.err(
                            whole,
                            "load.duration",
                            "missing; every run is bounded in time: add duration = \"30s\"",
                        );
                    }
                    None
                }
            };
            if let Some(s) = &l.start_rate {
                cx.err(s.span(), "load.start_rate", "only applies with `stages`");
            }
            rate.zip(duration)
                .map(|(r, d)| (RateSchedule::constant(r, d).with_prefix(r, warmup), d))
        }
        (None, Some(stages)) => {
            if let Some(d) = &l.duration {
                cx.err(d.span(), "load.duration", "cannot be combined with `stages`: the run lasts as long as the stages add up to");
            }
            let start = match &l.start_rate {
                Some(s) => rate_ok(cx, s, "load.start_rate", true),
                None => Some(0.0),
            };
            if stages.get_ref().is_empty() {
                cx.err(
                    stages.span(),
                    "load.stages",
                    "is empty; add at least one { duration = \"30s\", target = N }",
                );
            }
            let mut pieces = Vec::new();
            for (i, st) in stages.get_ref().iter().enumerate() {
                let field = format!("load.stages[{i}]");
                let s = st.get_ref();
                let d = match &s.duration {
                    Some(d) => cx.duration(d, &format!("{field}.duration")),
                    None => {
                        cx.err(st.span(), &field, "missing `duration`");
                        None
                    }
                };
                let t = match &s.target {
                    Some(t) => rate_ok(cx, t, &format!("{field}.target"), true),
                    None => {
                        cx.err(
                            st.span(),
                            &field,
                            "missing `target` (requests per second at the end of the stage)",
                        );
                        None
                    }
                };
                if let (Some(d), Some(t)) = (d, t) {
                    pieces.push((d, t));
                }
            }
            if warmup > Duration::ZERO && start == Some(0.0) {
                cx.err(
                    l.warmup.as_ref().unwrap().span(),
                    "load.warmup",
                    "with `stages`, the warmup runs at `start_rate`; set start_rate above zero",
                );
            }
            start.and_then(|s| {
                let sched = RateSchedule::from_pieces(s, &pieces);
                let d = sched.len();
                if sched.is_empty() {
                    cx.err(
                        stages.span(),
                        "load.stages",
                        "plan no request at all; raise a target",
                    );
                    return None;
                }
                Some((sched.with_prefix(s, warmup), d))
            })
        }
    };
    let (schedule, duration) = schedule?;
    Some(LoadPlan::Open {
        schedule,
        connections,
        max_in_flight,
        duration,
    })
}

fn closed_load(
    cx: &mut Ctx<'_>,
    l: &RawLoad,
    whole: Range<usize>,
    duration: Option<Duration>,
) -> Option<LoadPlan> {
    let vus = match &l.vus {
        Some(v) => cx.positive(v, "load.vus"),
        None => {
            cx.err(
                whole.clone(),
                "load.vus",
                "missing; the closed model needs `vus = N` virtual users",
            );
            None
        }
    };
    let think_time = l
        .think_time
        .as_ref()
        .and_then(|t| cx.duration(t, "load.think_time"))
        .unwrap_or(Duration::ZERO);
    let iterations = l
        .iterations
        .as_ref()
        .and_then(|i| cx.positive(i, "load.iterations"))
        .map(|n| n as u64);
    if let (Some(_), Some(w)) = (iterations, &l.warmup) {
        cx.err(w.span(), "load.warmup", "cannot be combined with `iterations` (a warmup is a time, iterations a count); remove one");
    }
    let duration = match (duration, iterations) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => Some(DEFAULT_ITERATIONS_CAP),
        (None, None) => {
            if l.duration.is_none() {
                cx.err(
                    whole,
                    "load.duration",
                    "missing; add duration = \"30s\", or iterations = N to stop after a count",
                );
            }
            None
        }
    };
    Some(LoadPlan::Closed {
        vus: vus?,
        think_time,
        iterations,
        duration: duration?,
    })
}

/// The `[[requests]]` of a scenario, or the steps of its `[flow]` (`section` says which).
/// Flow steps may use the variables earlier steps extract; `vars` grows as they do.
#[allow(clippy::too_many_arguments)]
fn requests(
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
        let rules = super::flow::rules(cx, r, &field, in_flow, vars, outcomes);
        if let (Some(mut plan), Some(rules)) = (base, rules) {
            plan.rules = rules;
            out.push(plan);
        }
    }
    out
}

/// One request as written: name, method, path, headers, body, weight, expected status.
/// (Outcomes, checks and extraction are [`super::flow::rules`].)
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
    let weight = match &r.weight {
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
    };
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
        return (None, template(cx, p, field, scope));
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
    fn loopback_is_literal() {
        let o = |h: &str| Origin {
            host: h.into(),
            port: 80,
        };
        assert!(o("127.0.0.1").is_loopback());
        assert!(o("127.3.2.1").is_loopback());
        assert!(o("localhost").is_loopback());
        assert!(o("[::1]").is_loopback());
        assert!(!o("10.0.0.1").is_loopback());
        assert!(!o("example.com").is_loopback());
    }

    #[test]
    fn urls_split_into_origin_and_path() {
        let (o, p) = parse_url("http://127.0.0.1:30081/api").unwrap();
        assert_eq!(
            (o.host.as_str(), o.port, p.as_str()),
            ("127.0.0.1", 30081, "/api")
        );
        let (o, p) = parse_url("http://[::1]:8080").unwrap();
        assert_eq!((o.host.as_str(), o.port, p.as_str()), ("[::1]", 8080, "/"));
        assert!(parse_url("https://x")
            .unwrap_err()
            .contains("not supported"));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://x:99999").is_err());
    }

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

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("0.1%"), Some(0.001));
        assert_eq!(parse_fraction("0.5"), Some(0.5));
        assert_eq!(parse_fraction("150%"), None);
        assert_eq!(parse_fraction("lots"), None);
    }
}
