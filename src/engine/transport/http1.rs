//! HTTP/1.1: one keep-alive connection per slot, built on hyper's client connection API.
//!
//! reqwest (the user's named client) sits on the same hyper code but adds a shared pool
//! with a mutex taken on every request, plus per-request URL parsing; here every task owns
//! its connection and the pool is the task. See `bench/README.md` for the numbers.

use std::net::SocketAddr;
use std::time::Duration;

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

/// One keep-alive connection slot, reconnected on demand.
#[derive(Default)]
pub struct Conn {
    sender: Option<(usize, SendRequest<Full<Bytes>>)>,
}

impl Conn {
    /// Sends `req` to `origins[origin]` and reads the whole response within `timeout`.
    pub async fn execute(
        &mut self,
        req: Request<Full<Bytes>>,
        origin: usize,
        addr: SocketAddr,
        keep: Keep,
        timeout: Duration,
    ) -> Response {
        match tokio::time::timeout(timeout, self.exchange(req, origin, addr, keep)).await {
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

    async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        origin: usize,
        addr: SocketAddr,
        keep: Keep,
    ) -> Response {
        let fail = Response::failed;
        let reusable = match &mut self.sender {
            Some((o, s)) if *o == origin => s.ready().await.is_ok(),
            _ => false,
        };
        if !reusable {
            match connect(addr).await {
                Ok(s) => self.sender = Some((origin, s)),
                Err(kind) => {
                    self.sender = None;
                    return fail(kind);
                }
            }
        }
        let sender = &mut self.sender.as_mut().expect("connected above").1;
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => return fail(classify(&e)),
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

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, ErrorKind> {
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
