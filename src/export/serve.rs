//! The exporters' HTTP server (the `prometheus` page, the `dashboard`): serves what a
//! kind's [`Handler`] answers while the run goes, on the run's side runtime. The address
//! is bound before any load, so a taken or invalid one is a setup error (exit 2); the
//! server stops when the kind's keeper is dropped, after the run's reports are written.
//!
//! A client is a network peer like any other: a request head must arrive within
//! [`HEADER_TIMEOUT`], at most [`MAX_CONNECTIONS`] are served at once, and stopping waits
//! at most [`SHUTDOWN_GRACE`] for answers in flight; a half-sent request never holds the
//! run's end.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};

use tokio::runtime::Handle;

/// An answer's body: whole, or a stream (server-sent events).
pub type Body = BoxBody<Bytes, Infallible>;

/// What a kind answers to a request: only its head is read (the exporters serve GETs).
pub type Handler = Arc<dyn Fn(&http::request::Parts) -> Response<Body> + Send + Sync>;

/// A whole body.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

/// A plain answer: `status`, `content_type`, `body`.
pub fn answer(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", "no-store")
        .body(full(body))
        .expect("a valid response")
}

/// A scraper that has not sent its request head by then is dropped.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapers served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// How long stopping waits for answers being written.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// The running server; dropping it stops it.
pub struct LiveServer {
    rt: Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Binds `addr` now and serves `handler` there until dropped.
pub fn start(rt: &Handle, addr: SocketAddr, handler: Handler) -> anyhow::Result<LiveServer> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("{addr}: cannot listen there"))?;
    listener
        .set_nonblocking(true)
        .context("cannot configure the socket")?;
    let listener = {
        let _guard = rt.enter();
        tokio::net::TcpListener::from_std(listener).context("cannot configure the socket")?
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(serve(listener, handler, stopped));
    Ok(LiveServer {
        rt: rt.clone(),
        stop: Some(stop),
        task: Some(task),
    })
}

/// Serves until `stopped`, then gives the answers in flight [`SHUTDOWN_GRACE`] and drops
/// every connection still open (they are this task's, not the runtime's).
async fn serve(
    listener: tokio::net::TcpListener,
    handler: Handler,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            a = accept(&listener, &permits) => a,
        };
        while conns.try_join_next().is_some() {}
        let Some((tcp, permit)) = accepted else {
            continue;
        };
        let handler = handler.clone();
        conns.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let (head, _) = req.into_parts();
                let resp = handler(&head);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(tcp), service)
                .await;
            drop(permit);
        });
    }
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}

/// The next connection, once a permit is free for it.
async fn accept(
    listener: &tokio::net::TcpListener,
    permits: &Arc<tokio::sync::Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let permit = permits.clone().acquire_owned().await.ok()?;
    let (tcp, _) = listener.accept().await.ok()?;
    Some((tcp, permit))
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = self.rt.block_on(t);
        }
    }
}
