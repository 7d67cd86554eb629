//! `loadctl agent`: a generator that a coordinator (`loadctl run --agents`, or
//! `--kube-agents` through the Kubernetes API) drives over the [`crate::remote`]
//! protocol. It refuses to start without a token, refuses a coordinator without it or of
//! another version, serves one run at a time, builds the plan only from what the
//! coordinator sent (in a scratch folder of its own), sends to the target under the same
//! rule as `run`, and stops its load by itself when its coordinator goes away.

pub mod allow;
mod guard;
pub mod scratch;
mod session;
mod uplink;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// How an agent serves.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub listen: SocketAddr,
    pub token: String,
    /// Reported to the coordinator; default: the host name.
    pub name: String,
    /// Where each run's files and folder go; nothing is written elsewhere.
    pub scratch: PathBuf,
    /// The scratch is the default shared-temporary one: it must be private to this user.
    pub scratch_private: bool,
    /// `--allow-target`: the only networks this agent sends load to.
    pub allow: Option<allow::AllowList>,
    /// `--tls-cert`/`--tls-key`: serve `wss://`, and the certificate's fingerprint.
    pub tls: Option<(Arc<rustls::ServerConfig>, String)>,
    /// Keep each run's folder (summary.json, histograms.hlog) for `loadctl merge`.
    pub keep_runs: bool,
    /// Start this much after the coordinator's instant: a late agent on purpose, to see
    /// the start spread reported and judged.
    pub delay_start: Duration,
    /// Serve this many runs, then exit (0: until stopped).
    pub runs: u64,
}

/// The agent's name unless `--name`: its pod's (`POD_NAME`, from the downward API), else
/// this machine's host name, else `agent`.
pub fn host_name() -> String {
    if let Some(pod) = std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()) {
        return pod;
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "agent".into())
}

/// Serves coordinators until interrupted (or `runs` runs are done).
pub fn serve(opts: AgentOptions) -> Result<()> {
    scratch::prepare(&opts.scratch, opts.scratch_private)
        .map_err(|e| Error::Setup(anyhow::anyhow!(e)))?;
    let rt = crate::engine::runtime::SideRuntime::start("loadctl-agent", 2)?;
    rt.handle().block_on(accept_loop(Arc::new(opts)))
}

async fn accept_loop(opts: Arc<AgentOptions>) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::Setup(anyhow::anyhow!("cannot listen on {}: {e}", opts.listen)))?;
    let local = listener.local_addr().map_err(|e| Error::Failed(e.into()))?;
    // The line a script (or a test) waits for before it points a coordinator here.
    eprintln!(
        "loadctl agent {} listening on {local}",
        crate::remote::VERSION
    );
    if let Some((_, print)) = &opts.tls {
        eprintln!("loadctl agent: TLS: reach it as wss://{local}; its certificate is {print} (--agent-fingerprint)");
    }
    let busy = Arc::new(AtomicBool::new(false));
    let unauthenticated = Arc::new(tokio::sync::Semaphore::new(guard::MAX_UNAUTHENTICATED));
    let served = Arc::new(AtomicU64::new(0));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| Error::Failed(e.into()))?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Failed(e.into()))?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, peer)) = accepted else { continue };
                // Past the cap, a peer that has not shown the token is not even read.
                let Ok(permit) = unauthenticated.clone().try_acquire_owned() else {
                    drop(tcp);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let s = session::Serving {
                    opts: opts.clone(),
                    busy: busy.clone(),
                    served: served.clone(),
                    done: done_tx.clone(),
                };
                tokio::spawn(s.serve(tcp, peer, permit));
            }
            Some(()) = done_rx.recv() => {
                if opts.runs > 0 && served.load(Ordering::SeqCst) >= opts.runs {
                    return Ok(());
                }
            }
            _ = sigint.recv() => return Ok(()),
            _ = sigterm.recv() => return Ok(()),
        }
    }
}
