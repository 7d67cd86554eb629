//! Sending bodies to the remote-write endpoint: one task on the run's side runtime reads
//! a bounded queue, POSTs each body on a kept-alive connection (TLS when `https://`),
//! retries what the endpoint may take later (5xx, 429, a failed connection) with backoff,
//! and counts what it could not send. The run never waits on it: a full queue drops the
//! newest batch and counts it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

/// Attempts per batch: the first and two retries.
const ATTEMPTS: u32 = 3;
const BACKOFF: Duration = Duration::from_millis(250);

/// What the sender did, for the report at the end.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    /// The last failure, as text (empty: none).
    pub last_error: std::sync::Mutex<String>,
}

/// Where and how to send.
#[derive(Clone)]
pub struct Target {
    addr: std::net::SocketAddr,
    /// `Some` for `https://`: the name verified, and the TLS configuration.
    tls: Option<(ServerName<'static>, Arc<ClientConfig>)>,
    pub uri: http::Uri,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub timeout: Duration,
}

/// The system's roots, or Mozilla's bundled ones when the system has none.
fn tls_config() -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring offers TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(c)
}

/// The endpoint of `url`, resolved now (a name that does not resolve stops the run before
/// any load).
pub async fn target(
    url: &url::Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
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
        "https" => Some((ServerName::try_from(host.to_string())?, tls_config())),
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
    })
}

/// A new connection, plain or TLS, and its HTTP/1.1 sender.
async fn connect(t: &Target) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(t.addr)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (sender, driver) = match &t.tls {
        None => {
            let (s, d) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            tokio::spawn(async move {
                let _ = d.await;
            });
            return Ok(s);
        }
        Some((name, config)) => {
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name.clone(), tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|e| format!("cannot connect: {e}"))?
        }
    };
    tokio::spawn(async move {
        let _ = driver.await;
    });
    Ok(sender)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One POST; `Ok(status)` when an answer came, `Err` when the connection failed.
async fn post(t: &Target, conn: &mut Option<Sender>, body: Bytes) -> Result<u16, String> {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        *conn = Some(connect(t).await?);
    }
    let sender = conn.as_mut().expect("connected above");
    sender.ready().await.map_err(|e| e.to_string())?;
    let mut req = Request::post(t.uri.clone())
        .header(
            http::header::HOST,
            t.uri.authority().map_or("", |a| a.as_str()),
        )
        .header(http::header::CONTENT_TYPE, "application/x-protobuf")
        .header(http::header::CONTENT_ENCODING, "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .header(
            http::header::USER_AGENT,
            concat!("loadctl/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    for (k, v) in &t.headers {
        req.headers_mut().insert(k.clone(), v.clone());
    }
    let resp = sender.send_request(req).await.map_err(|e| {
        *conn = None;
        e.to_string()
    })?;
    let status = resp.status().as_u16();
    // Read (and bound) the answer so the connection can carry the next one.
    let _ = http_body_util::Limited::new(resp.into_body(), 64 << 10)
        .collect()
        .await;
    Ok(status)
}

/// Sends one body with retries; `Ok` once the endpoint took it.
pub async fn send(
    t: &Target,
    conn: &mut Option<Sender>,
    body: Bytes,
    stats: &Stats,
) -> Result<(), String> {
    let mut delay = BACKOFF;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            stats.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        match tokio::time::timeout(t.timeout, post(t, conn, body.clone())).await {
            Ok(Ok(s)) if (200..300).contains(&s) => return Ok(()),
            // The endpoint refuses this body for good: sending it again will not help.
            Ok(Ok(s)) if (400..500).contains(&s) && s != 429 => {
                return Err(format!("answered {s}"))
            }
            Ok(Ok(s)) => last = format!("answered {s}"),
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
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                *stats.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
            }
        }
    }
}
