//! `loadctl run`: one scenario, here or split over agents (hosts or an Indexed Job), its
//! reports written and its verdict as the exit code.

use super::{bundle, emit, load, load_run, services, tolerances};
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::run::{run, RunOptions};

pub fn execute(args: RunArgs) -> Result<u8> {
    let mut plan = load(&args.scenario, &[])?;
    if args.shard.is_some() && !args.agents.is_empty() {
        return Err(Error::usage(
            "--shard and --agents do not mix: the coordinator gives each agent its share",
        ));
    }
    let agents = agents(&args)?;
    if let Some(shard) = &args.shard {
        crate::remote::shard::apply(&mut plan, shard).map_err(Error::usage)?;
    }
    // Read the baseline and open the run store before sending anything: a wrong folder,
    // a store of a newer schema or a bad label is a usage error.
    let baseline = args.baseline.as_deref().map(load_run).transpose()?;
    let labels = super::history::labels(&args.labels)?;
    let mut store = args
        .history
        .as_deref()
        .map(super::history::open)
        .transpose()?;
    let opts = RunOptions {
        out: args.out.clone(),
        progress: !args.no_progress,
        handle_signals: true,
        baseline,
        tolerances: Some(tolerances(plan.compare, &args.tolerances)?),
        kube_context: args.kube_context.clone(),
        metrics_listen: args.metrics_listen,
        dashboard: args
            .dashboard
            .map(|a| crate::export::dashboard::cli(a, args.dashboard_linger.unwrap_or_default())),
        agents,
        services: services(),
        ..RunOptions::default()
    };
    let mut outcome = run(&plan, &opts)?;
    emit(&crate::report::console::render(
        &outcome.summary,
        &outcome.out_dir.display().to_string(),
    ));
    if let Some(l) = outcome.linger.take() {
        eprintln!(
            "loadctl: the {} keeps the final state for {} (Ctrl-C ends it)",
            l.what,
            humantime::format_duration(l.wait)
        );
        l.wait();
    }
    let Some(store) = store.as_mut() else {
        return Ok(outcome.exit_code());
    };
    let added = store
        .add(&outcome.summary, Some(&outcome.out_dir), &labels)
        .map_err(|e| Error::Failed(e.into()))?;
    emit(&format!(
        "  history    {} ({added:?})\n",
        args.history
            .as_deref()
            .unwrap_or_else(|| std::path::Path::new(""))
            .display()
    ));
    if !args.gate_trend {
        return Ok(outcome.exit_code());
    }
    // The gate reads the scenario's trend with the defaults of `loadctl trend`.
    let q = crate::history::trend::Query {
        scenario: Some(outcome.summary.scenario.clone()),
        metrics: crate::history::trend::DEFAULT_METRICS
            .iter()
            .map(|m| m.to_string())
            .collect(),
        endpoint: None,
        last: Some(60),
        params: Default::default(),
        min_change: Default::default(),
    };
    let t = super::trend::compute(args.history.as_deref().expect("store opened"), &q)?;
    let out = outcome.out_dir.join("trend");
    super::trend::write(&t, Some(&out), (None, false))?;
    emit(&crate::report::trend::console(&t));
    Ok(match outcome.exit_code() {
        0 => u8::from(t.gate.failed),
        code => code,
    })
}

/// Most agents one `--kube-agents` Job runs.
const MAX_KUBE_AGENTS: u32 = 256;

/// The agents of `--agents` or `--kube-agents`, with the token and the scenario as they receive it.
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
    if args.agents.len() > crate::remote::shard::MAX_SHARDS as usize {
        return Err(Error::usage(format!(
            "--agents: {} agents; at most {}",
            args.agents.len(),
            crate::remote::shard::MAX_SHARDS
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
