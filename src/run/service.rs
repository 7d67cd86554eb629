//! The embedded reference service as the run sees it: something the command layer starts
//! for a plan that names no target, with an address and, when it runs under a simulated
//! control plane, that cluster's kubeconfig. The run never knows what serves it, so the
//! product builds without the reference services (`--no-default-features`), and a plan
//! that needs one then says so instead of sending anywhere.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::scenario::plan::target::EmbeddedPlan;

/// Starts the reference service a plan names ([`RunOptions::services`](super::RunOptions)).
pub trait StartService: Send + Sync {
    /// Starts `plan.service` on 127.0.0.1, its tokio runtime sized for `threads`.
    fn start(&self, plan: &EmbeddedPlan, threads: usize) -> anyhow::Result<Box<dyn Service>>;
}

/// A started reference service; dropping it stops it.
pub trait Service: Send {
    fn addr(&self) -> SocketAddr;
    /// The simulated cluster's kubeconfig, when the service runs in one.
    fn kubeconfig(&self) -> Option<String>;
}

/// The services a run may start, shared by the steps of a capacity search.
#[derive(Clone)]
pub struct Services(pub Arc<dyn StartService>);

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Services")
    }
}

impl Services {
    pub(super) fn start(
        services: Option<&Services>,
        plan: &EmbeddedPlan,
        threads: usize,
    ) -> crate::error::Result<Box<dyn Service>> {
        use anyhow::Context;
        match services {
            Some(s) => Ok(s
                .0
                .start(plan, threads)
                .context("cannot start the embedded reference service")?),
            // The scenario asks for something this build cannot give: a usage error.
            None => Err(crate::error::Error::Setup(anyhow::anyhow!(
                "this scenario names no target, and this loadctl has no embedded `{}` service (it was built without the `testbed` feature, or the caller passed none); set `target = \"http://…\"` in the scenario or pass --target",
                plan.service
            ))),
        }
    }
}
