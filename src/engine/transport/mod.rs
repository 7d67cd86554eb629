//! The transport seam: how requests reach the target. A transport owns connecting,
//! sending on a connection, and how many requests one connection carries at once; the
//! schedulers see only [`Slot`]s (one request in flight each) and ask [`Transport`] how
//! many slots a connection gives.
//!
//! Static dispatch: one enum variant per protocol, one file each. HTTP/1.1 is the first
//! (one request per connection at a time). A new protocol (TLS, HTTP/2, h2c) is a file
//! here, a variant of [`Transport`] and of [`Slot`], and the arms the compiler then asks for.

mod http1;

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use super::request::{Keep, Response};

/// The protocol a run speaks to its target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/1.1 over TCP, keep-alive.
    #[default]
    Http1,
}

impl Transport {
    /// Requests one connection carries at the same time.
    pub fn streams_per_connection(self) -> usize {
        match self {
            Transport::Http1 => 1,
        }
    }

    /// A fresh slot; it connects on first use and reconnects after a transport error.
    pub fn slot(self) -> Slot {
        match self {
            Transport::Http1 => Slot::Http1(http1::Conn::default()),
        }
    }
}

/// Where one request at a time goes: for HTTP/1.1, a keep-alive connection.
pub enum Slot {
    Http1(http1::Conn),
}

impl Slot {
    /// Sends `req` to origin `origin` (at `addr`) and reads the whole answer by
    /// `deadline`, keeping what `keep` asks for.
    pub async fn execute(
        &mut self,
        req: Request<Full<Bytes>>,
        origin: usize,
        addr: SocketAddr,
        keep: Keep,
        deadline: Instant,
    ) -> Response {
        match self {
            Slot::Http1(c) => c.execute(req, origin, addr, keep, deadline).await,
        }
    }
}
