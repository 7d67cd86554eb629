//! HTTP/2 (over TLS with ALPN, or h2c with prior knowledge): `[http] max_streams` lanes of
//! a thread share one connection, each lane one stream at a time, so the open model's
//! `connections` × `max_streams` bounds what is in flight.
//!
//! A connection belongs to a [`Group`] of lanes; the first lane that finds none opens it
//! (its request carries the handshake's phases) while the others wait for it. Each lane
//! keeps its own clone of the sender, so a request takes no lock and no shared borrow.
//! A timed-out stream is reset (RST_STREAM) by dropping it; the connection carries on.
//! A stream the server refused (REFUSED_STREAM, or beyond a GOAWAY's last stream id) was
//! never processed: the caller sends it again (unless `[http] retry = "never"`), whatever
//! the method, and counts the retry. A refused stream keeps its connection (the refusal
//! is about the stream); a GOAWAY's is replaced. [`h2guard`](super::h2guard) watches what
//! the server sends: floods of control frames, and a server that allows no streams.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use http::header::HOST;
use http::{Request, Uri};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::answer;
use super::h2guard::{Guarded, Watch};
use super::io::{ConnectError, Connector, SharedBackoff};
use super::Protocol;
use crate::engine::body::Body;
use crate::engine::request::{Keep, Response};
use crate::metrics::connection::{Phases, ProtocolReason, RetryCause};
use crate::metrics::ErrorKind;
use crate::scenario::plan::net::RetryPolicy;

type Sender = SendRequest<Body>;

/// A connection of a group: its generation, its sender, and what its watch saw.
#[derive(Clone)]
struct Shared {
    generation: u64,
    sender: Sender,
    watch: Arc<Watch>,
    opened_at: Instant,
    /// Streams it carried (shared by every lane's clone).
    served: Rc<Cell<u32>>,
}

/// The connections (one per origin in use) that a group of lanes shares.
pub struct Group {
    conns: RefCell<Vec<Option<Shared>>>,
    /// The local address its connections come from (`[load] source_ips`).
    source: Option<std::net::IpAddr>,
    max_requests: Option<u32>,
    max_age: Option<std::time::Duration>,
    /// Bumped for every connection opened: a lane's cached sender is current only while
    /// its generation is the group's.
    generation: Cell<u64>,
    /// Held while a connection is being opened, so that the group opens one, not one per lane.
    opening: tokio::sync::Mutex<()>,
    backoff: SharedBackoff,
}

impl Group {
    pub fn new(backoff: SharedBackoff, t: Protocol, source: Option<std::net::IpAddr>) -> Self {
        Group {
            conns: RefCell::new(Vec::new()),
            source,
            max_requests: t.max_requests_per_connection,
            max_age: t.max_connection_age,
            generation: Cell::new(0),
            opening: tokio::sync::Mutex::new(()),
            backoff,
        }
    }

    fn current(&self, origin: usize) -> Option<Shared> {
        self.conns
            .borrow()
            .get(origin)
            .and_then(|c| c.clone())
            .filter(|c| !c.sender.is_closed() && !self.spent(c))
    }

    /// The connection has carried its share of streams or lived its time: new streams
    /// go to another (its open streams finish on it).
    fn spent(&self, c: &Shared) -> bool {
        self.max_requests.is_some_and(|n| c.served.get() >= n)
            || self.max_age.is_some_and(|a| c.opened_at.elapsed() >= a)
    }

    pub fn source(&self) -> Option<std::net::IpAddr> {
        self.source
    }

    /// Forgets connection `generation` of `origin` (it failed); a newer one stays.
    fn forget(&self, origin: usize, generation: u64) {
        let mut conns = self.conns.borrow_mut();
        if let Some(lane) = conns.get_mut(origin) {
            if lane.as_ref().is_some_and(|c| c.generation == generation) {
                *lane = None;
            }
        }
    }
}

/// One stream lane.
pub struct Stream {
    group: Rc<Group>,
    cached: Option<(usize, Shared)>,
    retry: RetryPolicy,
    /// `[http] keep_alive = false`: a connection per request (the group is this lane's own).
    pub close: bool,
}

impl Stream {
    pub fn new(group: Rc<Group>, t: Protocol) -> Self {
        Stream {
            group,
            cached: None,
            retry: t.retry,
            close: !t.keep_alive,
        }
    }

    pub fn source(&self) -> Option<std::net::IpAddr> {
        self.group.source()
    }

    pub async fn execute(
        &mut self,
        req: Request<Body>,
        net: &Connector,
        origin: usize,
        keep: Keep,
        deadline: Instant,
    ) -> Response {
        // Outside the exchange, so that a timed-out request still counts the connection
        // it opened.
        let mut phases = Phases::default();
        let exchange = self.exchange(req, net, origin, keep, &mut phases);
        let mut r = match tokio::time::timeout_at(deadline.into(), exchange).await {
            Ok(r) => r,
            // Dropping the response future resets the stream; the connection stays.
            Err(_) => answer::timed_out(phases),
        };
        // What the watch saw explains a failure better than its symptom (looked at only
        // on failures: nothing is added to a request that succeeded).
        let seen = match &self.cached {
            Some((_, c)) if r.error.is_some() => {
                if c.watch.flooded() {
                    Some(ProtocolReason::ControlFlood)
                } else if c.watch.allows_no_streams() {
                    Some(ProtocolReason::NoStreams)
                } else {
                    None
                }
            }
            _ => None,
        };
        if let Some(reason) = seen {
            r.error = Some(ErrorKind::Protocol);
            r.conn.protocol = Some(reason);
            r.retry = None;
        }
        if self.retry == RetryPolicy::Never {
            r.retry = None;
        }
        // A server allowing no streams may allow some later: its connection stays, so
        // that its refusal costs no connection per request.
        let broken = r
            .error
            .is_some_and(|e| matches!(e, ErrorKind::Reset | ErrorKind::Protocol | ErrorKind::Tls))
            && r.conn.protocol != Some(ProtocolReason::NoStreams);
        // A refused stream leaves its connection fit for the next one; a GOAWAY does not.
        let going_away = r.retry == Some(RetryCause::GoAway);
        if self.close || broken || going_away {
            if let Some((o, c)) = self.cached.take() {
                self.group.forget(o, c.generation);
            }
        }
        r
    }

    /// This lane's sender for `origin`, while its connection is open and not spent.
    fn reuse(&self, origin: usize) -> Option<Sender> {
        let (o, c) = self.cached.as_ref()?;
        if *o != origin || c.sender.is_closed() || self.group.spent(c) {
            return None;
        }
        c.served.set(c.served.get() + 1);
        Some(c.sender.clone())
    }

    /// The sender for `origin` when this lane has none: the group's, or a new
    /// connection's.
    async fn sender(
        &mut self,
        net: &Connector,
        origin: usize,
        phases: &mut Phases,
    ) -> Result<Sender, ConnectError> {
        let group = self.group.clone();
        let _opening = group.opening.lock().await;
        let spent = group
            .conns
            .borrow()
            .get(origin)
            .and_then(|c| c.as_ref())
            .is_some_and(|c| !c.sender.is_closed() && group.spent(c));
        if let Some(c) = group.current(origin) {
            c.served.set(c.served.get() + 1);
            let s = c.sender.clone();
            self.cached = Some((origin, c));
            return Ok(s);
        }
        if spent {
            // This lane replaces it: counted once, on the request that opens the next.
            phases.rotated = 1;
        }
        group.backoff.wait(origin).await;
        let alpn = net.endpoints[origin].tls.is_some().then_some(&b"h2"[..]);
        let source = group.source;
        let opened = async {
            let io = net.open_from(origin, phases, alpn, source).await?;
            let (io, watch) = Guarded::new(io);
            let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .handshake(TokioIo::new(io))
                .await
                .map_err(|_| ConnectError::from(ErrorKind::Protocol))?;
            tokio::task::spawn_local(async move {
                let _ = conn.await;
            });
            Ok::<_, ConnectError>((sender, watch))
        };
        match opened.await {
            Ok((sender, watch)) => {
                group.backoff.succeeded(origin);
                let generation = group.generation.get() + 1;
                group.generation.set(generation);
                let c = Shared {
                    generation,
                    sender: sender.clone(),
                    watch,
                    opened_at: Instant::now(),
                    served: Rc::new(Cell::new(1)),
                };
                let mut conns = group.conns.borrow_mut();
                if conns.len() <= origin {
                    conns.resize(origin + 1, None);
                }
                conns[origin] = Some(c.clone());
                self.cached = Some((origin, c));
                Ok(sender)
            }
            Err(e) => {
                group.backoff.failed(origin);
                Err(e)
            }
        }
    }

    async fn exchange(
        &mut self,
        req: Request<Body>,
        net: &Connector,
        origin: usize,
        keep: Keep,
        phases: &mut Phases,
    ) -> Response {
        // Opening is rare and its future large: boxed, so that the future of every
        // request stays small (it is moved whole at each await that holds it).
        let sender = match self.reuse(origin) {
            Some(s) => Ok(s),
            None => Box::pin(self.sender(net, origin, phases)).await,
        };
        let mut sender = match sender {
            Ok(s) => s,
            Err(e) => return answer::connect_failed(e, *phases),
        };
        if self
            .cached
            .as_ref()
            .is_some_and(|(_, c)| c.watch.allows_no_streams())
        {
            // The server said it takes no stream: waiting would only spend the timeout.
            let mut r = answer::failed(ErrorKind::Protocol, *phases);
            r.conn.protocol = Some(ProtocolReason::NoStreams);
            return r;
        }
        let req = absolute(req, net, origin);
        if sender.ready().await.is_err() {
            // Closed between the check and now (a GOAWAY): nothing was sent.
            let mut r = answer::failed(ErrorKind::Reset, *phases);
            r.retry = Some(RetryCause::GoAway);
            return r;
        }
        let written = Instant::now();
        match sender.send_request(req).await {
            Ok(resp) => answer::read(resp, keep, written, Instant::now(), *phases).await,
            Err(e) => {
                let (kind, retry) = classify(&e);
                let mut r = answer::exchange_failed(kind, &e, *phases);
                r.retry = retry;
                r.conn.refused = u32::from(retry == Some(RetryCause::RefusedStream));
                r
            }
        }
    }
}

/// HTTP/2 names the origin in `:scheme` and `:authority`, not in `Host`.
fn absolute(req: Request<Body>, net: &Connector, origin: usize) -> Request<Body> {
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

/// The error kind, and why the server left the stream unprocessed (so it may be sent
/// again), if it did.
fn classify(e: &hyper::Error) -> (ErrorKind, Option<RetryCause>) {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            let reason = h2.reason();
            if reason == Some(h2::Reason::REFUSED_STREAM) {
                return (ErrorKind::StreamReset, Some(RetryCause::RefusedStream));
            }
            if h2.is_go_away() {
                // A graceful GOAWAY only fails the streams it did not take.
                let graceful = reason == Some(h2::Reason::NO_ERROR);
                return (
                    ErrorKind::StreamReset,
                    graceful.then_some(RetryCause::GoAway),
                );
            }
            if h2.is_reset() {
                return (ErrorKind::StreamReset, None);
            }
            if h2.is_io() {
                return (ErrorKind::Reset, None);
            }
            return (ErrorKind::Protocol, None);
        }
        cur = err.source();
    }
    if e.is_timeout() {
        return (ErrorKind::Timeout, None);
    }
    if e.is_canceled() || e.is_closed() {
        // The connection went away before this stream was taken: never processed.
        return (ErrorKind::Reset, Some(RetryCause::GoAway));
    }
    (ErrorKind::Reset, None)
}
