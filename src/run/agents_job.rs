//! Stage 4b: with `--kube-agents N`, the agents' Indexed Job is created (and its pods
//! waited for) before the load, and deleted when the run ends however it ends: the guard
//! deletes it when dropped.

use std::path::Path;

use super::target::Target;
use super::{AgentAddr, Agents, PodAddr, RunOptions};
use crate::engine::runtime::Handle;
use crate::kube::agents::{self, Launched, Spec, AGENT_PORT};
use crate::scenario::Plan;

/// The Job while the run goes; deleted on drop.
pub(super) struct JobGuard {
    rt: Handle,
    launched: Launched,
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        self.rt.block_on(self.launched.delete());
    }
}

/// The agents to drive: `opts.agents`, with the Job's pods when it asks for a Job.
pub(super) fn start(
    rt: &Handle,
    plan: &Plan,
    opts: &RunOptions,
    target: &Target,
    out_dir: &Path,
) -> crate::error::Result<(Option<Agents>, Option<JobGuard>)> {
    let Some(agents) = &opts.agents else {
        return Ok((None, None));
    };
    let Some(n) = agents.kube else {
        return Ok((Some(agents.clone()), None));
    };
    let context = plan.kube.as_ref().and_then(|k| k.context.clone());
    let source = super::kube::source(plan, opts, target, out_dir, context)?;
    let job = &plan.distributed.kubernetes;
    let namespace = job
        .namespace
        .clone()
        .or_else(|| plan.kube.as_ref().map(|k| k.namespace.clone()))
        .unwrap_or_else(|| "default".into());
    let spec = Spec {
        job,
        namespace,
        agents: n,
        token: &agents.token,
        run_length: plan.run_length(),
    };
    let launched = rt
        .block_on(agents::launch(&source, &spec))
        .map_err(crate::error::Error::Setup)?;
    eprintln!(
        "agents: Job {}/{} with {n} pods ready",
        launched.namespace, launched.name
    );
    let mut with_pods = agents.clone();
    with_pods.addrs = launched
        .pods
        .iter()
        .map(|p| {
            AgentAddr::Pod(PodAddr {
                client: launched.client.clone(),
                namespace: p.namespace.clone(),
                pod: p.pod.clone(),
                port: AGENT_PORT,
            })
        })
        .collect();
    Ok((
        Some(with_pods),
        Some(JobGuard {
            rt: rt.clone(),
            launched,
        }),
    ))
}
