//! `loadctl testbed serve`: a reference service in its own process on a chosen address,
//! optionally under the simulated control plane (whose Kubernetes API it serves beside it
//! and whose kubeconfig it writes).

use std::net::SocketAddr;

use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};

use super::cluster::{Cluster, ClusterConfig};
use super::{ChatConfig, Faults, FlashConfig, LatencySpec, RateLimits, ServiceConfig};
use crate::error::Error;
use crate::scenario::parse_fraction;

/// `loadctl testbed …`: the reference services' own command line.
#[derive(Debug, Subcommand)]
pub enum TestbedCommand {
    /// Serve a reference service until interrupted.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which service: activities (a volunteer platform's activities API), flash-sale (a 10k-QPS flash sale with a stock ledger), chat (a WebSocket chat gateway), relay (a chat server with another protocol) or grpc (the flash sale's inventory over gRPC, examples/grpc/shop.proto, with reflection).
    pub service: String,
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    /// Added latency: 5ms, a uniform range 1ms..10ms, or exponential exp:5ms.
    #[arg(long)]
    pub latency: Option<String>,
    /// Share of requests answered 500: 1% or 0.01.
    #[arg(long)]
    pub error_rate: Option<String>,
    /// Requests per second the service holds: one server with a fixed service time of 1/N s shared by all connections, FIFO (a known capacity to search for).
    #[arg(long)]
    pub capacity: Option<f64>,
    /// Periodic stall length (needs --every): requests wait until it ends.
    #[arg(long, requires = "every")]
    pub stall: Option<String>,
    /// Stall period.
    #[arg(long, requires = "stall")]
    pub every: Option<String>,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// flash-sale: items on sale (ids 1..=N).
    #[arg(long, default_value_t = 10)]
    pub items: u32,
    /// flash-sale: initial stock of each item.
    #[arg(long, default_value_t = 1000)]
    pub stock: u64,
    /// flash-sale: read-then-write stock handling, a deliberate oversell bug.
    #[arg(long)]
    pub unsafe_stock: bool,
    /// flash-sale: token signing secret shared by replicas (default: random per process).
    #[arg(long, env = "LOADCTL_TOKEN_SECRET", hide_env_values = true)]
    pub token_secret: Option<String>,
    /// chat: WebSocket connections accepted before refusing with 503 (the gateway's documented limit: 10000).
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// chat: share of deliveries silently dropped: 1% or 0.01.
    #[arg(long)]
    pub drop_rate: Option<String>,
    /// chat: delay before each fan-out: 5ms, 1ms..10ms or exp:5ms.
    #[arg(long)]
    pub relay_latency: Option<String>,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 over ALPN; wss:// for chat) with a certificate for localhost, 127.0.0.1 and ::1 signed by a CA made now; the CA is written to --tls-dir.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: the folder the CA certificate is written to (`ca.pem`; no key is written).
    #[arg(long, default_value = "testbed-tls", requires = "tls")]
    pub tls_dir: std::path::PathBuf,
    /// Apply the API gateway's documented rate limits (global 10,000/60 s, API 5,000/60 s, auth 500/60 s): 429 beyond them.
    #[arg(long)]
    pub rate_limits: bool,
    /// flash-sale: also serve a simulated Kubernetes control plane (the flash-order Deployment, its Pods and HPA) whose replicas really carry the load.
    #[arg(long)]
    pub simulate_cluster: bool,
    /// Simulated cluster: simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0, requires = "simulate_cluster")]
    pub time_scale: f64,
    /// Simulated cluster: requests per second one Ready replica serves at 100% CPU.
    #[arg(long, default_value_t = 150.0, requires = "simulate_cluster")]
    pub replica_capacity: f64,
    /// Simulated cluster: address of its Kubernetes API.
    #[arg(long, default_value = "127.0.0.1:0", requires = "simulate_cluster")]
    pub kube_listen: SocketAddr,
    /// Simulated cluster: where to write the kubeconfig that points at it.
    #[arg(
        long,
        default_value = "loadctl-sim.kubeconfig",
        requires = "simulate_cluster"
    )]
    pub kubeconfig: std::path::PathBuf,
}

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
