//! Carries out the parsed command line: each command calls into the library and returns
//! the documented exit code. Errors bubble up to `main` as [`Error`], which prints their
//! whole chain and exits with [`Error::exit_code`].

use crate::cli::{
    CapacityArgs, Cli, Command, CompareArgs, CompareFormat, ReportArgs, RunArgs, ScenarioArgs,
};
use crate::error::{Error, Result};
use crate::report::compare::{render_md, render_text};
use crate::run::{run, RunOptions};
use crate::scenario::{self, describe::describe, Overrides, Plan, Tolerances};
use crate::summary::{compare::compare, load_summary, Summary};

pub fn execute(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run(args) => run_command(args),
        Command::Capacity(args) => capacity_command(args),
        Command::Validate(args) => {
            let plan = load(&args, &[])?;
            emit(&describe(&plan));
            Ok(0)
        }
        Command::Compare(args) => compare_command(args),
        Command::Report(args) => report_command(args),
        Command::Merge(args) => {
            let s = crate::merge::merge(&args.dirs, &args.out)?;
            emit(&crate::report::console::render(
                &s,
                &args.out.display().to_string(),
            ));
            Ok(s.status.exit_code())
        }
        Command::Agent(args) => agent_command(&args).map(|()| 0),
        #[cfg(feature = "testbed")]
        Command::Testbed {
            command: crate::testbed::serve::TestbedCommand::Serve(args),
        } => crate::testbed::serve::serve(&args).map(|()| 0),
    }
}

/// Writes to standard output. A closed or full stdout (`| head`, `> /dev/full`) loses the
/// text but not the outcome: the documented exit code stands.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The scenario with the command line's overrides: `--set`, the sugar flags, and `extra`
/// (`(key, flag, value)`, such as `loadctl capacity --min`).
fn load(args: &ScenarioArgs, extra: &[(&str, &str, &Option<String>)]) -> Result<Plan> {
    let overrides = overrides(args, extra)?;
    Ok(scenario::load(&args.scenario, &overrides)?)
}

/// The scenario as agents build it: the same overrides, its files and environment.
fn bundle(args: &ScenarioArgs) -> Result<(Plan, scenario::bundle::Bundle)> {
    let overrides = overrides(args, &[])?;
    Ok(scenario::bundle::bundle(&args.scenario, &overrides)?)
}

fn overrides(args: &ScenarioArgs, extra: &[(&str, &str, &Option<String>)]) -> Result<Overrides> {
    let mut set = Vec::new();
    let mut shown = Vec::new();
    let sugar = [
        ("load.duration", "--duration", &args.duration),
        ("load.rate", "--rate", &args.rate),
        ("load.vus", "--vus", &args.vus),
    ];
    for &(key, flag, v) in sugar.iter().chain(extra) {
        if let Some(v) = v {
            set.push((key.to_string(), v.clone()));
            shown.push(format!("{flag} {v}"));
        }
    }
    for kv in &args.set {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::usage(format!(
                "--set {kv}: write it as KEY=VALUE, e.g. --set load.rate=2000"
            ))
        })?;
        set.push((k.trim().to_string(), v.trim().to_string()));
        shown.push(format!("--set {kv}"));
    }
    Ok(Overrides {
        target: args.target.clone(),
        set,
        args: shown,
    })
}

/// Applies `--tolerance KEY=VALUE` flags on top of `base`.
fn tolerances(base: Tolerances, flags: &[String]) -> Result<Tolerances> {
    let mut t = base;
    for kv in flags {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::usage(format!(
                "--tolerance {kv}: write it as KEY=VALUE, e.g. p99=15%"
            ))
        })?;
        t.set(k.trim(), v)
            .map_err(|e| Error::usage(format!("--tolerance {kv}: {e}")))?;
    }
    Ok(t)
}

fn load_run(dir: &std::path::Path) -> Result<Summary> {
    load_summary(dir).map_err(|e| Error::usage(format!("{e:#}")))
}

/// Re-renders the reports; the exit code is the run's own, so a script can gate on it.
fn report_command(args: ReportArgs) -> Result<u8> {
    // A folder that is not a run, or a damaged one, is the user's to fix: nothing is written.
    let saved = crate::report::load_run(&args.dir).map_err(|e| Error::usage(format!("{e:#}")))?;
    crate::report::write_run(&args.dir, &saved)?;
    let s = &saved.summary;
    emit(&format!(
        "{} · {} · re-rendered {}\n",
        s.scenario,
        s.status.label(),
        args.dir.join("report.html").display()
    ));
    Ok(s.status.exit_code())
}

fn compare_command(args: CompareArgs) -> Result<u8> {
    let base = load_run(&args.base)?;
    let new = load_run(&args.new)?;
    let c = compare(
        &base,
        &new,
        &tolerances(Tolerances::default(), &args.tolerances)?,
    );
    match args.format {
        CompareFormat::Text => emit(&render_text(&c)),
        CompareFormat::Md => emit(&render_md(&c)),
    }
    Ok(u8::from(c.regressions > 0))
}

fn capacity_command(args: CapacityArgs) -> Result<u8> {
    let plan = load(
        &args.scenario,
        &[
            ("capacity.min", "--min", &args.min),
            ("capacity.max", "--max", &args.max),
            ("capacity.precision", "--precision", &args.precision),
            ("capacity.step", "--step", &args.step),
            ("capacity.settle", "--settle", &args.settle),
            ("capacity.trials", "--trials", &args.trials),
            ("capacity.hold", "--hold", &args.hold),
        ],
    )?;
    let opts = crate::capacity::CapacityOptions {
        out: args.out.clone(),
        print: true,
        handle_signals: true,
        services: services(),
    };
    Ok(crate::capacity::search(&plan, &opts)?.result.exit_code())
}

fn agent_command(args: &crate::cli::AgentArgs) -> Result<()> {
    let token = crate::remote::token::load(
        args.token_file.as_deref(),
        std::env::var(crate::remote::token::ENV).ok(),
    )
    .map_err(Error::usage)?;
    let delay_start = match &args.delay_start {
        Some(d) => humantime::parse_duration(d)
            .ok()
            .filter(|d| *d <= std::time::Duration::from_secs(60))
            .ok_or_else(|| {
                Error::usage(format!(
                    "--delay-start {d}: write a duration up to 60s, such as 300ms"
                ))
            })?,
        None => std::time::Duration::ZERO,
    };
    crate::agent::serve(crate::agent::AgentOptions {
        listen: args.listen,
        token,
        name: args.name.clone().unwrap_or_else(crate::agent::host_name),
        scratch: args
            .scratch
            .clone()
            .unwrap_or_else(crate::agent::scratch::default_path),
        scratch_private: args.scratch.is_none(),
        allow: args
            .allow_target
            .as_deref()
            .map(crate::agent::allow::AllowList::parse)
            .transpose()
            .map_err(Error::usage)?,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(c), Some(k)) => {
                Some(crate::remote::tls::server_config(c, k).map_err(Error::usage)?)
            }
            _ => None,
        },
        keep_runs: args.keep_runs,
        delay_start,
        runs: args.runs.unwrap_or(0),
    })
}

/// Most agents one `--kube-agents` Job runs.
const MAX_KUBE_AGENTS: u32 = 256;

/// The agents of `--agents` or `--kube-agents`, with the token and the scenario as they receive it.
fn agents(args: &RunArgs) -> Result<Option<crate::run::Agents>> {
    if let Some(n) = args.kube_agents {
        if !args.agents.is_empty() {
            return Err(Error::usage(
                "--agents and --kube-agents do not mix: name hosts, or let a Job run the agents",
            ));
        }
        if n == 0 || n > MAX_KUBE_AGENTS {
            return Err(Error::usage(format!(
                "--kube-agents {n}: from 1 to {MAX_KUBE_AGENTS}"
            )));
        }
        // The Job's own token, in a Secret the Job owns, unless the user set one.
        let token = match std::env::var(crate::remote::token::ENV) {
            Ok(t) => crate::remote::token::load(None, Some(t)).map_err(Error::usage)?,
            Err(_) => crate::remote::token::generate().map_err(Error::Failed)?,
        };
        let (_, bundle) = bundle(&args.scenario)?;
        return Ok(Some(crate::run::Agents {
            addrs: Vec::new(),
            kube: Some(n),
            token,
            bundle: std::sync::Arc::new(bundle),
        }));
    }
    if args.agents.is_empty() {
        return Ok(None);
    }
    if args.agents.len() > scenario::shard::MAX_SHARDS as usize {
        return Err(Error::usage(format!(
            "--agents: {} agents; at most {}",
            args.agents.len(),
            scenario::shard::MAX_SHARDS
        )));
    }
    let trust = match (&args.agent_ca, &args.agent_fingerprint) {
        (Some(ca), _) => Some(crate::remote::tls::AgentTrust::Ca(ca.clone())),
        (None, Some(f)) => Some(crate::remote::tls::AgentTrust::Fingerprint(
            crate::remote::tls::parse_fingerprint(f).map_err(Error::usage)?,
        )),
        (None, None) => None,
    };
    let tls = trust
        .as_ref()
        .map(crate::remote::tls::client_config)
        .transpose()
        .map_err(Error::usage)?;
    let mut addrs = Vec::new();
    for a in &args.agents {
        let a = a.trim();
        let (a, secure) = match a.strip_prefix("wss://") {
            Some(rest) => (rest, true),
            None => (a.strip_prefix("ws://").unwrap_or(a), false),
        };
        let ok = a
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !ok {
            return Err(Error::usage(format!(
                "--agents: `{a}` is not HOST:PORT, such as 10.0.0.5:7700"
            )));
        }
        match (secure, &tls) {
            (false, _) => addrs.push(crate::run::AgentAddr::Host(a.to_string())),
            (true, Some(config)) => addrs.push(crate::run::AgentAddr::Tls {
                hostport: a.to_string(),
                config: config.clone(),
            }),
            (true, None) => {
                return Err(Error::usage(format!(
                    "--agents wss://{a}: say how to trust the agent's certificate: --agent-fingerprint sha256:… (the agent prints it) or --agent-ca ca.pem"
                )))
            }
        }
    }
    let token = crate::remote::token::load(
        args.agent_token_file.as_deref(),
        std::env::var(crate::remote::token::ENV).ok(),
    )
    .map_err(Error::usage)?;
    let (_, bundle) = bundle(&args.scenario)?;
    Ok(Some(crate::run::Agents {
        addrs,
        kube: None,
        token,
        bundle: std::sync::Arc::new(bundle),
    }))
}

fn run_command(args: RunArgs) -> Result<u8> {
    let mut plan = load(&args.scenario, &[])?;
    if args.shard.is_some() && !args.agents.is_empty() {
        return Err(Error::usage(
            "--shard and --agents do not mix: the coordinator gives each agent its share",
        ));
    }
    let agents = agents(&args)?;
    if let Some(shard) = &args.shard {
        scenario::shard::apply(&mut plan, shard).map_err(Error::usage)?;
    }
    // Read the baseline before sending anything: a wrong folder is a usage error.
    let baseline = args.baseline.as_deref().map(load_run).transpose()?;
    let opts = RunOptions {
        out: args.out.clone(),
        progress: !args.no_progress,
        handle_signals: true,
        baseline,
        tolerances: Some(tolerances(plan.compare, &args.tolerances)?),
        kube_context: args.kube_context.clone(),
        metrics_listen: args.metrics_listen,
        agents,
        services: services(),
        ..RunOptions::default()
    };
    let outcome = run(&plan, &opts)?;
    emit(&crate::report::console::render(
        &outcome.summary,
        &outcome.out_dir.display().to_string(),
    ));
    Ok(outcome.exit_code())
}

/// The reference services a scenario without a target runs against, when this build has
/// them.
fn services() -> Option<crate::run::Services> {
    #[cfg(feature = "testbed")]
    return Some(crate::testbed::services());
    #[cfg(not(feature = "testbed"))]
    None
}
