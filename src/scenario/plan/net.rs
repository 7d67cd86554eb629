//! How a run speaks to its target: the HTTP version (`[http]`) and TLS (`[tls]`). Files
//! are resolved against the scenario's folder and were readable PEM when validated.

use std::path::PathBuf;
use std::time::Duration;

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
    /// What `[http] version` accepts, canonical name first for each version.
    pub const NAMES: [(&'static str, HttpVersion); 5] = [
        ("1.1", HttpVersion::Http1),
        ("1", HttpVersion::Http1),
        ("2", HttpVersion::Http2),
        ("h2", HttpVersion::Http2),
        ("h2c", HttpVersion::H2c),
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == text)
            .map(|(_, v)| *v)
    }

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("1.1", |(n, _)| n)
    }

    pub fn is_h2(self) -> bool {
        !matches!(self, HttpVersion::Http1)
    }

    /// How reports name the protocol of a run (`tls`: its origin was `https://`); `long`
    /// for the HTML report, short for the console.
    pub fn label(self, tls: bool, long: bool) -> &'static str {
        match (self, tls, long) {
            (HttpVersion::Http1, false, _) => "HTTP/1.1",
            (HttpVersion::Http1, true, _) => "HTTP/1.1 over TLS",
            (HttpVersion::H2c, _, false) => "HTTP/2 (h2c)",
            (HttpVersion::H2c, _, true) => "HTTP/2 with prior knowledge (h2c)",
            (HttpVersion::Http2, _, _) => "HTTP/2 over TLS",
        }
    }

    /// The label of a version as `summary.json` names it (`transport.http`).
    pub fn label_of(name: &str, tls: bool, long: bool) -> &'static str {
        // A summary names only versions this build wrote; anything else was HTTP/2.
        Self::parse(name)
            .unwrap_or(HttpVersion::Http2)
            .label(tls, long)
    }
}

/// `[http] retry`: which requests that failed unprocessed are sent a second time. Every
/// retry is counted by its cause; none is ever hidden.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Nothing is sent twice: a reused connection that fails is the target's `reset`, a
    /// refused HTTP/2 stream its `stream_reset`.
    Never,
    /// Only what an idle close explains: a reused connection that was quiet for at least
    /// `retry_idle` and ended before any byte of an answer (idempotent requests; any
    /// request not written at all), and HTTP/2 streams the server refused unprocessed
    /// (REFUSED_STREAM, GOAWAY). A connection that answered moments ago and then failed
    /// after the request was written is the target's `reset`.
    #[default]
    IdleOnly,
    /// As browsers do: any idempotent request whose reused connection failed before an
    /// answer, however recently it answered, and refused HTTP/2 streams.
    Idempotent,
}

impl RetryPolicy {
    pub const NAMES: [(&'static str, RetryPolicy); 3] = [
        ("never", RetryPolicy::Never),
        ("idle-only", RetryPolicy::IdleOnly),
        ("idempotent", RetryPolicy::Idempotent),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("idle-only", |(n, _)| n)
    }
}

/// A reused connection counts as closed while idle only after this much quiet.
pub const DEFAULT_RETRY_IDLE: Duration = Duration::from_secs(1);

/// `[http]`: the protocol a run speaks to its target. The engine's transports read it as
/// it is; how many requests a connection carries and what ALPN offers are decided here
/// once, for validation, the schedulers and the pre-checks alike.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Protocol {
    pub version: HttpVersion,
    /// HTTP/2: requests one connection carries at once.
    pub max_streams: usize,
    /// `false`: a new connection for every request (to measure the handshake's cost).
    pub keep_alive: bool,
    pub retry: RetryPolicy,
    /// `idle-only`: how long a connection must have been quiet for its failure to be an
    /// idle close rather than the target's reset.
    pub retry_idle: Duration,
    /// Close a connection after it carried this many requests (HTTP/1.1 clients with a
    /// keep-alive limit do), so a balancer that picks per connection picks again.
    pub max_requests_per_connection: Option<u32>,
    /// Open no request on a connection older than this (gRPC's `max_connection_age`):
    /// new replicas behind a per-connection balancer get their share in that time.
    pub max_connection_age: Option<Duration>,
}

/// Concurrent streams per HTTP/2 connection unless `[http] max_streams` says otherwise:
/// what h2load and oha default to is in the same range, and far below the 100 most servers
/// advertise.
pub const DEFAULT_MAX_STREAMS: usize = 10;

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            version: HttpVersion::Http1,
            max_streams: DEFAULT_MAX_STREAMS,
            keep_alive: true,
            retry: RetryPolicy::default(),
            retry_idle: DEFAULT_RETRY_IDLE,
            max_requests_per_connection: None,
            max_connection_age: None,
        }
    }
}

impl Protocol {
    /// Requests one connection carries at the same time.
    pub fn streams_per_connection(&self) -> usize {
        if self.version.is_h2() && self.keep_alive {
            self.max_streams.max(1)
        } else {
            1
        }
    }

    /// What `validate` prints of `[http]`; defaults say nothing.
    pub fn describe(&self) -> String {
        let mut line = match self.version {
            HttpVersion::Http1 => "HTTP/1.1".to_string(),
            HttpVersion::Http2 => format!(
                "HTTP/2 over TLS (ALPN h2), {} streams per connection",
                self.max_streams
            ),
            HttpVersion::H2c => format!(
                "HTTP/2 with prior knowledge (h2c), {} streams per connection",
                self.max_streams
            ),
        };
        if !self.keep_alive {
            line.push_str(", a new connection per request");
        }
        match self.retry {
            RetryPolicy::Never => line.push_str(", nothing sent twice (retry = never)"),
            RetryPolicy::IdleOnly if self.retry_idle == DEFAULT_RETRY_IDLE => {}
            RetryPolicy::IdleOnly => line.push_str(&format!(
                ", retries only idle closes (quiet {}+) and refused streams",
                humantime::format_duration(self.retry_idle)
            )),
            RetryPolicy::Idempotent => line.push_str(
                ", retries idempotent requests on stale connections (retry = idempotent)",
            ),
        }
        if let Some(n) = self.max_requests_per_connection {
            line.push_str(&format!(", a connection closed after {n} requests"));
        }
        if let Some(age) = self.max_connection_age {
            line.push_str(&format!(
                ", a connection replaced at {} old",
                humantime::format_duration(age)
            ));
        }
        line
    }

    /// Whether connections are replaced on purpose (`max_requests_per_connection`,
    /// `max_connection_age`): the reports say how many were.
    pub fn rotates(&self) -> bool {
        self.max_requests_per_connection.is_some() || self.max_connection_age.is_some()
    }

    /// ALPN to offer on TLS connections.
    pub fn alpn(&self) -> &'static [&'static [u8]] {
        match self.version {
            HttpVersion::Http1 => &[b"http/1.1"],
            HttpVersion::Http2 | HttpVersion::H2c => &[b"h2"],
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
