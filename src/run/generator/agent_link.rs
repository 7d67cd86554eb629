//! One agent, as the coordinator reaches it before the load: dial it (a host's port, or a
//! pod through the Kubernetes API server's proxy), say hello with the token and version,
//! send the scenario and wait until the agent is ready, then measure its clock.

use std::time::Duration;

use anyhow::{bail, Context};
use tokio::time::timeout;

use crate::remote::clock::{self, Offset, Sample};
use crate::remote::frame::{self, Rx, Tx};
use crate::remote::{unix_ns, Prepare, ToAgent, ToCoordinator, PROTOCOL, VERSION};

/// Pings per agent for the clock estimate.
const PINGS: u32 = 8;
/// An agent that has not answered the hello in this long is not one.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Building the plan (feeders parsed, the target resolved) may take this long.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where an agent is.
#[derive(Clone)]
pub enum AgentAddr {
    /// `host:port` of a `loadctl agent --listen`.
    Host(String),
    /// `host:port` of a `loadctl agent --tls-cert`, over TLS (`wss://`) trusted as `config`
    /// says (`--agent-ca` or `--agent-fingerprint`).
    Tls {
        hostport: String,
        config: std::sync::Arc<rustls::ClientConfig>,
    },
    /// A pod of the agents' Job, through the API server's proxy.
    Pod(PodAddr),
}

#[derive(Clone)]
pub struct PodAddr {
    pub client: kube::Client,
    pub namespace: String,
    pub pod: String,
    pub port: u16,
}

impl std::fmt::Display for AgentAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentAddr::Host(h) => f.write_str(h),
            AgentAddr::Tls { hostport, .. } => write!(f, "wss://{hostport}"),
            AgentAddr::Pod(p) => write!(f, "pod {}/{}:{}", p.namespace, p.pod, p.port),
        }
    }
}

impl std::fmt::Debug for AgentAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

/// A connected agent, ready at the start line.
pub(super) struct Link {
    pub name: String,
    pub address: String,
    pub tx: Tx,
    pub rx: Rx,
    pub offset: Offset,
    /// Its worker threads.
    pub threads: usize,
}

/// The path an agent answers on.
pub(super) const PATH: &str = "/loadctl/agent";

async fn dial(addr: &AgentAddr) -> anyhow::Result<(Tx, Rx)> {
    match addr {
        AgentAddr::Host(hostport) => {
            let tcp = connect(hostport).await?;
            upgrade(format!("ws://{hostport}{PATH}"), tcp).await
        }
        AgentAddr::Tls { hostport, config } => {
            let tcp = connect(hostport).await?;
            let host = hostport
                .rsplit_once(':')
                .map_or(hostport.as_str(), |(h, _)| h)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .with_context(|| format!("`{host}` is not a host name TLS can verify"))?;
            let tls = timeout(
                HELLO_TIMEOUT,
                tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp),
            )
            .await
            .map_err(|_| anyhow::anyhow!("no TLS handshake in {HELLO_TIMEOUT:?}"))?
            .context("the TLS handshake with the agent failed (its certificate is not the one trusted by --agent-ca or --agent-fingerprint, or it does not serve TLS)")?;
            upgrade(format!("wss://{hostport}{PATH}"), tls).await
        }
        AgentAddr::Pod(pod) => {
            let path = format!(
                "/api/v1/namespaces/{}/pods/{}:{}/proxy{PATH}",
                pod.namespace, pod.pod, pod.port
            );
            let req = http::Request::get(path)
                .body(Vec::new())
                .expect("a valid request");
            let conn = timeout(HELLO_TIMEOUT, pod.client.connect(req))
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the API server's pod proxy did not answer in {HELLO_TIMEOUT:?}"
                    )
                })?
                .context("cannot reach the agent through the API server's pod proxy")?;
            Ok(frame::split(conn.into_stream()))
        }
    }
}

async fn connect(hostport: &str) -> anyhow::Result<tokio::net::TcpStream> {
    let tcp = timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(hostport),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer in 5 s"))?
    .context("cannot connect (is `loadctl agent` listening there?)")?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// The WebSocket upgrade to `url` over `stream`.
async fn upgrade<S>(url: String, stream: S) -> anyhow::Result<(Tx, Rx)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (ws, _) = timeout(
        HELLO_TIMEOUT,
        tokio_tungstenite::client_async_with_config(url, stream, Some(frame::config())),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no WebSocket handshake in {HELLO_TIMEOUT:?}"))?
    .context("the WebSocket handshake failed (is it a loadctl agent?)")?;
    Ok(frame::split(ws))
}

/// The next message that is not a heartbeat, within `limit`.
async fn next(rx: &mut Rx, limit: Duration, what: &str) -> anyhow::Result<ToCoordinator> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let msg = tokio::time::timeout_at(deadline, frame::recv::<ToCoordinator>(rx))
            .await
            .map_err(|_| anyhow::anyhow!("no {what} in {limit:?}"))??;
        if !matches!(msg, ToCoordinator::Beat) {
            return Ok(msg);
        }
    }
}

/// Connects, says hello, prepares and measures the clock of the agent at `addr`.
pub(super) async fn open(addr: &AgentAddr, token: &str, prepare: Prepare) -> anyhow::Result<Link> {
    let (mut tx, mut rx) = dial(addr).await?;
    let hello = ToAgent::Hello {
        protocol: PROTOCOL,
        version: VERSION.into(),
        token: token.into(),
    };
    frame::send(&mut tx, &hello).await?;
    let name = match next(&mut rx, HELLO_TIMEOUT, "welcome").await? {
        ToCoordinator::Welcome {
            protocol,
            version,
            name,
        } => {
            if protocol != PROTOCOL || version != VERSION {
                bail!("the agent is loadctl {version} (protocol {protocol}), this is {VERSION} (protocol {PROTOCOL}): run the same version on both");
            }
            name
        }
        ToCoordinator::Refused { reason } => bail!("refused: {reason}"),
        other => bail!("answered the hello with {other:?}"),
    };
    frame::send(&mut tx, &ToAgent::Prepare(Box::new(prepare))).await?;
    let threads = match next(&mut rx, PREPARE_TIMEOUT, "ready").await? {
        ToCoordinator::Ready { threads } => threads,
        ToCoordinator::Failed { error, .. } => {
            bail!("agent {name} cannot run the scenario: {error}")
        }
        other => bail!("agent {name} answered the scenario with {other:?}"),
    };
    let mut samples = Vec::new();
    for id in 0..PINGS {
        let sent = unix_ns(std::time::SystemTime::now());
        frame::send(&mut tx, &ToAgent::Ping { id }).await?;
        match next(&mut rx, HELLO_TIMEOUT, "pong").await? {
            ToCoordinator::Pong { id: got, now_ns } if got == id => samples.push(Sample {
                sent,
                agent: now_ns,
                received: unix_ns(std::time::SystemTime::now()),
            }),
            other => bail!("agent {name} answered a ping with {other:?}"),
        }
    }
    let offset = clock::estimate(&samples).expect("pings were answered");
    Ok(Link {
        name,
        address: addr.to_string(),
        tx,
        rx,
        offset,
        threads,
    })
}
