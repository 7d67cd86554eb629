//! `loadctl testbed serve`: a reference service in its own process on a chosen address,
//! optionally under the simulated control plane (whose Kubernetes API it serves beside it
//! and whose kubeconfig it writes).

use anyhow::{anyhow, Context};

use super::cluster::{Cluster, ClusterConfig};
use super::{ChatConfig, Faults, FlashConfig, LatencySpec, RateLimits, ServiceConfig};
use crate::cli::ServeArgs;
use crate::error::Error;
use crate::scenario::parse_fraction;

/// The simulated cluster's settings, checked.
pub fn cluster_config(time_scale: f64, replica_capacity: f64) -> Result<ClusterConfig, Error> {
    if !(time_scale.is_finite() && (0.1..=1000.0).contains(&time_scale)) {
        return Err(Error::usage(format!(
            "--time-scale {time_scale}: use a factor from 0.1 to 1000"
        )));
    }
    if !(replica_capacity.is_finite() && replica_capacity > 0.0) {
        return Err(Error::usage(format!(
            "--replica-capacity {replica_capacity}: use requests per second above 0"
        )));
    }
    Ok(ClusterConfig {
        time_scale,
        replica_capacity,
        ..ClusterConfig::default()
    })
}

/// `loadctl testbed serve`: the reference service on `--listen` until Ctrl-C.
pub fn serve(args: &ServeArgs) -> crate::error::Result<()> {
    let mut faults = Faults::default();
    if let Some(l) = &args.latency {
        faults.latency =
            Some(LatencySpec::parse(l).map_err(|e| Error::usage(format!("--latency: {e}")))?);
    }
    if let Some(r) = &args.error_rate {
        faults.error_rate = parse_fraction(r).ok_or_else(|| {
            Error::usage(format!(
                "--error-rate {r}: write a share such as 1% or 0.01"
            ))
        })?;
    }
    if let (Some(s), Some(e)) = (&args.stall, &args.every) {
        let p = |v: &str, flag: &str| {
            humantime::parse_duration(v)
                .map_err(|_| Error::usage(format!("--{flag} {v}: not a duration such as 1s")))
        };
        let (s, e) = (p(s, "stall")?, p(e, "every")?);
        if s >= e {
            return Err(Error::usage("--stall must be shorter than --every"));
        }
        faults.stall = Some((s, e));
    }
    let mut chat = ChatConfig {
        max_connections: args.max_connections,
        ..ChatConfig::default()
    };
    if let Some(r) = &args.drop_rate {
        chat.drop_rate = parse_fraction(r).ok_or_else(|| {
            Error::usage(format!("--drop-rate {r}: write a share such as 1% or 0.01"))
        })?;
    }
    if let Some(l) = &args.relay_latency {
        chat.relay_latency =
            Some(LatencySpec::parse(l).map_err(|e| Error::usage(format!("--relay-latency: {e}")))?);
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
    let (router, sim) = super::router(&args.service, &cfg).map_err(Error::usage)?;
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
        super::serve(listener, router, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| anyhow!(e))
    })?;
    Ok(())
}
