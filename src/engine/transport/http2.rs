//! HTTP/2 (over TLS with ALPN, or h2c with prior knowledge): `[http] max_streams` slots of
//! a thread share one connection, each slot one stream at a time, so the open model's
//! `connections` × `max_streams` bounds what is in flight.
//!
//! A connection belongs to a [`Group`] of slots; the first slot that finds none opens it
//! (its request carries the handshake's phases) while the others wait for it. Each slot
//! keeps its own clone of the sender, so a request takes no lock and no shared borrow.
//! A timed-out stream is reset (RST_STREAM) by dropping it; the connection carries on.
//! A stream the server refused (REFUSED_STREAM, or beyond a GOAWAY's last stream id) was
//! never processed: the caller sends it again on a fresh connection, whatever the method.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use http::header::HOST;
use http::{Request, Uri};
use http_body_util::Full;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::answer;
use super::io::{Backoff, ConnectError, Connector};
use crate::engine::request::{Keep, Response};
use crate::metrics::connection::Phases;
use crate::metrics::ErrorKind;

type Sender = SendRequest<Full<Bytes>>;

/// The connections (one per origin in use) that a group of slots shares.
#[derive(Default)]
pub struct Group {
    conns: RefCell<Vec<Option<(u64, Sender)>>>,
    /// Bumped for every connection opened: a slot's cached sender is current only while
    /// its generation is the group's.
    generation: Cell<u64>,
    /// Held while a connection is being opened, so that the group opens one, not one per slot.
    opening: tokio::sync::Mutex<()>,
    backoff: RefCell<Backoff>,
}

impl Group {
    fn current(&self, origin: usize) -> Option<(u64, Sender)> {
        self.conns
            .borrow()
            .get(origin)
            .and_then(|c| c.clone())
            .filter(|(_, s)| !s.is_closed())
    }

    /// Forgets connection `generation` of `origin` (it failed); a newer one stays.
    fn forget(&self, origin: usize, generation: u64) {
        let mut conns = self.conns.borrow_mut();
        if let Some(slot) = conns.get_mut(origin) {
            if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
                *slot = None;
            }
        }
    }
}

/// One stream slot.
pub struct Stream {
    group: Rc<Group>,
    cached: Option<(usize, u64, Sender)>,
    /// `[http] keep_alive = false`: a connection per request (the group is this slot's own).
    pub close: bool,
}

impl Stream {
    pub fn new(group: Rc<Group>) -> Self {
        Stream {
            group,
            cached: None,
            close: false,
        }
    }

    pub async fn execute(
        &mut self,
        req: Request<Full<Bytes>>,
        net: &Connector,
        origin: usize,
        keep: Keep,
        deadline: Instant,
    ) -> Response {
        let exchange = self.exchange(req, net, origin, keep);
        let r = match tokio::time::timeout_at(deadline.into(), exchange).await {
            Ok(r) => r,
            // Dropping the response future resets the stream; the connection stays.
            Err(_) => Response::failed(ErrorKind::Timeout),
        };
        let broken = r
            .error
            .is_some_and(|e| matches!(e, ErrorKind::Reset | ErrorKind::Protocol | ErrorKind::Tls));
        if self.close || broken || r.refused {
            if let Some((o, g, _)) = self.cached.take() {
                self.group.forget(o, g);
            }
        }
        r
    }

    /// The sender for `origin`: this slot's, the group's, or a new connection's.
    async fn sender(
        &mut self,
        net: &Connector,
        origin: usize,
        phases: &mut Phases,
    ) -> Result<Sender, ConnectError> {
        if let Some((o, _, s)) = &self.cached {
            if *o == origin && !s.is_closed() {
                return Ok(s.clone());
            }
        }
        let group = self.group.clone();
        let _opening = group.opening.lock().await;
        if let Some((g, s)) = group.current(origin) {
            self.cached = Some((origin, g, s.clone()));
            return Ok(s);
        }
        let backoff = *group.backoff.borrow();
        backoff.wait().await;
        let alpn = net.endpoints[origin].tls.is_some().then_some(&b"h2"[..]);
        let opened = async {
            let io = net.open(origin, phases, alpn).await?;
            let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .handshake(TokioIo::new(io))
                .await
                .map_err(|_| ConnectError::from(ErrorKind::Protocol))?;
            tokio::task::spawn_local(async move {
                let _ = conn.await;
            });
            Ok::<_, ConnectError>(sender)
        };
        match opened.await {
            Ok(s) => {
                group.backoff.borrow_mut().succeeded();
                let g = group.generation.get() + 1;
                group.generation.set(g);
                let mut conns = group.conns.borrow_mut();
                if conns.len() <= origin {
                    conns.resize(origin + 1, None);
                }
                conns[origin] = Some((g, s.clone()));
                self.cached = Some((origin, g, s.clone()));
                Ok(s)
            }
            Err(e) => {
                group.backoff.borrow_mut().failed();
                Err(e)
            }
        }
    }

    async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        net: &Connector,
        origin: usize,
        keep: Keep,
    ) -> Response {
        let mut phases = Phases::default();
        let mut sender = match self.sender(net, origin, &mut phases).await {
            Ok(s) => s,
            Err(e) => return answer::connect_failed(e, phases),
        };
        let req = absolute(req, net, origin);
        if sender.ready().await.is_err() {
            // Closed between the check and now (a GOAWAY): nothing was sent.
            let mut r = answer::failed(ErrorKind::Reset, phases);
            r.refused = true;
            return r;
        }
        let written = Instant::now();
        match sender.send_request(req).await {
            Ok(resp) => answer::read(resp, keep, written, Instant::now(), phases).await,
            Err(e) => {
                let (kind, refused) = classify(&e);
                let mut r = answer::exchange_failed(kind, &e, phases);
                r.refused = refused;
                r
            }
        }
    }
}

/// HTTP/2 names the origin in `:scheme` and `:authority`, not in `Host`.
fn absolute(req: Request<Full<Bytes>>, net: &Connector, origin: usize) -> Request<Full<Bytes>> {
    let (mut parts, body) = req.into_parts();
    parts.headers.remove(HOST);
    let ep = &net.endpoints[origin];
    let mut uri = parts.uri.into_parts();
    uri.scheme = Some(ep.scheme.clone());
    uri.authority = Some(ep.authority.clone());
    parts.uri = Uri::from_parts(uri).expect("a valid path with a valid origin");
    parts.version = http::Version::HTTP_2;
    Request::from_parts(parts, body)
}

/// The error kind, and whether the server refused the stream without processing it.
fn classify(e: &hyper::Error) -> (ErrorKind, bool) {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            let reason = h2.reason();
            if reason == Some(h2::Reason::REFUSED_STREAM) {
                return (ErrorKind::StreamReset, true);
            }
            if h2.is_go_away() {
                // A graceful GOAWAY only fails the streams it did not take.
                let graceful = reason == Some(h2::Reason::NO_ERROR);
                return (ErrorKind::StreamReset, graceful);
            }
            if h2.is_reset() {
                return (ErrorKind::StreamReset, false);
            }
            if h2.is_io() {
                return (ErrorKind::Reset, false);
            }
            return (ErrorKind::Protocol, false);
        }
        cur = err.source();
    }
    if e.is_timeout() {
        return (ErrorKind::Timeout, false);
    }
    if e.is_canceled() || e.is_closed() {
        // The connection went away before this stream was taken: never processed.
        return (ErrorKind::Reset, true);
    }
    (ErrorKind::Reset, false)
}
