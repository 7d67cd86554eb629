//! The transport seam: how requests reach the target. A transport owns connecting,
//! sending on a connection, and how many requests one connection carries at once; the
//! schedulers see only [`Lane`]s (one request in flight each) and ask [`Protocol`] how
//! many lanes a connection gives.
//!
//! Static dispatch: one enum variant per protocol, one file each: HTTP/1.1 (`http1.rs`,
//! one request per connection at a time) and HTTP/2 (`http2.rs`, `max_streams` lanes share
//! a connection). Under both, [`io`] opens the connection (DNS, TCP, TLS, each phase timed)
//! and [`tls`] holds the run's TLS configuration; [`answer`] reads what came back.
//! A new protocol is a file here, a variant of [`Lane`], and the arms the compiler asks for.

mod answer;
mod h2guard;
mod http1;
mod http2;
pub mod io;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use super::request::{Keep, Outgoing, Response};
use crate::scenario::plan::net::Protocol;

use io::SharedBackoff;
pub use io::{Connector, Endpoint};

/// One thread's lane maker: HTTP/2 lanes are handed out in groups of `max_streams` that
/// share a connection; every lane of the thread shares one reconnect backoff.
pub struct Lanes {
    transport: Protocol,
    made: Cell<usize>,
    group: RefCell<Option<Rc<http2::Group>>>,
    backoff: SharedBackoff,
    /// `[load] source_ips`, and this thread's place among the run's lane makers
    /// `(index, of)`: lane k of maker i binds address `(i + of·k) mod n`, so threads and
    /// shards spread over the addresses.
    sources: Arc<[IpAddr]>,
    place: (usize, usize),
}

impl Lanes {
    pub fn new(transport: Protocol) -> Self {
        Lanes {
            transport,
            made: Cell::new(0),
            group: RefCell::new(None),
            backoff: SharedBackoff::default(),
            sources: Arc::from(Vec::new()),
            place: (0, 1),
        }
    }

    /// Lanes whose connections bind `sources` in turn, as maker `place.0` of `place.1`.
    pub fn with_sources(mut self, sources: Arc<[IpAddr]>, place: (usize, usize)) -> Self {
        self.sources = sources;
        self.place = (place.0, place.1.max(1));
        self
    }

    fn source(&self, n: usize) -> Option<IpAddr> {
        let len = self.sources.len();
        (len > 0).then(|| self.sources[(self.place.0 + self.place.1 * n) % len])
    }

    /// A fresh lane; it connects on first use and reconnects after a transport error.
    pub fn lane(&self) -> Lane {
        let t = self.transport;
        let n = self.made.get();
        self.made.set(n + 1);
        if !t.version.is_h2() {
            return Lane::Http1(http1::Conn::new(t, self.backoff.clone(), self.source(n)));
        }
        let per = t.streams_per_connection();
        let mut group = self.group.borrow_mut();
        if n.is_multiple_of(per) || group.is_none() {
            let source = self.source(n / per);
            *group = Some(Rc::new(http2::Group::new(self.backoff.clone(), t, source)));
        }
        Lane::Http2(http2::Stream::new(group.clone().expect("set above"), t))
    }
}

/// Where one request at a time goes: an HTTP/1.1 keep-alive connection, or a stream of a
/// shared HTTP/2 connection.
pub enum Lane {
    Http1(http1::Conn),
    Http2(http2::Stream),
}

impl Lane {
    /// The local address this lane's connections come from, when bound.
    pub fn source(&self) -> Option<IpAddr> {
        match self {
            Lane::Http1(c) => c.source,
            Lane::Http2(s) => s.source(),
        }
    }

    /// Sends `req` to origin `origin` of `net` and reads the whole answer by `deadline`,
    /// keeping what `keep` asks for. `sent` is a clock read taken just before the call.
    pub async fn execute(
        &mut self,
        req: Outgoing<'_>,
        net: &Connector,
        origin: usize,
        keep: Keep,
        (sent, deadline): (Instant, Instant),
    ) -> Response {
        match self {
            Lane::Http1(c) => c.execute(req, net, origin, keep, (sent, deadline)).await,
            // Boxed: an HTTP/2 request's future is three times an HTTP/1.1 one's and
            // this future is moved whole at every level above; one allocation is little
            // beside what hyper's HTTP/2 spends on a request.
            Lane::Http2(s) => {
                Box::pin(s.execute(req.into_request(), net, origin, keep, deadline)).await
            }
        }
    }
}
