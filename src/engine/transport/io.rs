//! Opening a connection to one of the run's origins, phase by phase: resolving its name
//! (when it is one), TCP connect, the TLS handshake. The stream is plain TCP or TLS over
//! it, one type for every protocol above (HTTP/1.1, HTTP/2, WebSocket).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::tls;
use crate::metrics::connection::{Phase, Phases, TlsReason};
use crate::metrics::ErrorKind;

/// One origin of the run (0: the target; full-URL requests add theirs).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Resolved once before the run; used as is when the host is an address.
    pub addr: SocketAddr,
    /// A host name, resolved again for every connection (its time is the `dns` phase).
    pub name: Option<String>,
    /// `Some` for `https://` and `wss://`: the name verified and sent in SNI.
    pub tls: Option<ServerName<'static>>,
    /// `scheme://authority`, which HTTP/2 sends as pseudo-headers.
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
}

/// Every origin of the run and the TLS configuration they share.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    pub endpoints: Vec<Endpoint>,
    pub tls: Option<Arc<ClientConfig>>,
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConnectError {
    pub kind: ErrorKind,
    pub tls: Option<TlsReason>,
}

impl From<ErrorKind> for ConnectError {
    fn from(kind: ErrorKind) -> Self {
        ConnectError { kind, tls: None }
    }
}

impl Connector {
    /// Opens a connection to origin `origin`, recording its phases (and `opened`) in
    /// `phases`; `alpn`, when given, is the protocol the server must have agreed to.
    pub async fn open(
        &self,
        origin: usize,
        phases: &mut Phases,
        alpn: Option<&[u8]>,
    ) -> Result<Io, ConnectError> {
        self.open_from(origin, phases, alpn, None).await
    }

    /// [`Self::open`] from local address `source` (`[load] source_ips`), when given.
    pub async fn open_from(
        &self,
        origin: usize,
        phases: &mut Phases,
        alpn: Option<&[u8]>,
        source: Option<std::net::IpAddr>,
    ) -> Result<Io, ConnectError> {
        let ep = &self.endpoints[origin];
        let mut addr = ep.addr;
        if let Some(name) = &ep.name {
            let start = Instant::now();
            let found = tokio::net::lookup_host((name.as_str(), addr.port()))
                .await
                .ok()
                .and_then(|mut it| it.next());
            phases.set(Phase::Dns, start.elapsed());
            addr = found.ok_or(ErrorKind::Connect)?;
        }
        let start = Instant::now();
        let tcp = match source {
            None => TcpStream::connect(addr).await,
            Some(ip) => connect_from(ip, addr).await,
        }
        .map_err(|_| ErrorKind::Connect)?;
        phases.set(Phase::Connect, start.elapsed());
        phases.opened += 1;
        let _ = tcp.set_nodelay(true);
        let (Some(name), Some(config)) = (&ep.tls, &self.tls) else {
            return Ok(Io::Plain(tcp));
        };
        let start = Instant::now();
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        phases.handshaking = true;
        let stream = connector.connect(name.clone(), tcp).await;
        phases.handshaking = false;
        let stream = stream.map_err(|e| {
            let reason = tls::reason(&e).unwrap_or(TlsReason::Handshake);
            ConnectError {
                kind: ErrorKind::Tls,
                tls: Some(reason),
            }
        })?;
        phases.set(Phase::Tls, start.elapsed());
        let (_, session) = stream.get_ref();
        phases.resumed = session.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        if let Some(want) = alpn {
            if session.alpn_protocol() != Some(want) {
                return Err(ConnectError {
                    kind: ErrorKind::Tls,
                    tls: Some(TlsReason::NoH2),
                });
            }
        }
        Ok(Io::Tls(Box::new(stream)))
    }
}

/// A connection from local address `ip` (checked bindable before the run, so a failure
/// here is the target's refusal or the network's, not a missing address).
async fn connect_from(ip: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = match ip {
        std::net::IpAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::IpAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Binds every address once, so that a `source_ips` address this machine does not have is
/// the scenario's error before the run, never a connect error charged to the target.
pub fn check_sources(ips: &[std::net::IpAddr]) -> Result<(), String> {
    for ip in ips {
        let bound = std::net::TcpListener::bind(SocketAddr::new(*ip, 0));
        if let Err(e) = bound {
            return Err(format!("load.source_ips: cannot bind {ip} ({e}); list only addresses of this machine (on Linux every 127.x.y.z is one)"));
        }
    }
    Ok(())
}

/// After a failed connect a lane waits this long before its next attempt, doubling up to
/// [`RECONNECT_MAX`]: a refusing target gets at most 20 connects per second per lane at
/// first and one per second at last, instead of a storm. The errors are still counted.
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// The reconnect backoff of one lane (or one shared HTTP/2 connection).
#[derive(Debug, Default, Clone, Copy)]
pub struct Backoff {
    retry_at: Option<Instant>,
    delay: Duration,
}

impl Backoff {
    pub async fn wait(&self) {
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at.into()).await;
        }
    }

    pub fn succeeded(&mut self) {
        self.retry_at = None;
        self.delay = Duration::ZERO;
    }

    pub fn failed(&mut self) {
        self.delay = (self.delay * 2).clamp(RECONNECT_MIN, RECONNECT_MAX);
        self.retry_at = Some(Instant::now() + self.delay);
    }
}

/// The reconnect backoffs of a worker thread, one per origin, shared by every lane of the
/// thread whatever its protocol: when the target refuses, a thousand lanes back off
/// together rather than each storming it at its own pace, and an origin that refuses
/// never delays connects to another. Only a failure after the current wait has passed
/// doubles it, so lanes failing together count as one failure.
#[derive(Debug, Default, Clone)]
pub struct SharedBackoff(std::rc::Rc<std::cell::RefCell<Vec<Backoff>>>);

impl SharedBackoff {
    fn get(&self, origin: usize) -> Backoff {
        self.0.borrow().get(origin).copied().unwrap_or_default()
    }

    fn set(&self, origin: usize, b: Backoff) {
        let mut all = self.0.borrow_mut();
        if all.len() <= origin {
            all.resize(origin + 1, Backoff::default());
        }
        all[origin] = b;
    }

    pub async fn wait(&self, origin: usize) {
        let b = self.get(origin);
        b.wait().await;
    }

    pub fn succeeded(&self, origin: usize) {
        let mut b = self.get(origin);
        b.succeeded();
        self.set(origin, b);
    }

    pub fn failed(&self, origin: usize) {
        let mut b = self.get(origin);
        if b.retry_at.is_some_and(|at| at > Instant::now()) {
            return;
        }
        b.failed();
        self.set(origin, b);
    }
}

/// A connection: plain TCP, or TLS over TCP.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
