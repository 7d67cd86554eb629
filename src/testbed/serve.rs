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

/// `--tls`: a fresh CA and server certificate; the CA's PEM goes to `--tls-dir/ca.pem`.
fn tls_files(args: &ServeArgs) -> anyhow::Result<std::sync::Arc<rustls::ServerConfig>> {
    let host = args.listen.ip().to_string();
    let (ca, config) = super::tls::self_signed(&[host.as_str()])?;
    std::fs::create_dir_all(&args.tls_dir)
        .with_context(|| format!("cannot create --tls-dir {}", args.tls_dir.display()))?;
    let path = args.tls_dir.join("ca.pem");
    crate::files::write_atomic(&path, ca.as_bytes())?;
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    eprintln!(
        "TLS: certificate for localhost, 127.0.0.1, ::1 and {host}; trust its CA with --set tls.ca={}",
        path.display()
    );
    Ok(config)
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
    if let Some(c) = args.capacity {
        if !(c.is_finite() && c > 0.0 && c <= 10_000_000.0) {
            return Err(Error::usage(format!(
                "--capacity {c}: use requests per second above 0 (at most 10,000,000)"
            )));
        }
        faults.capacity = Some(c);
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
        let tls = match args.tls {
            true => Some(tls_files(args)?),
            false => None,
        };
        eprintln!(
            "serving {} on {}://{} (Ctrl-C to stop; HTTP/1.1 and HTTP/2{})",
            args.service,
            if tls.is_some() { "https" } else { "http" },
            listener.local_addr()?,
            if tls.is_some() {
                " over ALPN"
            } else {
                " with prior knowledge"
            },
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
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        match tls {
            Some(config) => super::tls::serve(listener, router, config, stop).await,
            None => super::serve(listener, router, stop).await,
        }
        .map_err(|e| anyhow!(e))
    })?;
    Ok(())
}
