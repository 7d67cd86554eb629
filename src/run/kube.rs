//! Stage 4: the Kubernetes session, when the plan has `[kube]`. It connects and starts
//! watching before any load, so the state at the load's start is known and an unreachable
//! cluster stops the run before it begins. Against the embedded simulated cluster, its
//! kubeconfig is written into the output folder.

use std::path::Path;

use super::target::Target;
use super::RunOptions;
use crate::files::write_atomic;
use crate::kube::session::{Session, Source};
use crate::scenario::{Plan, TargetSpec};

pub(super) fn start(
    rt: &crate::engine::runtime::Handle,
    plan: &Plan,
    opts: &RunOptions,
    target: &Target,
    out_dir: &Path,
) -> crate::error::Result<Option<Session>> {
    let Some(k) = &plan.kube else {
        return Ok(None);
    };
    let source = source(plan, opts, target, out_dir, k.context.clone())?;
    let session = Session::start(rt, k, &source).map_err(|e| crate::error::Error::Setup(e.0))?;
    for w in &session.warnings {
        eprintln!("warning: {w}");
    }
    Ok(Some(session))
}

/// Where the cluster is: the simulated one's API (its kubeconfig written into the output
/// folder), else the kubeconfig's `context` (`--kube-context` first).
pub(super) fn source(
    plan: &Plan,
    opts: &RunOptions,
    target: &Target,
    out_dir: &Path,
    context: Option<String>,
) -> crate::error::Result<Source> {
    Ok(match target.kubeconfig() {
        Some(config) => {
            let path = out_dir.join("kubeconfig");
            write_atomic(&path, config.as_bytes())?;
            let time_scale = match &plan.target {
                TargetSpec::Embedded(e) => e.config.cluster.as_ref().map_or(1.0, |c| c.time_scale),
                TargetSpec::Url { .. } => 1.0,
            };
            Source {
                kubeconfig: Some(path),
                context: None,
                time_scale,
            }
        }
        None => Source {
            kubeconfig: None,
            context: opts.kube_context.clone().or(context),
            time_scale: 1.0,
        },
    })
}
