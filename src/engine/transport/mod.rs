//! The transport seam: how requests reach the target. A transport owns connecting,
//! sending on a connection, and how many requests one connection carries at once; the
//! schedulers see only [`Slot`]s (one request in flight each) and ask [`Transport`] how
//! many slots a connection gives.
//!
//! Static dispatch: one enum variant per protocol, one file each: HTTP/1.1 (`http1.rs`,
//! one request per connection at a time) and HTTP/2 (`http2.rs`, `max_streams` slots share
//! a connection). Under both, [`io`] opens the connection (DNS, TCP, TLS, each phase timed)
//! and [`tls`] holds the run's TLS configuration; [`answer`] reads what came back.
//! A new protocol is a file here, a variant of [`Slot`], and the arms the compiler asks for.

mod answer;
mod h2guard;
mod http1;
mod http2;
pub mod io;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use super::request::{Keep, Response};
use crate::scenario::plan::net::{HttpPlan, HttpVersion, RetryPolicy};
use io::SharedBackoff;
pub use io::{Connector, Endpoint};

/// The protocol a run speaks to its target, from `[http]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transport {
    pub version: HttpVersion,
    pub max_streams: usize,
    pub keep_alive: bool,
    pub retry: RetryPolicy,
    pub retry_idle: Duration,
}

impl Transport {
    pub fn of(plan: &HttpPlan) -> Self {
        Transport {
            version: plan.version,
            max_streams: plan.max_streams,
            keep_alive: plan.keep_alive,
            retry: plan.retry,
            retry_idle: plan.retry_idle,
        }
    }

    /// Requests one connection carries at the same time.
    pub fn streams_per_connection(self) -> usize {
        if self.version.is_h2() && self.keep_alive {
            self.max_streams.max(1)
        } else {
            1
        }
    }

    /// ALPN to offer on TLS connections.
    pub fn alpn(self) -> &'static [&'static [u8]] {
        match self.version {
            HttpVersion::Http1 => &[b"http/1.1"],
            HttpVersion::Http2 | HttpVersion::H2c => &[b"h2"],
        }
    }
}

/// One thread's slot maker: HTTP/2 slots are handed out in groups of `max_streams` that
/// share a connection; every slot of the thread shares one reconnect backoff.
pub struct Slots {
    transport: Transport,
    made: Cell<usize>,
    group: RefCell<Option<Rc<http2::Group>>>,
    backoff: SharedBackoff,
}

impl Slots {
    pub fn new(transport: Transport) -> Self {
        Slots {
            transport,
            made: Cell::new(0),
            group: RefCell::new(None),
            backoff: SharedBackoff::default(),
        }
    }

    /// A fresh slot; it connects on first use and reconnects after a transport error.
    pub fn slot(&self) -> Slot {
        let t = self.transport;
        let n = self.made.get();
        self.made.set(n + 1);
        if !t.version.is_h2() {
            return Slot::Http1(http1::Conn::new(t, self.backoff.clone()));
        }
        let per = t.streams_per_connection();
        let mut group = self.group.borrow_mut();
        if n.is_multiple_of(per) || group.is_none() {
            *group = Some(Rc::new(http2::Group::new(self.backoff.clone())));
        }
        Slot::Http2(http2::Stream::new(group.clone().expect("set above"), t))
    }
}

/// Where one request at a time goes: an HTTP/1.1 keep-alive connection, or a stream of a
/// shared HTTP/2 connection.
pub enum Slot {
    Http1(http1::Conn),
    Http2(http2::Stream),
}

impl Slot {
    /// Sends `req` to origin `origin` of `net` and reads the whole answer by `deadline`,
    /// keeping what `keep` asks for.
    pub async fn execute(
        &mut self,
        req: Request<Full<Bytes>>,
        net: &Connector,
        origin: usize,
        keep: Keep,
        deadline: Instant,
    ) -> Response {
        match self {
            Slot::Http1(c) => c.execute(req, net, origin, keep, deadline).await,
            Slot::Http2(s) => s.execute(req, net, origin, keep, deadline).await,
        }
    }
}
