//! Carries out the parsed command line: each command calls into the library and returns
//! the documented exit code. Errors bubble up to `main`, which prints their whole chain.

use std::fmt::Write as _;

use anyhow::{anyhow, Context};

use crate::cli::{
    Cli, Command, CompareArgs, CompareFormat, ReportArgs, RunArgs, ScenarioArgs, ServeArgs,
    TestbedCommand,
};
use crate::report::compare;
use crate::run::{run, RunOptions};
use crate::scenario::{self, LoadPlan, Overrides, Plan, TargetSpec, Tolerances};
use crate::testbed::cluster::{Cluster, ClusterConfig};
use crate::testbed::{ChatConfig, Faults, FlashConfig, LatencySpec, RateLimits, ServiceConfig};

/// An error that is the user's to fix before anything is sent: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Exit code for an error returned by [`execute`].
pub fn error_exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<scenario::ScenarioError>().is_some()
        || e.downcast_ref::<UsageError>().is_some()
        || e.downcast_ref::<crate::run::ResourceError>().is_some()
        || e.downcast_ref::<crate::kube::session::SetupError>()
            .is_some()
    {
        2
    } else {
        1
    }
}

pub fn execute(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run(args) => run_command(args),
        Command::Validate(args) => {
            let plan = load(&args)?;
            print!("{}", describe(&plan));
            Ok(0)
        }
        Command::Compare(args) => compare_command(args),
        Command::Report(args) => report_command(args),
        Command::Testbed {
            command: TestbedCommand::Serve(args),
        } => serve(args),
    }
}

fn load(args: &ScenarioArgs) -> anyhow::Result<Plan> {
    let mut set = Vec::new();
    for (key, v) in [
        ("load.duration", &args.duration),
        ("load.rate", &args.rate),
        ("load.vus", &args.vus),
    ] {
        if let Some(v) = v {
            set.push((key.to_string(), v.clone()));
        }
    }
    for kv in &args.set {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--set {kv}: write it as KEY=VALUE, e.g. --set load.rate=2000"
            ))
        })?;
        set.push((k.trim().to_string(), v.trim().to_string()));
    }
    let overrides = Overrides {
        target: args.target.clone(),
        set,
    };
    Ok(scenario::load(&args.scenario, &overrides)?)
}

/// Applies `--tolerance KEY=VALUE` flags on top of `base`.
fn tolerances(base: Tolerances, flags: &[String]) -> anyhow::Result<Tolerances> {
    let mut t = base;
    for kv in flags {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            UsageError(format!(
                "--tolerance {kv}: write it as KEY=VALUE, e.g. p99=15%"
            ))
        })?;
        t.set(k.trim(), v)
            .map_err(|e| UsageError(format!("--tolerance {kv}: {e}")))?;
    }
    Ok(t)
}

fn load_run(dir: &std::path::Path) -> anyhow::Result<crate::report::Summary> {
    compare::load_summary(dir).map_err(|e| UsageError(format!("{e:#}")).into())
}

/// Re-renders the reports; the exit code is the run's own, so a script can gate on it.
fn report_command(args: ReportArgs) -> anyhow::Result<u8> {
    let s = crate::report::rerender(&args.dir)?;
    println!(
        "{} · {} · re-rendered {}",
        s.scenario,
        s.status.label(),
        args.dir.join("report.html").display()
    );
    Ok(s.status.exit_code())
}

fn compare_command(args: CompareArgs) -> anyhow::Result<u8> {
    let base = load_run(&args.base)?;
    let new = load_run(&args.new)?;
    let c = compare::compare(
        &base,
        &new,
        &tolerances(Tolerances::default(), &args.tolerances)?,
    );
    match args.format {
        CompareFormat::Text => print!("{}", compare::render_text(&c)),
        CompareFormat::Md => print!("{}", compare::render_md(&c)),
    }
    Ok(u8::from(c.regressions > 0))
}

fn run_command(args: RunArgs) -> anyhow::Result<u8> {
    let plan = load(&args.scenario)?;
    // Read the baseline before sending anything: a wrong folder is a usage error.
    let baseline = args.baseline.as_deref().map(load_run).transpose()?;
    let opts = RunOptions {
        out: args.out.clone(),
        progress: !args.no_progress,
        handle_signals: true,
        baseline,
        tolerances: Some(tolerances(plan.compare, &args.tolerances)?),
        kube_context: args.kube_context.clone(),
        ..RunOptions::default()
    };
    let outcome = run(&plan, &opts)?;
    print!(
        "{}",
        crate::report::console::render(&outcome.summary, &outcome.out_dir.display().to_string())
    );
    Ok(outcome.exit_code())
}

/// The expanded plan, as `loadctl validate` prints it.
pub fn describe(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "scenario   {}", plan.name);
    if !plan.description.is_empty() {
        let _ = writeln!(o, "           {}", plan.description.trim());
    }
    let target = match &plan.target {
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
    };
    let _ = writeln!(o, "target     {target}");
    let d = |d: std::time::Duration| humantime::format_duration(d).to_string();
    match &plan.load {
        LoadPlan::Open {
            schedule,
            connections,
            max_in_flight,
            duration,
        } => {
            let total = schedule.total_requests();
            let warm = schedule.count_before(plan.warmup.as_secs_f64()).ceil() as u64;
            let peak = schedule.peak_rate();
            let unit = if plan.flow.is_some() {
                "iterations/s"
            } else {
                "req/s"
            };
            let _ = writeln!(o, "load       open model, peak {peak:.0} {unit}");
            let _ = writeln!(
                o,
                "duration   {} measured + {} warmup",
                d(*duration),
                d(plan.warmup)
            );
            let _ = writeln!(
                o,
                "planned    {} {} measured ({} in warmup)",
                total - warm.min(total),
                if plan.flow.is_some() {
                    "iterations"
                } else {
                    "requests"
                },
                warm.min(total)
            );
            let _ = writeln!(
                o,
                "needs      ≈ peak rate × latency connections: {:.0} at 10 ms, {:.0} at 100 ms (allowed: {connections} connections, {max_in_flight} in flight)",
                (peak * 0.01).ceil(),
                (peak * 0.1).ceil()
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
            if let Some(c) = &plan.chat {
                let _ = writeln!(
                    o,
                    "chat       {} groups × {} members, {} message(s)/s per group ({:.0}/s in all), {} B payload, path {}, grace {}",
                    c.groups,
                    c.members,
                    c.publish_rate,
                    c.publish_rate * c.groups as f64,
                    c.payload,
                    c.path,
                    d(c.grace)
                );
                let _ = writeln!(
                    o,
                    "expects    {:.0} deliveries/s (each message to {} other members)",
                    c.publish_rate * c.groups as f64 * (c.members - 1) as f64,
                    c.members - 1
                );
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
    let _ = writeln!(o, "timeout    {}", d(plan.timeout));
    let _ = writeln!(
        o,
        "validity   invalid if dropped > {:.3}% or send lag p99 > {}; {} generator threads",
        plan.generator.max_dropped * 100.0,
        d(plan.generator.max_send_lag_p99),
        plan.generator.threads
    );
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
    let target = |r: &crate::scenario::RequestPlan| {
        r.origin.as_ref().map_or(String::new(), |o| o.to_string()) + r.path.source()
    };
    let rules = |r: &crate::scenario::RequestPlan| {
        let mut extra = String::new();
        for oc in &r.rules.outcomes {
            let _ = write!(extra, "; {} = {}", oc.name, oc.status);
        }
        for e in &r.rules.extract {
            let _ = write!(extra, "; → {{{{{}}}}}", e.name);
        }
        extra
    };
    match &plan.flow {
        Some(flow) => {
            let sessions = match (flow.sessions, &plan.load) {
                (_, LoadPlan::Closed { .. }) => "one session per virtual user".to_string(),
                (Some(n), _) => format!("{n} sessions shared by the iterations"),
                (None, _) => "a new session every iteration".to_string(),
            };
            let _ = writeln!(o, "flow       {sessions}");
            for (i, r) in plan.requests.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "  {}. {:<21}{} {:<6} {}  (expect {}{})",
                    i + 1,
                    r.name,
                    if r.rules.once { " once " } else { "      " },
                    r.method,
                    target(r),
                    r.expect,
                    rules(r)
                );
            }
        }
        None if plan.chat.is_some() => {}
        None => {
            let total_weight: f64 = plan.requests.iter().map(|r| r.weight).sum();
            let _ = writeln!(o, "requests");
            for r in &plan.requests {
                let _ = writeln!(
                    o,
                    "  {:<24} {:>5.1}%  {:<6} {}  (expect {}{})",
                    r.name,
                    r.weight / total_weight * 100.0,
                    r.method,
                    target(r),
                    r.expect,
                    rules(r)
                );
            }
        }
    }
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
            let _ = writeln!(
                o,
                "  fault  pod-kill {} ({}) at {}{}",
                f.mode,
                f.selector,
                humantime::format_duration(f.at),
                f.grace.map_or(String::new(), |g| format!(
                    ", grace {}",
                    humantime::format_duration(g)
                ))
            );
        }
    }
    o
}

/// The simulated cluster's settings, checked.
pub fn cluster_config(time_scale: f64, replica_capacity: f64) -> Result<ClusterConfig, UsageError> {
    if !(time_scale.is_finite() && (0.1..=1000.0).contains(&time_scale)) {
        return Err(UsageError(format!(
            "--time-scale {time_scale}: use a factor from 0.1 to 1000"
        )));
    }
    if !(replica_capacity.is_finite() && replica_capacity > 0.0) {
        return Err(UsageError(format!(
            "--replica-capacity {replica_capacity}: use requests per second above 0"
        )));
    }
    Ok(ClusterConfig {
        time_scale,
        replica_capacity,
        ..ClusterConfig::default()
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    let mut faults = Faults::default();
    if let Some(l) = &args.latency {
        faults.latency =
            Some(LatencySpec::parse(l).map_err(|e| UsageError(format!("--latency: {e}")))?);
    }
    if let Some(r) = &args.error_rate {
        faults.error_rate = scenario::parse_fraction(r).ok_or_else(|| {
            UsageError(format!(
                "--error-rate {r}: write a share such as 1% or 0.01"
            ))
        })?;
    }
    if let (Some(s), Some(e)) = (&args.stall, &args.every) {
        let p = |v: &str, flag: &str| {
            humantime::parse_duration(v)
                .map_err(|_| UsageError(format!("--{flag} {v}: not a duration such as 1s")))
        };
        let (s, e) = (p(s, "stall")?, p(e, "every")?);
        if s >= e {
            return Err(UsageError("--stall must be shorter than --every".into()).into());
        }
        faults.stall = Some((s, e));
    }
    let mut chat = ChatConfig {
        max_connections: args.max_connections,
        ..ChatConfig::default()
    };
    if let Some(r) = &args.drop_rate {
        chat.drop_rate = scenario::parse_fraction(r).ok_or_else(|| {
            UsageError(format!("--drop-rate {r}: write a share such as 1% or 0.01"))
        })?;
    }
    if let Some(l) = &args.relay_latency {
        chat.relay_latency =
            Some(LatencySpec::parse(l).map_err(|e| UsageError(format!("--relay-latency: {e}")))?);
    }
    let cfg = ServiceConfig {
        faults,
        chat,
        flash: FlashConfig {
            items: args.items,
            stock: args.stock,
            unsafe_stock: args.unsafe_stock,
            token_secret: args.token_secret.clone(),
        },
        rate_limits: args.rate_limits.then(RateLimits::seed_002),
        cluster: args
            .simulate_cluster
            .then(|| cluster_config(args.time_scale, args.replica_capacity))
            .transpose()?,
    };
    let (router, sim) = crate::testbed::router(&args.service, &cfg).map_err(UsageError)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        eprintln!(
            "serving {} on http://{} (Ctrl-C to stop)",
            args.service,
            listener.local_addr()?
        );
        if let Some(c) = &sim {
            let api = tokio::net::TcpListener::bind(args.kube_listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.kube_listen))?;
            let addr = api.local_addr()?;
            std::fs::write(&args.kubeconfig, Cluster::kubeconfig(addr)).with_context(|| {
                format!("cannot write the kubeconfig {}", args.kubeconfig.display())
            })?;
            c.spawn_controller();
            let app = c.api_router();
            tokio::spawn(async move { axum::serve(api, app).await });
            eprintln!(
                "simulated cluster: Kubernetes API on http://{addr}, time scale {}x; \
                 KUBECONFIG={}",
                args.time_scale,
                args.kubeconfig.display()
            );
        }
        crate::testbed::serve(listener, router, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| anyhow!(e))
    })?;
    Ok(0)
}
