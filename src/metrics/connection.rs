//! What a request's time was spent on, and what its connection cost: the phases (`dns`,
//! `connect`, `tls`, `ttfb`, `download`) recorded per request name as HDR histograms like
//! the totals, the connections opened and TLS sessions resumed, and why a TLS handshake
//! failed.
//!
//! Handshake phases occur only on requests that opened a connection, so a keep-alive run
//! has few of them: each histogram counts the requests it describes, and a phase that never
//! occurred is absent, not zero. The histograms are allocated on the first phase an
//! endpoint records, once per interval and thread, never per request.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::{micros, new_histogram, record_us, ConnSample};

/// Where a request's time went, in the order it is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Resolving the target's host name (only when the target is a name, not an address).
    Dns,
    /// TCP connect.
    Connect,
    /// TLS handshake.
    Tls,
    /// Request written → first byte of the answer.
    Ttfb,
    /// First byte → last byte of the answer.
    Download,
    /// gRPC: from the call's send to its first whole message.
    FirstMessage,
    /// gRPC streams: between consecutive messages received (many per call).
    MessageGap,
    /// gRPC streams sending paced messages (`stream.every`): from each message's send to
    /// the answer that came back in its place (many per call).
    MessageReply,
}

pub const PHASES: usize = 8;

impl Phase {
    pub const ALL: [Phase; PHASES] = [
        Phase::Dns,
        Phase::Connect,
        Phase::Tls,
        Phase::Ttfb,
        Phase::Download,
        Phase::FirstMessage,
        Phase::MessageGap,
        Phase::MessageReply,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Dns => "dns",
            Phase::Connect => "connect",
            Phase::Tls => "tls",
            Phase::Ttfb => "ttfb",
            Phase::Download => "download",
            Phase::FirstMessage => "first_message",
            Phase::MessageGap => "message_gap",
            Phase::MessageReply => "message_reply",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// One request's phases as its transport measured them, and what its connection was.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phases {
    /// Nanoseconds, [`UNSET`] where the request had no such phase: half the size of
    /// `Option<Duration>`s, in a value every request moves several times.
    times: [u64; PHASES],
    /// Connections opened for the request (its handshake phases are in `times`): more
    /// than one when a retry opened another.
    pub opened: u32,
    /// That connection's TLS session was resumed (an abbreviated handshake).
    pub resumed: bool,
    /// Connections closed on purpose before this request (`max_requests_per_connection`,
    /// `max_connection_age`), so that it opened another.
    pub rotated: u32,
    /// A TLS handshake began and has not ended: a request out of time now was waiting on
    /// the handshake, which is the reason it failed.
    pub handshaking: bool,
}

/// A phase the request did not have.
const UNSET: u64 = u64::MAX;

impl Default for Phases {
    fn default() -> Self {
        Phases {
            times: [UNSET; PHASES],
            opened: 0,
            resumed: false,
            rotated: 0,
            handshaking: false,
        }
    }
}

impl Phases {
    pub fn set(&mut self, p: Phase, d: Duration) {
        self.times[p as usize] = u64::try_from(d.as_nanos()).unwrap_or(UNSET - 1);
    }

    pub fn get(&self, p: Phase) -> Option<Duration> {
        let t = self.times[p as usize];
        (t != UNSET).then(|| Duration::from_nanos(t))
    }

    /// Whether the request had any phase timed.
    pub fn any(&self) -> bool {
        self.times.iter().any(|t| *t != UNSET)
    }

    /// The connection part of `other` (a connect that happened for this request).
    pub fn take_connection(&mut self, other: &Phases) {
        for p in [Phase::Dns, Phase::Connect, Phase::Tls] {
            if let Some(d) = other.get(p) {
                self.set(p, d);
            }
        }
        self.opened += other.opened;
        self.rotated += other.rotated;
        self.resumed |= other.resumed;
        self.handshaking |= other.handshaking;
    }
}

/// Phase histograms of one endpoint over an interval or the run.
#[derive(Debug, Clone)]
pub struct PhaseHists(pub [Histogram<u64>; PHASES]);

impl PhaseHists {
    pub fn new() -> Self {
        PhaseHists(std::array::from_fn(|_| new_histogram()))
    }

    pub fn record(&mut self, p: &Phases) {
        for (h, t) in self.0.iter_mut().zip(&p.times) {
            if *t != UNSET {
                record_us(h, micros(Duration::from_nanos(*t)));
            }
        }
    }

    pub fn of(&self, p: Phase) -> &Histogram<u64> {
        &self.0[p as usize]
    }

    pub fn of_mut(&mut self, p: Phase) -> &mut Histogram<u64> {
        &mut self.0[p as usize]
    }

    pub fn reset(&mut self) {
        self.0.iter_mut().for_each(Histogram::reset);
    }

    pub fn merge(&mut self, o: &PhaseHists) {
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            super::add_hist(a, b);
        }
    }
}

impl Default for PhaseHists {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a TLS handshake failed, as a user fixes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsReason {
    /// The certificate chain does not lead to a trusted root (`[tls] ca` names the CA).
    UnknownIssuer,
    /// The certificate has expired or is not valid yet.
    Expired,
    /// The certificate is not for the name connected to (`[tls] server_name`).
    NameMismatch,
    /// The server wants a client certificate (`[tls] client_cert` and `client_key`), or
    /// refused the one sent.
    ClientCert,
    /// No protocol version both sides speak.
    ProtocolVersion,
    /// HTTP/2 was asked for and the server did not agree to it over ALPN.
    NoH2,
    /// Anything else: a bad certificate, an alert, a broken handshake.
    Handshake,
    /// The server's handshake messages (its certificate chain) are larger than a TLS
    /// client accepts, or the handshake stalled past its watchdog.
    CertificateTooLarge,
    /// The handshake had not completed when the request's time was up.
    HandshakeTimeout,
}

pub const TLS_REASONS: usize = 9;

impl TlsReason {
    pub const ALL: [TlsReason; TLS_REASONS] = [
        TlsReason::UnknownIssuer,
        TlsReason::Expired,
        TlsReason::NameMismatch,
        TlsReason::ClientCert,
        TlsReason::ProtocolVersion,
        TlsReason::NoH2,
        TlsReason::Handshake,
        TlsReason::CertificateTooLarge,
        TlsReason::HandshakeTimeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TlsReason::UnknownIssuer => "unknown_issuer",
            TlsReason::Expired => "expired",
            TlsReason::NameMismatch => "name_mismatch",
            TlsReason::ClientCert => "client_cert",
            TlsReason::ProtocolVersion => "protocol_version",
            TlsReason::NoH2 => "no_h2",
            TlsReason::Handshake => "handshake_failure",
            TlsReason::CertificateTooLarge => "certificate_too_large",
            TlsReason::HandshakeTimeout => "handshake_timeout",
        }
    }

    /// What a user does about it, for the console.
    pub fn hint(self) -> &'static str {
        match self {
            TlsReason::UnknownIssuer => {
                "the certificate's issuer is not trusted: name its CA with [tls] ca = \"ca.pem\" (or insecure = true to skip verification)"
            }
            TlsReason::Expired => "the server's certificate has expired or is not valid yet",
            TlsReason::NameMismatch => {
                "the certificate is not for this host name: set [tls] server_name to a name it covers"
            }
            TlsReason::ClientCert => {
                "the server requires a client certificate: set [tls] client_cert and client_key (PEM)"
            }
            TlsReason::ProtocolVersion => {
                "no TLS version in common (loadctl speaks TLS 1.2 and 1.3)"
            }
            TlsReason::NoH2 => {
                "the server does not offer HTTP/2 over ALPN: set [http] version = \"1.1\""
            }
            TlsReason::Handshake => "the TLS handshake failed",
            TlsReason::CertificateTooLarge => {
                "the server's certificate chain is larger than a TLS client accepts (64 KiB per handshake message): serve a shorter chain"
            }
            TlsReason::HandshakeTimeout => {
                "the server did not complete the TLS handshake within the request's timeout (a stalled or overloaded TLS terminator)"
            }
        }
    }
}

/// Why an HTTP/2 connection's requests were the server's `protocol` errors, as a user
/// reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolReason {
    /// The server set `SETTINGS_MAX_CONCURRENT_STREAMS` to 0: it accepts no request.
    NoStreams,
    /// The server sent more PING/SETTINGS frames than a client answers; loadctl closed
    /// the connection rather than spend the generator's time on them.
    ControlFlood,
    /// gRPC: a message longer than the call's bound (`[grpc] max_message`); the stream
    /// was reset rather than read.
    GrpcTooLarge,
    /// gRPC: the answer ended without a `grpc-status`, or with one that is not a number.
    GrpcNoStatus,
    /// gRPC: a message frame that is compressed (no encoding was offered) or cut short.
    GrpcFraming,
}

pub const PROTOCOL_REASONS: usize = 5;

impl ProtocolReason {
    pub const ALL: [ProtocolReason; PROTOCOL_REASONS] = [
        ProtocolReason::NoStreams,
        ProtocolReason::ControlFlood,
        ProtocolReason::GrpcTooLarge,
        ProtocolReason::GrpcNoStatus,
        ProtocolReason::GrpcFraming,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProtocolReason::NoStreams => "no_streams",
            ProtocolReason::ControlFlood => "control_flood",
            ProtocolReason::GrpcTooLarge => "grpc_message_too_large",
            ProtocolReason::GrpcNoStatus => "grpc_no_status",
            ProtocolReason::GrpcFraming => "grpc_framing",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            ProtocolReason::NoStreams => {
                "the server allows no HTTP/2 streams (SETTINGS_MAX_CONCURRENT_STREAMS = 0): it is refusing all work"
            }
            ProtocolReason::ControlFlood => {
                "the server flooded PING/SETTINGS frames; loadctl closed those connections"
            }
            ProtocolReason::GrpcTooLarge => {
                "the server sent a gRPC message longer than [grpc] max_message; its streams were reset"
            }
            ProtocolReason::GrpcNoStatus => {
                "gRPC answers ended without a grpc-status trailer (a proxy that drops trailers, or not a gRPC server)"
            }
            ProtocolReason::GrpcFraming => {
                "gRPC messages came compressed (none was asked for) or cut short"
            }
        }
    }
}

/// Why a request was sent a second time. Each one is counted: a retry hides nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryCause {
    /// A reused keep-alive connection failed before any byte of an answer, after being
    /// idle long enough that the target most likely closed it (`[http] retry`).
    StaleKeepAlive,
    /// The HTTP/2 server refused the stream unprocessed (REFUSED_STREAM).
    RefusedStream,
    /// The HTTP/2 connection was going away (GOAWAY) before the stream was taken.
    GoAway,
}

pub const RETRY_CAUSES: usize = 3;

impl RetryCause {
    pub const ALL: [RetryCause; RETRY_CAUSES] = [
        RetryCause::StaleKeepAlive,
        RetryCause::RefusedStream,
        RetryCause::GoAway,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RetryCause::StaleKeepAlive => "stale_keepalive",
            RetryCause::RefusedStream => "refused_stream",
            RetryCause::GoAway => "goaway",
        }
    }
}

/// Connections and TLS failures of one endpoint over some time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConnCounts {
    /// Connections opened by this endpoint's requests.
    pub opened: u64,
    /// Of those, with a resumed TLS session.
    pub resumed: u64,
    /// Connections closed on purpose (`max_requests_per_connection`, `max_connection_age`).
    pub rotated: u64,
    /// HTTP/2 streams the server refused (REFUSED_STREAM, or beyond a GOAWAY's last
    /// stream): never processed, so sent again and not the target's latency or error.
    pub refused: u64,
    /// TLS handshake failures by reason.
    pub tls: [u64; TLS_REASONS],
    /// Requests sent a second time, by why.
    pub retried: [u64; RETRY_CAUSES],
    /// `protocol` errors with a known reason.
    pub protocol: [u64; PROTOCOL_REASONS],
    /// gRPC messages `[sent, received]`.
    pub messages: [u64; 2],
}

impl ConnCounts {
    pub fn record(&mut self, c: &ConnSample) {
        let (p, tls, refused, retried) = (&c.phases, c.tls, c.refused, c.retried);
        if let Some(r) = c.protocol {
            self.protocol[r as usize] += 1;
        }
        self.opened += u64::from(p.opened);
        self.rotated += u64::from(p.rotated);
        self.resumed += u64::from(p.resumed);
        self.refused += u64::from(refused);
        if let Some(r) = tls {
            self.tls[r as usize] += 1;
        }
        if let Some(c) = retried {
            self.retried[c as usize] += 1;
        }
        self.messages[0] += u64::from(c.messages[0]);
        self.messages[1] += u64::from(c.messages[1]);
    }

    pub fn merge(&mut self, o: &ConnCounts) {
        self.opened += o.opened;
        self.rotated += o.rotated;
        self.resumed += o.resumed;
        self.refused += o.refused;
        for (a, b) in self.tls.iter_mut().zip(&o.tls) {
            *a += b;
        }
        for (a, b) in self.retried.iter_mut().zip(&o.retried) {
            *a += b;
        }
        for (a, b) in self.protocol.iter_mut().zip(&o.protocol) {
            *a += b;
        }
        self.messages[0] += o.messages[0];
        self.messages[1] += o.messages[1];
    }

    pub fn retries(&self) -> u64 {
        self.retried.iter().sum()
    }

    pub fn tls_failures(&self) -> u64 {
        self.tls.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_record_only_what_occurred() {
        let mut h = PhaseHists::new();
        let mut p = Phases::default();
        p.set(Phase::Ttfb, Duration::from_millis(3));
        p.set(Phase::Download, Duration::from_micros(40));
        h.record(&p);
        assert_eq!(h.of(Phase::Ttfb).len(), 1);
        assert_eq!(h.of(Phase::Connect).len(), 0);
        let mut fresh = Phases::default();
        fresh.set(Phase::Connect, Duration::from_millis(1));
        fresh.opened = 1;
        p.take_connection(&fresh);
        assert!(p.opened == 1 && p.get(Phase::Connect).is_some());
        let mut other = PhaseHists::new();
        other.record(&p);
        h.merge(&other);
        assert_eq!(h.of(Phase::Ttfb).len(), 2);
        assert_eq!(h.of(Phase::Connect).len(), 1);
    }

    #[test]
    fn names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.name()), Some(p));
        }
        assert_eq!(Phase::parse("p99"), None);
    }
}
