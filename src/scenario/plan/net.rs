//! How a run speaks to its target: the HTTP version (`[http]`) and TLS (`[tls]`). Files
//! are resolved against the scenario's folder and were readable PEM when validated.

use std::path::PathBuf;

/// The HTTP version of the load's requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1, one request per connection at a time.
    #[default]
    Http1,
    /// HTTP/2 over TLS, agreed with ALPN.
    Http2,
    /// HTTP/2 with prior knowledge over plain TCP.
    H2c,
}

impl HttpVersion {
    pub fn name(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "1.1",
            HttpVersion::Http2 => "2",
            HttpVersion::H2c => "h2c",
        }
    }

    pub fn is_h2(self) -> bool {
        !matches!(self, HttpVersion::Http1)
    }
}

/// `[http]`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpPlan {
    pub version: HttpVersion,
    /// HTTP/2: requests one connection carries at once.
    pub max_streams: usize,
    /// `false`: a new connection for every request (to measure the handshake's cost).
    pub keep_alive: bool,
}

/// Concurrent streams per HTTP/2 connection unless `[http] max_streams` says otherwise:
/// what h2load and oha default to is in the same range, and far below the 100 most servers
/// advertise.
pub const DEFAULT_MAX_STREAMS: usize = 10;

impl Default for HttpPlan {
    fn default() -> Self {
        HttpPlan {
            version: HttpVersion::Http1,
            max_streams: DEFAULT_MAX_STREAMS,
            keep_alive: true,
        }
    }
}

impl HttpPlan {
    /// Requests one connection carries at the same time.
    pub fn streams_per_connection(&self) -> usize {
        if self.version.is_h2() && self.keep_alive {
            self.max_streams
        } else {
            1
        }
    }
}

/// `[tls]`: how `https://` and `wss://` origins are verified and what the client presents.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsPlan {
    /// Trust this CA (PEM) in addition to the system's roots.
    pub ca: Option<PathBuf>,
    /// Skip certificate verification altogether (said loudly in the console and reports).
    pub insecure: bool,
    /// Mutual TLS: the client's certificate chain and key (PEM).
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// The name sent in SNI and verified against the certificate, instead of the URL's host.
    pub server_name: Option<String>,
    /// TLS session resumption across reconnects.
    pub resumption: bool,
}

impl Default for TlsPlan {
    fn default() -> Self {
        TlsPlan {
            ca: None,
            insecure: false,
            client_cert: None,
            server_name: None,
            resumption: true,
        }
    }
}
