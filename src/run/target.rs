//! Stage 1: where the traffic goes. Starts the embedded reference service when the plan
//! names no target, resolves the target's and every full-URL request's address, and
//! prepares each request once (origin index, `Host`, path prefix).

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context};

use crate::engine::request::Prepared;
use crate::scenario::{Origin, Plan, RequestPlan, TargetSpec};
use crate::testbed::Embedded;

/// The run's target, resolved, and its requests ready to send.
pub(super) struct Target {
    /// Kept alive for the whole run; dropping it stops the embedded service.
    embedded: Option<Embedded>,
    /// By origin: 0 is the target, full-URL requests add theirs.
    pub addrs: Vec<SocketAddr>,
    /// The target as the reports name it.
    pub text: String,
    /// `Host` of the target.
    pub authority: String,
    pub requests: Vec<Prepared>,
    pub setup: Vec<Prepared>,
    pub verify: Vec<Prepared>,
}

impl Target {
    /// The simulated cluster's API, when the embedded service runs in one.
    pub fn kube_api(&self) -> Option<SocketAddr> {
        self.embedded.as_ref().and_then(|e| e.kube_api)
    }
}

pub(super) fn resolve(plan: &Plan) -> crate::error::Result<Target> {
    let (embedded, target_addr, text, base_path) = match &plan.target {
        TargetSpec::Embedded(e) => {
            let svc = Embedded::start(&e.service, &e.config, plan.generator.threads)
                .context("cannot start the embedded reference service")?;
            let addr = svc.addr;
            (
                Some(svc),
                addr,
                format!("embedded {} service at http://{addr}", e.service),
                String::new(),
            )
        }
        TargetSpec::Url { origin, base_path } => (
            None,
            address(origin).map_err(crate::error::Error::Setup)?,
            format!("{origin}{base_path}"),
            base_path.clone(),
        ),
    };
    let authority = match &plan.target {
        TargetSpec::Url { origin, .. } => origin.authority(),
        TargetSpec::Embedded(_) => target_addr.to_string(),
    };
    let mut origins: Vec<(Option<Origin>, SocketAddr)> = vec![(None, target_addr)];
    let mut prepare = |r: &RequestPlan| -> anyhow::Result<Prepared> {
        let (idx, host, prefix) = match &r.origin {
            None => (0, authority.clone(), base_path.as_str()),
            Some(o) => {
                let idx = match origins.iter().position(|(x, _)| x.as_ref() == Some(o)) {
                    Some(i) => i,
                    None => {
                        origins.push((Some(o.clone()), address(o)?));
                        origins.len() - 1
                    }
                };
                (idx, o.authority(), "")
            }
        };
        Ok(Prepared::new(r, idx, &host, prefix))
    };
    let setup_err = crate::error::Error::Setup;
    let requests = plan
        .workload
        .requests()
        .iter()
        .map(&mut prepare)
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(setup_err)?;
    let setup = plan
        .setup
        .iter()
        .map(|c| prepare(&c.request))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(setup_err)?;
    let verify = plan
        .verify
        .iter()
        .map(|c| prepare(&c.request))
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(setup_err)?;
    Ok(Target {
        embedded,
        addrs: origins.iter().map(|(_, a)| *a).collect(),
        text,
        authority,
        requests,
        setup,
        verify,
    })
}

fn address(origin: &Origin) -> anyhow::Result<SocketAddr> {
    let host = origin.host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host, origin.port)
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "cannot resolve target host {}; check the name in `target` / --target",
                origin.host
            )
        })?
        .next();
    match addr {
        Some(a) => Ok(a),
        None => bail!("target host {} has no address", origin.host),
    }
}
