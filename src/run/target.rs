//! Stage 1: where the traffic goes. Starts the embedded reference service when the plan
//! names no target, resolves the target's and every full-URL request's address, and
//! prepares each request once (origin index, `Host`, path prefix). With an `https://` or
//! `wss://` origin it builds the run's TLS configuration, and for HTTP/2 over TLS it checks
//! once, before any load, that the server agrees to HTTP/2.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context};

use super::service::{Service, Services};
use crate::engine::request::Prepared;
use crate::engine::runtime::Handle;
use crate::engine::transport::{tls, Connector, Endpoint};
use crate::scenario::{Origin, Plan, RequestPlan, TargetSpec};

/// The run's target, resolved, and its requests ready to send.
pub(super) struct Target {
    /// Kept alive for the whole run; dropping it stops the embedded service.
    embedded: Option<Box<dyn Service>>,
    /// By origin: 0 is the target, full-URL requests add theirs.
    pub net: Connector,
    /// The target as the reports name it.
    pub text: String,
    /// `Host` of the target.
    pub authority: String,
    pub requests: Vec<Prepared>,
    pub setup: Vec<Prepared>,
    pub verify: Vec<Prepared>,
}

impl Target {
    /// The target's address (origin 0).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.net.endpoints[0].addr
    }

    /// `http[s]://host:port` of the target, for URLs relative to it.
    pub fn origin_text(&self) -> String {
        let e = &self.net.endpoints[0];
        format!("{}://{}", e.scheme, e.authority)
    }

    /// The simulated cluster's kubeconfig, when the embedded service runs in one.
    pub fn kubeconfig(&self) -> Option<String> {
        self.embedded.as_ref().and_then(|e| e.kubeconfig())
    }
}

pub(super) fn resolve(
    rt: &Handle,
    plan: &Plan,
    services: Option<&Services>,
) -> crate::error::Result<Target> {
    let (embedded, target_addr, text, base_path) = match &plan.target {
        TargetSpec::Embedded(e) => {
            let svc = Services::start(services, e, plan.generator.threads)?;
            let addr = svc.addr();
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
    // `[grpc] reflection`: the target is asked for its services before anything else.
    let reflected = match plan.grpc {
        Some(crate::grpc::Services::Reflection { .. }) => {
            let net = connector(plan, &[(None, target_addr)], target_addr)?;
            super::grpc::reflected(rt, plan, &net, (&authority, &base_path))?
        }
        _ => None,
    };
    let plan = reflected.as_ref().unwrap_or(plan);
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
        net: {
            let net = connector(plan, &origins, target_addr)?;
            check_h2(rt, plan, &net)?;
            net
        },
        text,
        authority,
        requests,
        setup,
        verify,
    })
}

/// The origins as the engine connects to them, with the run's TLS configuration when one
/// of them speaks TLS.
fn connector(
    plan: &Plan,
    origins: &[(Option<Origin>, SocketAddr)],
    target_addr: SocketAddr,
) -> crate::error::Result<Connector> {
    let setup = crate::error::Error::Setup;
    let target = match &plan.target {
        TargetSpec::Url { origin, .. } => origin.clone(),
        TargetSpec::Embedded(_) => Origin {
            host: target_addr.ip().to_string(),
            port: target_addr.port(),
            tls: false,
        },
    };
    let mut endpoints = Vec::with_capacity(origins.len());
    for (o, addr) in origins {
        let o = o.as_ref().unwrap_or(&target);
        let bare = o.host.trim_start_matches('[').trim_end_matches(']');
        let is_ip = bare.parse::<std::net::IpAddr>().is_ok();
        let authority = http::uri::Authority::try_from(o.authority().as_str()).map_err(|e| {
            setup(anyhow::anyhow!(
                "{}: not a valid authority: {e}",
                o.authority()
            ))
        })?;
        endpoints.push(Endpoint {
            addr: *addr,
            name: (!is_ip).then(|| bare.to_string()),
            tls: if o.tls {
                Some(tls::server_name(&plan.tls, &o.host).map_err(setup)?)
            } else {
                None
            },
            scheme: if o.tls {
                http::uri::Scheme::HTTPS
            } else {
                http::uri::Scheme::HTTP
            },
            authority,
        });
    }
    let config = if endpoints.iter().any(|e| e.tls.is_some()) {
        let alpn = plan.http.alpn();
        Some(tls::client_config(&plan.tls, alpn).map_err(setup)?)
    } else {
        None
    };
    Ok(Connector {
        endpoints,
        tls: config,
    })
}

/// `[http] version = "2"`: one connection before any load, to say clearly (exit 2) when
/// the target does not agree to HTTP/2 over ALPN. A handshake that fails for another
/// reason is left to the run, which counts it per request with its reason.
/// The longest a check before the load may wait on the target (README, "When a run ends").
pub const PRECHECK_BUDGET: Duration = Duration::from_secs(1);

fn check_h2(rt: &Handle, plan: &Plan, net: &Connector) -> crate::error::Result<()> {
    use crate::metrics::connection::{Phases, TlsReason};
    use crate::scenario::plan::net::HttpVersion;
    if plan.http.version != HttpVersion::Http2 || net.endpoints[0].tls.is_none() {
        return Ok(());
    }
    // Part of the run's documented end: a target that does not finish a handshake within
    // the budget is judged by the load itself (its requests say what it does).
    let budget = plan.timeout.min(PRECHECK_BUDGET);
    let probe = async {
        let mut phases = Phases::default();
        tokio::time::timeout(budget, net.open(0, &mut phases, Some(b"h2"))).await
    };
    match rt.block_on(probe) {
        Ok(Err(e)) if e.tls == Some(TlsReason::NoH2) => Err(crate::error::Error::Setup(anyhow::anyhow!(
            "the target does not offer HTTP/2: its TLS handshake did not agree to `h2` over ALPN (it speaks HTTP/1.1); set [http] version = \"1.1\" (or --set http.version=1.1)"
        ))),
        _ => Ok(()),
    }
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
