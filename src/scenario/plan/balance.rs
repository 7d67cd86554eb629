//! `[balance]`: where a response names the backend that served it, how far a backend's
//! share may stray from fair before a new replica counts as carrying its part, and which
//! kind of session affinity the target promises; plus `[load] source_ips`, the local
//! addresses the generator's connections come from (each one a "client" to an IP-hashing
//! balancer).

use std::net::IpAddr;

use http::header::HeaderName;

/// Where a response says which backend served it.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendSource {
    /// A response header (`X-Served-By`, set from the pod name).
    Header(HeaderName),
    /// A cookie the response sets (a sticky-session cookie that names the server).
    Cookie(String),
    /// A JSON pointer into the response body.
    Json(String),
}

impl BackendSource {
    /// As `validate` and the reports say it: `header x-served-by`.
    pub fn describe(&self) -> String {
        match self {
            BackendSource::Header(h) => format!("header {h}"),
            BackendSource::Cookie(c) => format!("cookie {c}"),
            BackendSource::Json(p) => format!("body {p}"),
        }
    }
}

/// What identifies one client to an affinity the target promises.
#[derive(Debug, Clone, PartialEq)]
pub enum Affinity {
    /// The connection's source address (`sessionAffinity: ClientIP`).
    ClientIp,
    /// The value of this cookie in the request (a sticky-session cookie).
    Cookie(String),
    /// The value of this request header (consistent hashing on a header).
    Header(HeaderName),
}

impl Affinity {
    pub fn describe(&self) -> String {
        match self {
            Affinity::ClientIp => "client-ip".into(),
            Affinity::Cookie(c) => format!("cookie:{c}"),
            Affinity::Header(h) => format!("header:{h}"),
        }
    }
}

/// `[balance]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancePlan {
    pub backend: BackendSource,
    pub affinity: Option<Affinity>,
    /// A new replica has reached its fair share in the first second its share is at least
    /// `(1 - band)` of fair.
    pub band: f64,
}

/// The default `band`: within 20 % of a fair share.
pub const DEFAULT_BAND: f64 = 0.2;

/// At most this many local addresses in `[load] source_ips`.
pub const MAX_SOURCE_IPS: usize = 4096;

/// `[load] source_ips`, in order: connection `i` binds address `i mod n`.
pub type SourceIps = Vec<IpAddr>;
