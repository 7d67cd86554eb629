//! Second stage of scenario loading: raw TOML values → the typed [`Plan`].
//!
//! Every check records a diagnostic and moves on, so one run of `loadctl validate` lists
//! every problem in the file. Defaults live here and nowhere else. One file per section;
//! this one puts the sections together.

mod balance;
mod capacity;
mod chat;
mod distributed;
mod flow;
mod kube;
mod load;
mod net;
mod prometheus;
pub(super) mod raw;
mod request;
mod slo;
mod target;

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use crate::diag::{Ctx, Diagnostic};
use crate::scenario::plan::compare::Tolerances;
use crate::scenario::plan::kube::FAULT_SCOPE;
use crate::scenario::plan::load::LoadPlan;
use crate::scenario::plan::target::{Origin, TargetSpec};
use crate::scenario::plan::{chat as chat_plan, Plan, Workload};
use crate::template::Scope;
use kube::RawKube;
use raw::{RawCompare, RawScenario};
use request::RawRequest;

pub(super) fn validate(
    raw: RawScenario,
    text: &str,
    cli_target: Option<&str>,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, Vec<Diagnostic>> {
    let mut cx = Ctx::new(text).with_base(path.parent().unwrap_or(Path::new(".")));
    let name = name(&mut cx, &raw, path);
    let target = target::target(
        &mut cx,
        raw.target.as_ref(),
        cli_target,
        raw.embedded.as_ref(),
    );
    let explicit_host = match &target {
        Some(TargetSpec::Url { origin, .. }) => Some(origin.clone()),
        _ => None,
    };
    let generator = load::generator(&mut cx, raw.generator.as_ref());
    let compare = compare(&mut cx, raw.compare.as_ref());
    let (load, warmup, timeout) = match &raw.load {
        Some(l) => load::load(&mut cx, l),
        None => {
            cx.err(
                0..0,
                "load",
                "missing; add a [load] table with `model`, `rate` or `vus`, and `duration`",
            );
            (None, Duration::ZERO, load::DEFAULT_TIMEOUT)
        }
    };

    let base_dir = path.parent().unwrap_or(Path::new("."));
    let (feeders, mut vars) = flow::feeders(&mut cx, &raw.feeders, base_dir);
    let mut outcomes = Vec::new();
    let explicit = explicit_host.as_ref();
    let mut workload = workload(
        &mut cx,
        &raw,
        load.as_ref(),
        explicit,
        env,
        (&mut vars, &mut outcomes),
    );
    if let (Some(Workload::Chat(_)), Some(TargetSpec::Embedded(e))) = (&workload, &target) {
        if e.service != "chat" && e.service != "relay" {
            let at = raw.embedded.as_ref().and_then(|e| e.service.as_ref());
            cx.err(
                at.map(Spanned::span)
                    .or_else(|| raw.chat.as_ref().map(Spanned::span))
                    .unwrap_or(0..0),
                "embedded.service",
                "a [chat] scenario against the embedded service needs `service = \"chat\"` (or \"relay\") in [embedded]",
            );
        }
    }
    let grpc = grpc(&mut cx, &raw, workload.as_mut(), timeout);
    let no_vars = Scope { env, vars: &[] };
    let setup = flow::checked_requests(&mut cx, raw.setup, "setup", explicit, &no_vars);
    let verify = flow::checked_requests(&mut cx, raw.verify, "verify", explicit, &no_vars);
    let mut names: Vec<&str> = match (&workload, &raw.chat) {
        (_, Some(_)) => chat_plan::ENDPOINTS.to_vec(),
        (Some(w), None) => w.requests().iter().map(|r| r.name.as_str()).collect(),
        (None, None) => Vec::new(),
    };
    if raw.chat.is_some() {
        outcomes = chat_plan::OUTCOMES.iter().map(|o| o.to_string()).collect();
    }
    let kube = raw.kube.as_ref().and_then(|k| {
        kube::kube_plan(
            &mut cx,
            k,
            target.as_ref(),
            warmup + load.as_ref().map_or(Duration::ZERO, LoadPlan::duration),
        )
    });
    let fault_names: Vec<&str> = kube
        .as_ref()
        .map(|k| k.faults.iter().map(|f| f.name.as_str()).collect())
        .unwrap_or_default();
    fault_scopes(
        &mut cx,
        &raw.requests,
        raw.kube.as_ref(),
        (&fault_names, &mut names),
    );
    let (balance, source_ips) = balance::sections(
        &mut cx,
        (raw.balance.as_ref(), raw.load.as_ref()),
        &mut names,
    );
    let scrapes = prometheus::scrapes(&mut cx, raw.prometheus.as_ref(), &names);
    names.extend(scrapes.iter().map(|s| s.name.as_str()));
    let slos = slo::slos(&mut cx, &raw.slo, &names, &outcomes);
    server_scopes(&mut cx, &slos, &scrapes, &raw.slo);
    recovery_scopes(&mut cx, &slos, &fault_names, &raw.slo);
    balance::scopes(
        &mut cx,
        &slos,
        (raw.balance.is_some(), balance.as_ref()),
        &raw.slo,
    );
    let http = net::http(&mut cx, raw.http.as_ref());
    let tls = net::tls(&mut cx, raw.tls.as_ref(), base_dir);
    let capacity = capacity::capacity(&mut cx, raw.capacity.as_ref());
    let distributed = distributed::distributed(&mut cx, raw.distributed.as_ref());
    let exports = exports(&mut cx, &raw.export);
    let http_span = raw.http.as_ref().map_or(0..0, |h| h.span());
    net::protocol_fits(
        &mut cx,
        (&http, http_span),
        (raw.chat.is_some(), raw.grpc.as_ref().map(Spanned::span)),
        target.as_ref(),
        load.as_ref(),
    );
    let diags = cx.finish();
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(Plan {
        name,
        description: raw.description.unwrap_or_default(),
        target: target.expect("checked: no diagnostics"),
        load: load.expect("checked: no diagnostics"),
        warmup,
        timeout,
        generator,
        workload: workload.expect("checked: no diagnostics"),
        slos,
        compare,
        feeders,
        vars,
        outcomes,
        setup,
        verify,
        kube,
        http,
        tls,
        capacity,
        scrapes,
        shard: None,
        distributed,
        exports,
        balance,
        source_ips,
        grpc,
    })
}

/// `[grpc]`, and every gRPC request resolved against it: a gRPC request without `[grpc]`
/// (or `[grpc]` without one) is an error at it.
fn grpc(
    cx: &mut Ctx<'_>,
    raw: &RawScenario,
    workload: Option<&mut Workload>,
    timeout: Duration,
) -> Option<crate::grpc::Services> {
    use crate::grpc::Services;
    let services = raw
        .grpc
        .as_ref()
        .and_then(|g| crate::grpc::schema::services(cx, g.get_ref(), g.span()));
    let requests = workload.map_or(&mut [][..], Workload::requests_mut);
    let mut any = false;
    for r in requests.iter_mut() {
        let Some(call) = r.grpc.as_deref_mut() else {
            continue;
        };
        any = true;
        match (&services, &raw.grpc) {
            (Some(Services::Known(s)), _) => crate::grpc::call::resolve(cx, s, call, timeout),
            (Some(Services::Reflection { max_message }), _) => {
                crate::grpc::call::place(cx, call, *max_message);
            }
            (None, Some(_)) => {}
            (None, None) => cx.err(
                call.at(),
                format!("{}.grpc", call.field()),
                "a gRPC call needs its services described: add [grpc] with `protos = [\"svc.proto\"]` or `descriptor_set`",
            ),
        }
    }
    if let (false, Some(g)) = (any, &raw.grpc) {
        cx.err(
            g.span(),
            "grpc",
            "no request calls a gRPC method: add `grpc = \"package.Service/Method\"` to a request, or remove [grpc]",
        );
    }
    services
}

/// A fault's name (and `fault`) is an SLO scope: no request may hide one; they join `names`.
fn fault_scopes<'a>(
    cx: &mut Ctx<'_>,
    requests: &[Spanned<RawRequest>],
    kube: Option<&Spanned<RawKube>>,
    (fault_names, names): (&[&'a str], &mut Vec<&'a str>),
) {
    if !fault_names.is_empty() {
        for scope in std::iter::once(FAULT_SCOPE).chain(fault_names.iter().copied()) {
            if !names.contains(&scope) {
                continue;
            }
            let named = requests
                .iter()
                .filter_map(|r| r.get_ref().name.as_ref())
                .find(|n| n.get_ref() == scope)
                .map(Spanned::span);
            let at = named.or_else(|| kube.map(Spanned::span));
            cx.err(at.unwrap_or(0..0), "requests", format!("a request named `{scope}` hides a fault's SLO scope (`{scope}.availability`); rename the request or give the fault another `name`"));
        }
        names.push(FAULT_SCOPE);
        names.extend(fault_names.iter().copied());
    }
}

/// At most this many live exporters: each serves or pushes beside the load.
const MAX_EXPORTS: usize = 8;

/// `[[export]]`: each table read by the module of its `kind`.
fn exports(
    cx: &mut Ctx<'_>,
    raw: &[Spanned<raw::RawExport>],
) -> Vec<crate::scenario::plan::ExportPlan> {
    if let Some(extra) = raw.get(MAX_EXPORTS) {
        cx.err(
            extra.span(),
            "export",
            format!("at most {MAX_EXPORTS} exporters"),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, e) in raw.iter().enumerate() {
        let field = format!("export[{i}]");
        match &e.get_ref().kind {
            Some(k) => out.extend(
                crate::export::validate(cx, k, e.span(), &field)
                    .map(crate::scenario::plan::ExportPlan),
            ),
            None => cx.err(
                e.span(),
                format!("{field}.kind"),
                format!("missing; one of {}", crate::export::names()),
            ),
        }
    }
    out
}

/// A server-side metric (`server_p99`, `server_rps`) needs a scrape's scope, and a
/// scrape's scope takes only those.
/// `recovery_s` is a fault's: its scope names one (`delay.recovery_s`).
fn recovery_scopes(
    cx: &mut Ctx<'_>,
    slos: &[crate::slo::Slo],
    faults: &[&str],
    raw: &indexmap::IndexMap<String, Spanned<toml::Value>>,
) {
    for s in slos {
        let recovery = s.metric == crate::slo::Metric::RecoverySeconds;
        let fault = s.scope.as_deref().is_some_and(|n| faults.contains(&n));
        if recovery && !fault {
            let at = raw.get(&s.name).map_or(0..0, Spanned::span);
            let names = if faults.is_empty() {
                "this scenario has no [[kube.fault]]".to_string()
            } else {
                format!("its faults are {}", faults.join(", "))
            };
            cx.err(
                at,
                format!("slo.\"{}\"", s.name),
                format!("recovery_s is a fault's: scope it by the fault's `name` (\"delay.recovery_s\"); {names}"),
            );
        }
    }
}

fn server_scopes(
    cx: &mut Ctx<'_>,
    slos: &[crate::slo::Slo],
    scrapes: &[crate::scenario::plan::prometheus::ScrapePlan],
    raw: &indexmap::IndexMap<String, Spanned<toml::Value>>,
) {
    for s in slos {
        let scrape = scrapes.iter().find(|p| Some(&p.name) == s.scope.as_ref());
        let field = format!("slo.\"{}\"", s.name);
        let at = raw.get(&s.name).map_or(0..0, Spanned::span);
        match (s.metric.is_server(), scrape) {
            (true, None) => cx.err(at.clone(), field, "a server-side metric is scoped to a [[prometheus.scrape]] name: \"gateway.server_p99\""),
            (false, Some(_)) => cx.err(at.clone(), field, "a scrape's scope takes server_pNN, server_rps"),
            (true, Some(p)) if s.metric.is_server_latency() && p.latency.is_none() => {
                cx.err(at.clone(), field, format!("scrape `{}` has no `latency` histogram to take percentiles from", p.name))
            }
            (true, Some(p)) if !s.metric.is_server_latency() && p.requests.is_none() => {
                cx.err(at.clone(), field, format!("scrape `{}` has no `requests` counter to take a rate from", p.name))
            }
            _ => {}
        }
    }
}

fn name(cx: &mut Ctx<'_>, raw: &RawScenario, path: &Path) -> String {
    match &raw.name {
        Some(n) if request::valid_name(n.get_ref()) => n.get_ref().clone(),
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
    }
}

fn compare(cx: &mut Ctx<'_>, raw: Option<&RawCompare>) -> Tolerances {
    let mut compare = Tolerances::default();
    if let Some(c) = raw {
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
    compare
}

/// The one workload of the scenario: `[[requests]]`, a `[flow]` or a `[chat]`.
fn workload(
    cx: &mut Ctx<'_>,
    raw: &RawScenario,
    load: Option<&LoadPlan>,
    explicit: Option<&Origin>,
    env: &dyn Fn(&str) -> Option<String>,
    (vars, outcomes): (&mut Vec<String>, &mut Vec<String>),
) -> Option<Workload> {
    if let Some(f) = &raw.flow {
        if let Some(first) = raw.requests.first() {
            cx.err(
                first.span(),
                "requests",
                "a scenario has either [[requests]] (one weighted request per iteration) or a [flow] of steps, not both",
            );
        }
        let closed = matches!(load, Some(LoadPlan::Closed { .. }));
        let flow = flow::flow_plan(cx, f, closed);
        let steps = &f.get_ref().steps;
        let steps = flow::requests(cx, steps, "flow.steps", explicit, env, vars, outcomes);
        return Some(Workload::Flow { flow, steps });
    }
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
    let requests = flow::requests(cx, &raw.requests, "requests", explicit, env, vars, outcomes);
    let chat = match (&raw.chat, load) {
        (Some(c), Some(l @ LoadPlan::Connections { .. })) => {
            chat::chat_plan(cx, c, Some(l), env, vars)
        }
        (Some(c), None) => chat::chat_plan(cx, c, None, env, vars),
        (Some(c), Some(_)) => {
            cx.err(
                c.span(),
                "chat",
                "a [chat] scenario needs load.model = \"connections\" (connections, connect_rate, hold)",
            );
            None
        }
        (None, Some(LoadPlan::Connections { .. })) => {
            let model = raw.load.as_ref().and_then(|l| l.get_ref().model.as_ref());
            cx.err(
                model.map_or(0..0, Spanned::span),
                "chat",
                "model = \"connections\" needs a [chat] section (groups, members, publish_rate)",
            );
            None
        }
        (None, _) => return Some(Workload::Requests(requests)),
    };
    chat.map(|c| Workload::Chat(Box::new(c)))
}
