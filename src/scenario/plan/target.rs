//! Where a plan's traffic goes: a URL the user named, or the embedded reference service.

use super::embedded::ServiceConfig;

/// Where traffic goes.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per run, never in a collection
pub enum TargetSpec {
    /// No target named: loadctl starts its reference service on 127.0.0.1.
    Embedded(EmbeddedPlan),
    /// A URL named in the file (`target =`) or on the command line (`--target`).
    Url { origin: Origin, base_path: String },
}

/// The embedded reference service and the faults it should inject.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedPlan {
    pub service: String,
    pub config: ServiceConfig,
}

/// `http[s]://host:port` of a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub host: String,
    pub port: u16,
    /// `https://` or `wss://`: spoken over TLS.
    pub tls: bool,
}

impl Origin {
    /// Loopback by its literal form: `localhost`, 127.0.0.0/8 or ::1. Names that merely
    /// resolve to loopback do not count; they must be named explicitly like any other.
    pub fn is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }

    /// Value of the `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_literal() {
        let o = |h: &str| Origin {
            host: h.into(),
            port: 80,
            tls: false,
        };
        assert!(o("127.0.0.1").is_loopback());
        assert!(o("127.3.2.1").is_loopback());
        assert!(o("localhost").is_loopback());
        assert!(o("[::1]").is_loopback());
        assert!(!o("10.0.0.1").is_loopback());
        assert!(!o("example.com").is_loopback());
    }
}
