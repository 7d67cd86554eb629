//! The expanded plan as `loadctl validate` prints it: what will be sent, how fast, for how
//! long, and how it will be judged. Figures come from the plan's own methods.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::plan::chat::{ChatPlan, Marker};
use crate::scenario::plan::load::LoadPlan;
use crate::scenario::plan::request::RequestPlan;
use crate::scenario::plan::target::TargetSpec;
use crate::scenario::plan::{Plan, Workload};
use crate::template::{RenderCtx, Template};

fn d(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The whole plan, one aspect per line.
pub fn describe(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "scenario   {}", plan.name);
    if !plan.description.is_empty() {
        let _ = writeln!(o, "           {}", plan.description.trim());
    }
    let _ = writeln!(o, "target     {}", target(&plan.target));
    let _ = writeln!(o, "protocol   {}", protocol_line(plan));
    let _ = writeln!(o, "capacity   {}", capacity_line(plan));
    match &plan.grpc {
        Some(crate::grpc::Services::Known(g)) => {
            let _ = writeln!(
                o,
                "grpc       {} (messages up to {} bytes)",
                g.source, g.max_message
            );
            for m in g.describe() {
                let _ = writeln!(o, "  {m}");
            }
        }
        Some(crate::grpc::Services::Reflection { max_message }) => {
            let _ = writeln!(o, "grpc       the target's reflection service, asked at the run's start; methods and messages are checked then (messages up to {max_message} bytes)");
        }
        None => {}
    }
    for sc in &plan.scrapes {
        let what: Vec<String> = [("requests", &sc.requests), ("latency", &sc.latency)]
            .iter()
            .filter_map(|(k, sel)| sel.as_ref().map(|s| format!("{k} {}", s.name)))
            .collect();
        let _ = writeln!(
            o,
            "scrape     {}: {} every {} ({})",
            sc.name,
            sc.url("the target"),
            d(sc.every),
            what.join(", ")
        );
    }
    for e in &plan.exports {
        let _ = writeln!(o, "export     {}", e.0.describe());
    }
    load(&mut o, plan);
    let _ = writeln!(o, "timeout    {}", d(plan.timeout));
    let _ = writeln!(
        o,
        "validity   invalid if dropped > {:.3}% or send lag p99 > {}; {} generator threads",
        plan.generator.max_dropped * 100.0,
        d(plan.generator.max_send_lag_p99),
        plan.generator.threads
    );
    if matches!(plan.load, LoadPlan::Open { .. }) {
        let _ = writeln!(
            o,
            "wake-ups   requests due within {} of each other share one",
            d(plan.generator.wake_grain)
        );
    }
    for f in &plan.feeders {
        let _ = writeln!(
            o,
            "feeder     {}: {} rows of {} from {} ({}, when used up: {})",
            f.name,
            f.rows.len(),
            f.columns.join(", "),
            f.file.display(),
            format!("{:?}", f.mode).to_lowercase(),
            format!("{:?}", f.on_exhausted).to_lowercase()
        );
    }
    for c in &plan.setup {
        let _ = writeln!(
            o,
            "setup      {} {} {}",
            c.request.name,
            c.request.method,
            c.request.path.source()
        );
    }
    workload(&mut o, plan);
    for c in &plan.verify {
        let _ = writeln!(
            o,
            "verify     {} {} {}: {}",
            c.request.name,
            c.request.method,
            c.request.path.source(),
            c.checks
                .iter()
                .map(|a| a.text.as_str())
                .collect::<Vec<_>>()
                .join(" · ")
        );
    }
    judgement(&mut o, plan);
    o
}

/// The search `loadctl capacity` would run: rates, step times, worst case.
fn capacity_line(plan: &Plan) -> String {
    let c = &plan.capacity;
    let growth: Vec<String> = c.growth().iter().map(|r| format!("{r:.0}")).collect();
    let (steps, worst) = c.worst_case();
    let mut line = format!(
        "search (loadctl capacity): {} /s, then bisection to {:.1}%; each step {} settle + {} judged; at most {steps} steps, {} at worst",
        growth.join(", "),
        c.precision * 100.0,
        d(c.settle),
        d(c.step),
        d(worst)
    );
    if c.trials > 1 {
        line.push_str(&format!("; {} runs of each boundary rate", c.trials));
    }
    if let Some(h) = c.hold {
        line.push_str(&format!("; hold {}", d(h)));
    }
    if let Some((_, v)) = c.require {
        line.push_str(&format!("; requires {v:.0}/s"));
    }
    line
}

/// `[http]` and `[tls]` as the run will use them.
fn protocol_line(plan: &Plan) -> String {
    let mut line = plan.http.describe();
    let t = &plan.tls;
    let mut tls = Vec::new();
    if let Some(ca) = &t.ca {
        tls.push(format!("CA {}", ca.display()));
    }
    if t.insecure {
        tls.push("certificates NOT verified (insecure)".into());
    }
    if t.client_cert.is_some() {
        tls.push("client certificate".into());
    }
    if let Some(n) = &t.server_name {
        tls.push(format!("server name {n}"));
    }
    if !t.resumption {
        tls.push("no session resumption".into());
    }
    if !tls.is_empty() {
        line.push_str(&format!("; TLS: {}", tls.join(", ")));
    }
    line
}

fn target(t: &TargetSpec) -> String {
    match t {
        TargetSpec::Embedded(e) => match &e.config.cluster {
            None => format!(
                "embedded {} reference service on 127.0.0.1 (free port)",
                e.service
            ),
            Some(c) => format!(
                "embedded {} reference service on 127.0.0.1 (free port), in a simulated cluster at {}x time, {} req/s per replica",
                e.service, c.time_scale, c.replica_capacity
            ),
        },
        TargetSpec::Url { origin, base_path } => format!("{origin}{base_path}"),
    }
}

fn load(o: &mut String, plan: &Plan) {
    match &plan.load {
        LoadPlan::Open {
            schedule,
            connections,
            max_in_flight,
            duration,
        } => {
            let peak = schedule.peak_rate();
            let unit = plan.workload.unit();
            let _ = writeln!(
                o,
                "load       open model, peak {peak:.0} {}/s",
                match unit {
                    "iterations" => "iterations",
                    _ => "req",
                }
            );
            let _ = writeln!(
                o,
                "duration   {} measured + {} warmup",
                d(*duration),
                d(plan.warmup)
            );
            let _ = writeln!(
                o,
                "planned    {} {unit} measured ({} in warmup)",
                plan.planned_requests().unwrap_or(0),
                plan.planned_in_warmup().unwrap_or(0)
            );
            let _ = writeln!(
                o,
                "needs      ≈ peak rate × latency connections: {:.0} at 10 ms, {:.0} at 100 ms (allowed: {connections} connections, {max_in_flight} in flight)",
                plan.load.connections_needed(Duration::from_millis(10)),
                plan.load.connections_needed(Duration::from_millis(100)),
            );
        }
        LoadPlan::Connections {
            connections,
            connect_rate,
            hold,
        } => {
            let _ = writeln!(
                o,
                "load       connections model: {connections} WebSocket connections at {connect_rate:.0}/s (ramp {}), held {}",
                d(plan.load.ramp()),
                d(*hold)
            );
            if let Workload::Chat(c) = &plan.workload {
                let _ = writeln!(
                o,
                "chat       {} groups × {} members, {} message(s)/s per group ({:.0}/s in all), {} B payload, path {}, grace {}",
                c.groups,
                c.members,
                c.publish_rate,
                c.publish_rate * c.groups as f64,
                c.payload,
                c.path.source(),
                d(c.grace)
            );
                let _ = writeln!(
                    o,
                    "expects    {:.0} deliveries/s (each message to {} other members)",
                    c.deliveries_per_second(),
                    c.members - 1
                );
                protocol(o, c);
            }
        }
        LoadPlan::Closed {
            vus,
            think_time,
            iterations,
            duration,
        } => {
            let _ = writeln!(
                o,
                "load       closed model, {vus} virtual users (= connections), think time {}",
                d(*think_time)
            );
            match iterations {
                Some(n) => {
                    let _ = writeln!(o, "planned    {n} iterations, at most {}", d(*duration));
                }
                None => {
                    let _ = writeln!(
                        o,
                        "duration   {} measured + {} warmup",
                        d(*duration),
                        d(plan.warmup)
                    );
                }
            }
        }
    }
}

/// A chat template rendered for member `u0` of group `g0`, with an example marker.
fn example(t: &Template, payload: usize) -> String {
    let mut marker = String::new();
    Marker {
        group: 0,
        seq: 42,
        t_ns: 1_500_000_000,
        from: 0,
    }
    .write(&mut marker, payload.min(8));
    let vars = ["u0".to_string(), "g0".to_string(), marker];
    let mut rng = fastrand::Rng::with_seed(0);
    let seq = std::sync::atomic::AtomicU64::new(0);
    let mut out = String::new();
    t.render_into(
        &mut out,
        &mut RenderCtx {
            rng: &mut rng,
            seq: &seq,
            vars: &vars,
        },
    );
    out
}

/// The chat protocol and one example of each frame.
fn protocol(o: &mut String, c: &ChatPlan) {
    let p = &c.protocol;
    let _ = writeln!(
        o,
        "protocol   {} ({} frames){}{}",
        if p.custom {
            "[chat.protocol]"
        } else {
            "the reference gateway's"
        },
        if p.binary { "binary" } else { "text" },
        c.subprotocol
            .as_ref()
            .map_or(String::new(), |s| format!(", subprotocol {s}")),
        if c.headers.is_empty() {
            String::new()
        } else {
            format!(
                ", headers {}",
                c.headers
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    let mut path = example(&c.path, 0);
    if !c.path.uses_var(0) {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str("user=u0");
    }
    let _ = writeln!(o, "  upgrade  {path}");
    match &p.join {
        Some(j) => {
            let _ = writeln!(o, "  join     {}", example(j, 0));
        }
        None => {
            let _ = writeln!(o, "  join     (no frame)");
        }
    }
    let _ = writeln!(
        o,
        "  joined   {}",
        p.joined
            .as_ref()
            .map_or("once the join is written".to_string(), |j| j.describe())
    );
    let _ = writeln!(o, "  publish  {}", example(&p.publish, c.payload));
    if let Some((h, every)) = &p.heartbeat {
        let _ = writeln!(o, "  heartbeat {} every {}", example(h, 0), d(*every));
    }
}

fn request_target(r: &RequestPlan) -> String {
    match &r.grpc {
        Some(call) => call.describe(),
        None => r.origin.as_ref().map_or(String::new(), |o| o.to_string()) + r.path.source(),
    }
}

/// The method column and what success is: `POST … (expect 2xx)`, `gRPC … (expect OK)`.
fn method_expect(r: &RequestPlan) -> (String, String) {
    match &r.grpc {
        Some(call) => {
            let names: Vec<&str> = call
                .expect
                .iter()
                .map(|c| crate::grpc::status::name(*c))
                .collect();
            ("gRPC".to_string(), names.join("|"))
        }
        None => (r.method.to_string(), r.expect.to_string()),
    }
}

fn rules(r: &RequestPlan) -> String {
    let mut extra = String::new();
    for oc in &r.rules.outcomes {
        let _ = write!(extra, "; {} = {}", oc.name, oc.status);
    }
    for e in &r.rules.extract {
        let _ = write!(extra, "; → {{{{{}}}}}", e.name);
    }
    extra
}

fn workload(o: &mut String, plan: &Plan) {
    match &plan.workload {
        Workload::Flow { flow, steps } => {
            let sessions = match (flow.sessions, &plan.load) {
                (_, LoadPlan::Closed { .. }) => "one session per virtual user".to_string(),
                (Some(n), _) => format!("{n} sessions shared by the iterations"),
                (None, _) => "a new session every iteration".to_string(),
            };
            let _ = writeln!(o, "flow       {sessions}");
            for (i, r) in steps.iter().enumerate() {
                let (method, expect) = method_expect(r);
                let _ = writeln!(
                    o,
                    "  {}. {:<21}{} {:<6} {}  (expect {}{})",
                    i + 1,
                    r.name,
                    if r.rules.once { " once " } else { "      " },
                    method,
                    request_target(r),
                    expect,
                    rules(r)
                );
            }
        }
        Workload::Chat(_) => {}
        Workload::Requests(requests) => {
            let total_weight: f64 = requests.iter().map(|r| r.weight).sum();
            let _ = writeln!(o, "requests");
            for r in requests {
                let (method, expect) = method_expect(r);
                let _ = writeln!(
                    o,
                    "  {:<24} {:>5.1}%  {:<6} {}  (expect {}{})",
                    r.name,
                    r.weight / total_weight * 100.0,
                    method,
                    request_target(r),
                    expect,
                    rules(r)
                );
            }
        }
    }
}

fn judgement(o: &mut String, plan: &Plan) {
    if plan.slos.is_empty() {
        let _ = writeln!(
            o,
            "slo        none (the run passes if any request succeeds)"
        );
    } else {
        let _ = writeln!(o, "slo");
        for s in &plan.slos {
            let _ = writeln!(o, "  {} {}", s.name, s.expr);
        }
    }
    if let Some(k) = &plan.kube {
        let _ = writeln!(
            o,
            "kube       namespace {}{}",
            k.namespace,
            k.context
                .as_ref()
                .map_or(String::new(), |c| format!(", context {c}"))
        );
        for e in &k.expect {
            let _ = writeln!(o, "  expect hpa/{} {}", e.hpa, e.describe());
        }
        for f in &k.faults {
            let _ = writeln!(o, "  fault  {}", f.describe());
        }
    }
}
