//! Sending bodies to an HTTP receiver (remote write, OTLP over HTTP, annotations): one
//! task on the run's side runtime reads a bounded queue, POSTs each body on a kept-alive
//! connection (TLS when `https://`),
//! retries what the endpoint may take later (5xx, 429, a failed connection) with backoff,
//! and counts what it could not send. The run never waits on it: a full queue drops the
//! newest batch and counts it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use super::Stats;

/// Attempts per batch: the first and two retries.
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(250);

/// Where and how to send.
#[derive(Clone)]
pub struct Target {
    addr: std::net::SocketAddr,
    /// `Some` for `https://`: the name verified, and the TLS configuration.
    tls: Option<(ServerName<'static>, Arc<ClientConfig>)>,
    pub uri: http::Uri,
    /// Sent with every request: the kind's content type and encoding, then the user's.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
    /// A unary gRPC call over HTTP/2 (the body framed, `grpc-status` read from the
    /// trailers) instead of an HTTP/1.1 POST.
    pub grpc: bool,
}

/// The system's roots, or Mozilla's bundled ones when the system has none, and `ca`; ALPN offers
/// HTTP/2 alone for gRPC, HTTP/1.1 alone otherwise.
fn tls_config(grpc: bool, ca: &[rustls::pki_types::CertificateDer<'static>]) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    // The exporter's own CA (`ca = "…"`), beside the system's.
    roots.add_parsable_certificates(ca.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring offers TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![if grpc {
        b"h2".to_vec()
    } else {
        b"http/1.1".to_vec()
    }];
    Arc::new(c)
}

/// The endpoint of `url`, resolved now (a name that does not resolve stops the run before
/// any load).
async fn target(
    url: &url::Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    grpc: bool,
    ca: Option<&std::path::Path>,
) -> anyhow::Result<Target> {
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("{url}: no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{host} does not resolve"))?;
    let tls = match url.scheme() {
        "https" => {
            let extra = match ca {
                Some(p) => super::config::read_ca(p)?,
                None => Vec::new(),
            };
            Some((
                ServerName::try_from(host.to_string())?,
                tls_config(grpc, &extra),
            ))
        }
        _ => None,
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    Ok(Target {
        addr,
        tls,
        uri: format!("{}://{host}:{port}{path}", url.scheme()).parse()?,
        headers,
        timeout,
        grpc,
    })
}

/// The receiver at `url` as `access` reaches it, resolved now: the kind's `fixed` headers
/// first, then the user's and the bearer token; gRPC over HTTP/2 when `grpc`.
pub fn receiver(
    rt: &tokio::runtime::Handle,
    url: &url::Url,
    access: &super::config::Access,
    fixed: Vec<(HeaderName, HeaderValue)>,
    grpc: bool,
) -> anyhow::Result<Target> {
    let headers =
        super::config::header_values(fixed, &access.headers, access.bearer_env.as_deref())?;
    rt.block_on(target(
        url,
        headers,
        access.timeout,
        grpc,
        access.ca.as_deref(),
    ))
}

/// A new connection, plain or TLS, and its sender: HTTP/2 for gRPC, else HTTP/1.1.
async fn connect(t: &Target) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(t.addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    match &t.tls {
        None => handshake(t.grpc, TokioIo::new(tcp)).await,
        Some((name, config)) => {
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            handshake(t.grpc, TokioIo::new(tls)).await
        }
    }
}

async fn handshake<IO>(grpc: bool, io: IO) -> Result<Sender, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let failed = |e: hyper::Error| format!("cannot connect: {e}");
    if grpc {
        let (s, d) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .map_err(failed)?;
        tokio::spawn(async move {
            let _ = d.await;
        });
        return Ok(Sender::H2(s));
    }
    let (s, d) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(failed)?;
    tokio::spawn(async move {
        let _ = d.await;
    });
    Ok(Sender::H1(s))
}

enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        match self {
            Sender::H1(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }
}

/// A gRPC message: uncompressed, its length, itself.
fn grpc_frame(msg: &[u8]) -> Bytes {
    let mut b = Vec::with_capacity(msg.len() + 5);
    b.push(0);
    b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    b.extend_from_slice(msg);
    Bytes::from(b)
}

/// A gRPC status as the HTTP status the retry loop reads: OK is 200, what may pass later
/// (RESOURCE_EXHAUSTED, UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED) is 503, anything else a
/// refusal for good (400).
fn grpc_as_http(status: Option<&HeaderValue>) -> u16 {
    match status.and_then(|v| v.to_str().ok()).map(str::trim) {
        Some("0") => 200,
        Some("4" | "8" | "10" | "14") => 503,
        _ => 400,
    }
}

/// The longest `Retry-After` obeyed: a receiver asking for more is retried sooner (and the
/// batch given up on after the last attempt) rather than holding the queue.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// One POST; `Ok((status, Retry-After))` when an answer came, `Err` when the connection
/// failed.
async fn post(t: &Target, conn: &mut Option<Sender>, body: Bytes) -> Result<Answer, String> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = Some(connect(t).await?);
    }
    let sender = conn.as_mut().expect("connected above");
    // HTTP/1.1 asks in origin form (`POST /path`), as servers expect of a client that is
    // not talking to a proxy; HTTP/2 carries the scheme and authority as pseudo-headers.
    let uri = if t.grpc {
        t.uri.clone()
    } else {
        t.uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?
    };
    let mut req = Request::post(uri).header(
        http::header::USER_AGENT,
        concat!("loadctl/", env!("CARGO_PKG_VERSION")),
    );
    let body = if t.grpc {
        req = req
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers");
        grpc_frame(&body)
    } else {
        req = req.header(
            http::header::HOST,
            t.uri.authority().map_or("", |a| a.as_str()),
        );
        body
    };
    let mut req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
    for (k, v) in &t.headers {
        req.headers_mut().insert(k.clone(), v.clone());
    }
    let resp = sender.send(req).await.map_err(|e| {
        *conn = None;
        e.to_string()
    })?;
    let mut status = resp.status().as_u16();
    // A trailers-only answer carries grpc-status in its head.
    let head = resp.headers().clone();
    let retry_after = resp
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
    // Read (and bound) the answer so the connection can carry the next one.
    let read = http_body_util::Limited::new(resp.into_body(), 64 << 10)
        .collect()
        .await;
    let mut what = format!("answered {status}");
    if t.grpc && status == 200 {
        let trailers = read.ok().and_then(|c| c.trailers().cloned());
        let from = match head.get("grpc-status") {
            Some(_) => Some(&head),
            None => trailers.as_ref(),
        };
        let code = from.and_then(|h| h.get("grpc-status"));
        status = grpc_as_http(code);
        let message = from
            .and_then(|h| h.get("grpc-message"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        what = match code.and_then(|c| c.to_str().ok()) {
            Some(c) => format!("grpc-status {c} {message}").trim_end().to_string(),
            None => "no grpc-status in the answer".into(),
        };
    }
    Ok(Answer {
        status,
        retry_after,
        what,
    })
}

/// What a receiver answered: the status as the retry loop reads it, how long it asked
/// to wait, and the answer in words (`answered 503`, `grpc-status 14 overloaded`).
struct Answer {
    status: u16,
    retry_after: Option<Duration>,
    what: String,
}

/// Sends one body with retries; `Ok` once the endpoint took it.
async fn send(
    t: &Target,
    conn: &mut Option<Sender>,
    body: Bytes,
    stats: &Stats,
) -> Result<(), String> {
    let mut delay = BACKOFF;
    let mut asked = None;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            stats.retried.fetch_add(1, Ordering::Relaxed);
            stats.error(last.clone());
            tokio::time::sleep(asked.take().map_or(delay, |a: Duration| a.max(delay))).await;
            delay *= 2;
        }
        match tokio::time::timeout(t.timeout, post(t, conn, body.clone())).await {
            Ok(Ok(a)) if (200..300).contains(&a.status) => return Ok(()),
            // The endpoint refuses this body for good: sending it again will not help.
            Ok(Ok(a)) if (400..500).contains(&a.status) && a.status != 429 => return Err(a.what),
            Ok(Ok(a)) => {
                asked = a.retry_after;
                last = a.what;
            }
            Ok(Err(e)) => last = e,
            Err(_) => {
                *conn = None;
                last = format!("no answer within {:?}", t.timeout);
            }
        }
    }
    Err(last)
}

/// The sender task: sends what the queue holds until it closes.
pub async fn run(t: Target, mut queue: tokio::sync::mpsc::Receiver<Bytes>, stats: Arc<Stats>) {
    let mut conn = None;
    while let Some(body) = queue.recv().await {
        match send(&t, &mut conn, body, &stats).await {
            Ok(()) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => stats.fail(e),
        }
    }
}

/// Sends `body` on a connection of its own, with retries, from outside the runtime; gives
/// up after [`FINAL_WAIT`] in all (a healthcheck, a verdict at the end: neither may hold
/// the run longer).
pub fn send_once(
    rt: &tokio::runtime::Handle,
    t: &Target,
    body: Bytes,
    stats: &Stats,
) -> Result<(), String> {
    rt.block_on(async {
        let mut conn = None;
        tokio::time::timeout(FINAL_WAIT, send(t, &mut conn, body, stats))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {}s", FINAL_WAIT.as_secs())))
    })
}

/// How long the end of the run waits for the last pushes.
const FINAL_WAIT: Duration = Duration::from_secs(10);
/// Batches waiting to be sent at most; more are dropped (and counted).
const QUEUE: usize = 16;

/// The bounded queue between a push exporter's sink and its sender task.
pub struct Queue {
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    stats: Arc<Stats>,
    task: Option<(tokio::runtime::Handle, tokio::task::JoinHandle<()>)>,
    every: Duration,
    last: Option<std::time::Instant>,
}

impl Queue {
    /// Checks that `t` takes `probe` (an empty batch: the healthcheck, before any load),
    /// then starts the sender on `rt`, offering a batch at most every `every`.
    pub fn start(
        rt: &tokio::runtime::Handle,
        t: Target,
        probe: Bytes,
        every: Duration,
    ) -> anyhow::Result<Queue> {
        let stats = Arc::new(Stats::default());
        send_once(rt, &t, probe, &stats).map_err(|e| {
            anyhow::anyhow!(
                "{}: the endpoint does not take a write: {e}",
                t.uri.path_and_query().map_or("", |p| p.as_str())
            )
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let task = rt.spawn(run(t, rx, stats.clone()));
        Ok(Queue {
            tx: Some(tx),
            stats,
            task: Some((rt.clone(), task)),
            every,
            last: None,
        })
    }

    pub fn stats(&self) -> Arc<Stats> {
        self.stats.clone()
    }

    /// Whether a batch is due (one every `every`, the first at once).
    pub fn due(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.every)
        {
            return false;
        }
        self.last = Some(now);
        true
    }

    /// Queues `body`, or counts it dropped when the queue is full: never waits.
    pub fn offer(&self, body: Bytes) {
        if let Some(tx) = &self.tx {
            if tx.try_send(body).is_err() {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Closes the queue and waits (at most [`FINAL_WAIT`]) for what it holds to be sent.
    pub fn close(&mut self) {
        self.tx = None;
        if let Some((rt, task)) = self.task.take() {
            let abort = task.abort_handle();
            if rt
                .block_on(async { tokio::time::timeout(FINAL_WAIT, task).await })
                .is_err()
            {
                abort.abort();
                self.stats.fail(format!(
                    "the last pushes were not taken within {}s of the end",
                    FINAL_WAIT.as_secs()
                ));
            }
        }
    }
}
