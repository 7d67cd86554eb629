//! HTTP/1.1: one keep-alive connection per slot, built on hyper's client connection API.
//!
//! reqwest (the user's named client) sits on the same hyper code but adds a shared pool
//! with a mutex taken on every request, plus per-request URL parsing; here every task owns
//! its connection and the pool is the task. See `bench/README.md` for the numbers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::engine::request::{Keep, Response};
use crate::metrics::ErrorKind;

/// Bodies kept for outcome checks and extraction are cut here: a flow reads tokens and
/// ids, not downloads, and a runaway answer must not grow the generator's memory.
const MAX_KEPT_BODY: usize = 1 << 20;

/// After a failed connect a slot waits this long before its next attempt, doubling up to
/// [`RECONNECT_MAX`]: a refusing target gets at most 20 connects per second per slot at
/// first and one per second at last, instead of a storm. The errors are still counted.
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// One keep-alive connection slot, reconnected on demand.
#[derive(Default)]
pub struct Conn {
    sender: Option<(usize, SendRequest<Full<Bytes>>)>,
    /// No connect attempt before this (after a failed one).
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Conn {
    /// Sends `req` to `origins[origin]` and reads the whole response by `deadline`.
    pub async fn execute(
        &mut self,
        req: Request<Full<Bytes>>,
        origin: usize,
        addr: SocketAddr,
        keep: Keep,
        deadline: Instant,
    ) -> Response {
        let exchange = self.exchange(req, origin, addr, keep);
        match tokio::time::timeout_at(deadline.into(), exchange).await {
            Ok(r) => {
                if r.error.is_some_and(|e| e.is_transport()) {
                    self.sender = None;
                }
                r
            }
            Err(_) => {
                // The connection may still carry the late response: never reuse it.
                self.sender = None;
                Response::failed(ErrorKind::Timeout)
            }
        }
    }

    /// Opens a connection to `addr`, waiting out the backoff of a previous failure.
    async fn connect(&mut self, origin: usize, addr: SocketAddr) -> Result<(), ErrorKind> {
        if let Some(at) = self.retry_at {
            tokio::time::sleep_until(at.into()).await;
        }
        match open(addr).await {
            Ok(s) => {
                self.sender = Some((origin, s));
                self.retry_at = None;
                self.backoff = Duration::ZERO;
                Ok(())
            }
            Err(kind) => {
                self.sender = None;
                self.backoff = (self.backoff * 2).clamp(RECONNECT_MIN, RECONNECT_MAX);
                self.retry_at = Some(Instant::now() + self.backoff);
                Err(kind)
            }
        }
    }

    async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        origin: usize,
        addr: SocketAddr,
        keep: Keep,
    ) -> Response {
        let fail = Response::failed;
        let reused = match &mut self.sender {
            Some((o, s)) if *o == origin => s.ready().await.is_ok(),
            _ => false,
        };
        if !reused {
            if let Err(kind) = self.connect(origin, addr).await {
                return fail(kind);
            }
        }
        let sender = &mut self.sender.as_mut().expect("connected above").1;
        let resp = match sender.try_send_request(req).await {
            Ok(r) => r,
            Err(mut e) => match e.take_message() {
                // Not written at all: the connection was gone. Once more on a fresh one.
                Some(req) if reused => {
                    self.sender = None;
                    if let Err(kind) = self.connect(origin, addr).await {
                        return fail(kind);
                    }
                    let sender = &mut self.sender.as_mut().expect("connected above").1;
                    match sender.send_request(req).await {
                        Ok(r) => r,
                        Err(e) => return fail(classify(&e)),
                    }
                }
                _ => {
                    let mut r = fail(classify(e.error()));
                    // No byte of an answer on a connection we reused: the target closed
                    // it while idle; the caller may retry once.
                    r.stale = reused && closed_before_answer(e.error());
                    return r;
                }
            },
        };
        let code = resp.status().as_u16();
        let (parts, mut body) = resp.into_parts();
        let mut out = Response {
            status: Some(code),
            headers: keep.headers.then_some(parts.headers),
            body: keep.body.then(Vec::new),
            ..Default::default()
        };
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(d) = f.data_ref() {
                        out.bytes += d.len() as u64;
                        if let Some(kept) = &mut out.body {
                            let room = MAX_KEPT_BODY.saturating_sub(kept.len());
                            kept.extend_from_slice(&d[..d.len().min(room)]);
                        }
                    }
                }
                Err(_) => {
                    out.error = Some(ErrorKind::Body);
                    return out;
                }
            }
        }
        out
    }
}

/// The connection ended (closed, reset, broken pipe) before the answer's head: nothing in
/// it says the target processed the request.
fn closed_before_answer(e: &hyper::Error) -> bool {
    if e.is_parse() || e.is_parse_status() || e.is_timeout() || e.is_user() {
        return false;
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = s.source();
    }
    false
}

async fn open(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|_| ErrorKind::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| ErrorKind::Connect)?;
    // The connection driver runs beside the task; it ends when the sender is dropped.
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn classify(e: &hyper::Error) -> ErrorKind {
    if e.is_parse() || e.is_parse_status() {
        return ErrorKind::Protocol;
    }
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    ErrorKind::Reset
}
