//! What a run measured: per-worker interval recorders, their exact merge into a per-second
//! time series and run totals, and the generator's own health (send lag, drops).
//!
//! Every latency lives in an HDR histogram (µs, 3 significant digits). A worker thread
//! records into its own [`recorder::Recorder`] without locks; once a second it hands the
//! interval over (one message per thread per second, never per request) and starts a fresh
//! one. The [`aggregate::Aggregator`] merges intervals from all threads exactly, turns each
//! complete second into a time-series row and an HDR log entry, and folds the measured ones
//! into the totals. Nothing is kept per request, so memory is flat however long the run.

pub mod aggregate;
pub mod balance;
pub mod chat;
pub mod connection;
pub mod hlog;
pub mod promtext;
pub mod recorder;
pub mod scraped;
pub mod seconds;
pub mod series;
pub mod sink;

use std::time::Duration;

use hdrhistogram::Histogram;

use connection::{ConnCounts, PhaseHists, Phases, ProtocolReason, RetryCause, TlsReason};

/// Histogram bounds: 1 µs to one hour, 3 significant digits. Longer values saturate.
pub const HIST_MAX_US: u64 = 3_600_000_000;
pub const HIST_SIGFIG: u8 = 3;

/// An empty latency histogram. It starts covering 2 ms and grows a power of two at a time,
/// only as far as the largest value it is given (at most [`HIST_MAX_US`]): its buckets are
/// those of a one-hour histogram, so every percentile is the same, but a histogram of
/// answers under 8 ms holds 32 KiB of counts instead of 184 KiB. A run keeps dozens of
/// them (per thread, per second, per phase) and clears or copies each whole every second,
/// so their full size would be resident (issue 33: RSS at 10,000/s).
pub fn new_histogram() -> Histogram<u64> {
    growing(HIST_SIGFIG)
}

/// An empty growing histogram of `sigfig` digits; see [`new_histogram`].
pub fn growing(sigfig: u8) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, sigfig).expect("constant bounds are valid");
    h.auto(true);
    h
}

/// Records `us` into a histogram of [`new_histogram`], saturating at [`HIST_MAX_US`].
/// (`saturating_record` would clamp at the histogram's current size, not grow it.)
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    let us = us.min(HIST_MAX_US);
    if h.record(us).is_err() {
        // Only a histogram that cannot grow (one read from a log) refuses a value.
        h.saturating_record(us);
    }
}

/// Adds `from` into `into` (a histogram of [`new_histogram`], which grows to take it).
pub fn add_hist(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if into.add(from).is_err() {
        // Only a histogram that cannot grow refuses; its top value takes the rest.
        for v in from.iter_recorded() {
            into.saturating_record_n(v.value_iterated_to(), v.count_at_value());
        }
    }
}

pub fn micros(d: Duration) -> u64 {
    d.as_micros().min(HIST_MAX_US as u128) as u64
}

/// Defines [`ErrorKind`], its list and its count from one table, so that a new kind is
/// one line: a hand-kept count could fall behind and index out of bounds on the hot path.
macro_rules! error_kinds {
    ($($(#[$doc:meta])* $kind:ident => $name:literal,)+) => {
        /// Why a request did not count as a success.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind {
            $($(#[$doc])* $kind,)+
        }

        impl ErrorKind {
            /// Every kind, in the order of [`Counts::errors`] and of the interval log.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)+];

            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorKind::$kind => $name,)+
                }
            }
        }
    };
}

error_kinds! {
    /// TCP connect refused or failed.
    Connect => "connect",
    /// No complete response within the request timeout.
    Timeout => "timeout",
    /// The connection was closed or reset before the response was complete.
    Reset => "reset",
    /// The response head arrived but reading its body failed.
    Body => "body",
    /// The response was not valid HTTP/1.1.
    Protocol => "protocol",
    /// A 4xx status the request did not expect.
    Http4xx => "http_4xx",
    /// A 5xx status the request did not expect.
    Http5xx => "http_5xx",
    /// Any other status the request did not expect (1xx, 2xx, 3xx).
    HttpOther => "http_other",
    /// A flow step could not extract a value a later step needs.
    ExtractFailed => "extract_failed",
    /// An expected status whose body failed the step's `check`.
    CheckFailed => "check_failed",
    /// The TLS handshake failed (the reason is counted beside it).
    Tls => "tls",
    /// HTTP/2: the server reset the stream (RST_STREAM other than REFUSED_STREAM) or
    /// ended the connection with an error GOAWAY after it had taken the stream.
    StreamReset => "stream_reset",
    /// gRPC `CANCELLED`: the call was cancelled (by the server).
    GrpcCancelled => "grpc_cancelled",
    /// gRPC `UNKNOWN`: an error the server could not classify.
    GrpcUnknown => "grpc_unknown",
    /// gRPC `INVALID_ARGUMENT`: the server rejected the message as invalid.
    GrpcInvalidArgument => "grpc_invalid_argument",
    /// gRPC `DEADLINE_EXCEEDED`: the server gave up at the call's deadline (`grpc-timeout`).
    GrpcDeadlineExceeded => "grpc_deadline_exceeded",
    /// gRPC `NOT_FOUND`: what the call named does not exist.
    GrpcNotFound => "grpc_not_found",
    /// gRPC `ALREADY_EXISTS`: what the call would create exists.
    GrpcAlreadyExists => "grpc_already_exists",
    /// gRPC `PERMISSION_DENIED`: the caller may not do this.
    GrpcPermissionDenied => "grpc_permission_denied",
    /// gRPC `RESOURCE_EXHAUSTED`: a quota or a server resource ran out (rate limiting).
    GrpcResourceExhausted => "grpc_resource_exhausted",
    /// gRPC `FAILED_PRECONDITION`: the system is not in a state the call needs.
    GrpcFailedPrecondition => "grpc_failed_precondition",
    /// gRPC `ABORTED`: a concurrency conflict aborted the call.
    GrpcAborted => "grpc_aborted",
    /// gRPC `OUT_OF_RANGE`: the call went past a valid range.
    GrpcOutOfRange => "grpc_out_of_range",
    /// gRPC `UNIMPLEMENTED`: the server does not implement the method.
    GrpcUnimplemented => "grpc_unimplemented",
    /// gRPC `INTERNAL`: an internal error of the server.
    GrpcInternal => "grpc_internal",
    /// gRPC `UNAVAILABLE`: the service is unavailable (overload, shutdown).
    GrpcUnavailable => "grpc_unavailable",
    /// gRPC `DATA_LOSS`: unrecoverable data loss.
    GrpcDataLoss => "grpc_data_loss",
    /// gRPC `UNAUTHENTICATED`: the call's credentials were refused.
    GrpcUnauthenticated => "grpc_unauthenticated",
}

/// Kinds of error there are; the length of [`Counts::errors`], derived from the list.
pub const ERROR_KINDS: usize = ErrorKind::ALL.len();

/// Named outcomes a scenario may declare (`sold_out = 409`); the length of
/// [`Counts::outcomes`]. Fixed so that counting one costs an array index, not a lookup.
pub const MAX_OUTCOMES: usize = 8;

impl ErrorKind {
    /// The service gave no (complete) HTTP answer at all.
    pub fn is_transport(self) -> bool {
        !matches!(
            self,
            ErrorKind::Http4xx
                | ErrorKind::Http5xx
                | ErrorKind::HttpOther
                | ErrorKind::ExtractFailed
                | ErrorKind::CheckFailed
        ) && !self.is_grpc()
    }

    /// Whether summaries and exports list this kind with `n` of it: the twelve HTTP-era
    /// kinds always (their contract), the gRPC statuses once they occur.
    pub fn listed(self, n: u64) -> bool {
        !self.is_grpc() || n > 0
    }

    /// A non-OK `grpc-status`: the service answered, with an error.
    pub fn is_grpc(self) -> bool {
        self.name().starts_with("grpc_")
    }

    /// The gRPC statuses HTTP would answer with a 5xx (gRPC's own mapping: `INTERNAL`,
    /// `UNKNOWN`, `DATA_LOSS` 500, `UNIMPLEMENTED` 501, `UNAVAILABLE` 503,
    /// `DEADLINE_EXCEEDED` 504): they count against availability as a 5xx does.
    pub fn is_grpc_server_failure(self) -> bool {
        matches!(
            self,
            ErrorKind::GrpcInternal
                | ErrorKind::GrpcUnknown
                | ErrorKind::GrpcDataLoss
                | ErrorKind::GrpcUnimplemented
                | ErrorKind::GrpcUnavailable
                | ErrorKind::GrpcDeadlineExceeded
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One finished request, as the engine hands it to the recorder.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// From the intended start (open model) or the send (closed model) to the full response.
    pub latency: Duration,
    /// From the actual send to the full response.
    pub service: Duration,
    /// Generator lateness: intended start → send, minus time spent waiting for a free
    /// connection. `None` in the closed model, which has no intended times.
    pub send_lag: Option<Duration>,
    /// Intended start → a connection was free (back-pressure from the target).
    pub queue_wait: Option<Duration>,
    pub status: Option<u16>,
    pub error: Option<ErrorKind>,
    /// A declared outcome (index into the scenario's outcome names); not an error.
    pub outcome: Option<u8>,
    pub bytes: u64,
    /// Intended to start before the measured window.
    pub warmup: bool,
    /// Phases and connection of the request, as its transport measured them.
    pub conn: ConnSample,
}

/// What a request's transport measured beside its latency.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ConnSample {
    pub phases: Phases,
    pub tls: Option<TlsReason>,
    /// HTTP/2 streams refused before this request was taken.
    pub refused: u32,
    /// The request was sent a second time, and why.
    pub retried: Option<RetryCause>,
    /// A `protocol` error's reason, when it has one.
    pub protocol: Option<ProtocolReason>,
    /// gRPC messages `[sent, received]` by the call.
    pub messages: [u32; 2],
}

/// Counters of one endpoint over some time.
#[derive(Debug, Clone, PartialEq)]
pub struct Counts {
    pub ok: u64,
    pub errors: [u64; ERROR_KINDS],
    /// Responses that matched a declared outcome: answers, neither ok nor errors.
    pub outcomes: [u64; MAX_OUTCOMES],
    /// Flow steps not sent because an earlier step of their iteration did not succeed.
    pub skipped: u64,
    /// Requests that could not be built (a feeder or environment value made the path or a
    /// header invalid): never sent, so neither requests nor errors of the target.
    pub invalid: u64,
    /// Open model: requests still waiting for a connection when the window closed (or the
    /// run was interrupted): never sent, so neither requests nor errors; the target held
    /// every connection.
    pub unsent: u64,
    /// Responses by status code (index = code), whatever the outcome.
    pub status: Vec<u64>,
    pub bytes: u64,
    /// Requests that came due while `max_in_flight` were outstanding: never sent.
    pub dropped: u64,
    /// Connections opened, TLS sessions resumed, refused streams, TLS failures by reason.
    pub conn: ConnCounts,
}

const STATUS_CODES: usize = 600;

impl Default for Counts {
    fn default() -> Self {
        Counts {
            ok: 0,
            errors: [0; ERROR_KINDS],
            outcomes: [0; MAX_OUTCOMES],
            skipped: 0,
            invalid: 0,
            unsent: 0,
            status: vec![0; STATUS_CODES],
            bytes: 0,
            dropped: 0,
            conn: ConnCounts::default(),
        }
    }
}

impl Counts {
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }

    pub fn outcome_count(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// Every answered or failed attempt: ok, declared outcomes and errors.
    pub fn requests(&self) -> u64 {
        self.ok + self.outcome_count() + self.error_count()
    }

    pub fn errors_of(&self, kind: ErrorKind) -> u64 {
        self.errors[kind.index()]
    }

    /// Transport errors plus every 5xx answer, expected or not: what availability counts.
    pub fn unavailable(&self) -> u64 {
        let transport: u64 = ErrorKind::ALL
            .iter()
            .filter(|k| k.is_transport() || k.is_grpc_server_failure())
            .map(|k| self.errors_of(*k))
            .sum();
        transport + self.status[500..].iter().sum::<u64>()
    }

    fn reset(&mut self) {
        self.ok = 0;
        self.errors = [0; ERROR_KINDS];
        self.outcomes = [0; MAX_OUTCOMES];
        self.skipped = 0;
        self.invalid = 0;
        self.unsent = 0;
        self.status.fill(0);
        self.bytes = 0;
        self.dropped = 0;
        self.conn = ConnCounts::default();
    }

    fn merge(&mut self, o: &Counts) {
        self.ok += o.ok;
        for (a, b) in self.errors.iter_mut().zip(&o.errors) {
            *a += b;
        }
        for (a, b) in self.outcomes.iter_mut().zip(&o.outcomes) {
            *a += b;
        }
        self.skipped += o.skipped;
        self.invalid += o.invalid;
        self.unsent += o.unsent;
        for (a, b) in self.status.iter_mut().zip(&o.status) {
            *a += b;
        }
        self.bytes += o.bytes;
        self.dropped += o.dropped;
        self.conn.merge(&o.conn);
    }
}

/// One endpoint's data over an interval or the run.
#[derive(Debug, Clone)]
pub struct EndpointData {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub counts: Counts,
    /// Allocated on the first phase recorded (an endpoint of a chat run has none).
    pub phases: Option<Box<PhaseHists>>,
}

/// Counts and rates of one endpoint (or all merged) over a window of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub error_rate: f64,
    pub availability: f64,
    pub rps: f64,
    pub dropped: u64,
    pub bytes_received: u64,
}

impl EndpointData {
    /// Counts and rates over a window of `window_s` seconds.
    pub fn figures(&self, window_s: f64) -> Figures {
        let c = &self.counts;
        let requests = c.requests();
        let ratio = |n: u64| {
            if requests == 0 {
                0.0
            } else {
                n as f64 / requests as f64
            }
        };
        Figures {
            requests,
            ok: c.ok,
            errors: c.error_count(),
            error_rate: ratio(c.error_count()),
            availability: if requests == 0 {
                0.0
            } else {
                1.0 - ratio(c.unavailable())
            },
            rps: if window_s > 0.0 {
                requests as f64 / window_s
            } else {
                0.0
            },
            dropped: c.dropped,
            bytes_received: c.bytes,
        }
    }

    pub fn new() -> Self {
        EndpointData {
            latency: new_histogram(),
            service: new_histogram(),
            counts: Counts::default(),
            phases: None,
        }
    }

    fn reset(&mut self) {
        self.latency.reset();
        self.service.reset();
        self.counts.reset();
        if let Some(p) = &mut self.phases {
            p.reset();
        }
    }

    pub fn merge(&mut self, o: &EndpointData) {
        add_hist(&mut self.latency, &o.latency);
        add_hist(&mut self.service, &o.service);
        self.counts.merge(&o.counts);
        if let Some(theirs) = &o.phases {
            self.phases_mut().merge(theirs);
        }
    }

    /// The phase histograms, allocated when first needed.
    pub fn phases_mut(&mut self) -> &mut PhaseHists {
        self.phases.get_or_insert_with(Default::default)
    }

    /// The histogram of phase `p`, when any request recorded one.
    pub fn phase(&self, p: connection::Phase) -> Option<&Histogram<u64>> {
        self.phases
            .as_deref()
            .map(|h| h.of(p))
            .filter(|h| !h.is_empty())
    }
}

impl Default for EndpointData {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything recorded in one interval (or the whole run), for all endpoints.
#[derive(Debug, Clone)]
pub struct IntervalData {
    pub endpoints: Vec<EndpointData>,
    pub send_lag: Histogram<u64>,
    pub queue_wait: Histogram<u64>,
    /// Requests due but not complete when the interval closed (sum over threads).
    pub in_flight: u64,
    /// Requests intended before the measured window, per endpoint: shown in the time
    /// series, kept out of the totals, so that `endpoints` holds exactly the requests whose
    /// intended start fell inside the window, whichever second they completed in.
    /// Allocated only in intervals that have such requests.
    pub warmup: Option<Vec<EndpointData>>,
    /// `[balance]`: the measured window's answers by the backend that served them.
    pub balance: Option<Box<balance::BalanceData>>,
}

impl IntervalData {
    pub fn new(endpoints: usize) -> Self {
        IntervalData {
            endpoints: (0..endpoints).map(|_| EndpointData::new()).collect(),
            send_lag: new_histogram(),
            queue_wait: new_histogram(),
            in_flight: 0,
            warmup: None,
            balance: None,
        }
    }

    /// Empties it for reuse, keeping its allocations.
    pub fn reset(&mut self) {
        self.endpoints.iter_mut().for_each(EndpointData::reset);
        self.send_lag.reset();
        self.queue_wait.reset();
        self.in_flight = 0;
        self.warmup = None;
        if let Some(b) = &mut self.balance {
            b.reset();
        }
    }

    pub fn merge(&mut self, o: &IntervalData) {
        for (a, b) in self.endpoints.iter_mut().zip(&o.endpoints) {
            a.merge(b);
        }
        add_hist(&mut self.send_lag, &o.send_lag);
        add_hist(&mut self.queue_wait, &o.queue_wait);
        self.in_flight += o.in_flight;
        if let Some(theirs) = &o.balance {
            self.balance_mut().merge(theirs);
        }
        if let Some(theirs) = &o.warmup {
            let n = theirs.len();
            let mine = self
                .warmup
                .get_or_insert_with(|| (0..n).map(|_| EndpointData::new()).collect());
            for (a, b) in mine.iter_mut().zip(theirs) {
                a.merge(b);
            }
        }
    }

    /// The backends' data, allocated when first needed.
    pub fn balance_mut(&mut self) -> &mut balance::BalanceData {
        self.balance.get_or_insert_with(Default::default)
    }

    /// All endpoints merged.
    pub fn overall(&self) -> EndpointData {
        let mut all = EndpointData::new();
        for e in &self.endpoints {
            all.merge(e);
        }
        all
    }

    /// Requests completed in this interval, warmup requests included.
    pub fn requests(&self) -> u64 {
        let late = self.warmup.iter().flatten();
        self.endpoints
            .iter()
            .chain(late)
            .map(|e| e.counts.requests())
            .sum()
    }

    /// Per endpoint, warmup requests included: everything that completed in this interval.
    pub fn everything(&self) -> Vec<EndpointData> {
        let mut eps = self.endpoints.clone();
        if let Some(late) = &self.warmup {
            for (a, b) in eps.iter_mut().zip(late) {
                a.merge(b);
            }
        }
        eps
    }
}

/// Summary statistics of a latency histogram in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyStats {
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

pub fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Value at percentile `p` (0..=100) in ms; `None` for an empty histogram.
pub fn percentile_ms(h: &Histogram<u64>, p: f64) -> Option<f64> {
    (!h.is_empty()).then(|| ms(h.value_at_quantile(p / 100.0)))
}

impl LatencyStats {
    pub fn of(h: &Histogram<u64>) -> LatencyStats {
        if h.is_empty() {
            return LatencyStats::default();
        }
        let q = |p: f64| ms(h.value_at_quantile(p));
        LatencyStats {
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: ms(h.max()),
            // µs resolution is what the histogram holds; more digits would be noise.
            mean: (h.mean()).round() / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-hour histogram, as every histogram was before they grew on demand.
    fn fixed() -> Histogram<u64> {
        Histogram::new_with_bounds(1, HIST_MAX_US, HIST_SIGFIG).unwrap()
    }

    #[test]
    fn a_growing_histogram_reads_as_a_one_hour_one_and_stays_small() {
        // Values spread over every magnitude, some beyond an hour (they saturate).
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut values = Vec::new();
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push((x % 64).pow(6) / 7 + x % 997);
        }
        let (mut g, mut f) = (new_histogram(), fixed());
        for &v in &values {
            record_us(&mut g, v);
            f.saturating_record(v.min(HIST_MAX_US));
        }
        assert_eq!(
            g.max(),
            f.max(),
            "a value past an hour saturates at one hour"
        );
        assert!(g.max() < HIST_MAX_US + HIST_MAX_US / 1000);
        for q in [0.0, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            assert_eq!(g.value_at_quantile(q), f.value_at_quantile(q), "q={q}");
        }
        assert_eq!((g.len(), g.min(), g.mean()), (f.len(), f.min(), f.mean()));

        // Millisecond answers keep a histogram five times smaller than an hour's.
        let mut small = new_histogram();
        for v in [3, 150, 2_047, 9_999] {
            record_us(&mut small, v);
        }
        assert_eq!(small.distinct_values(), 5 * 1024);
        assert_eq!(fixed().distinct_values(), 23 * 1024);
    }

    #[test]
    fn merging_grows_the_target_and_never_panics() {
        let mut big = new_histogram();
        record_us(&mut big, 90_000_000);
        record_us(&mut big, 5);
        let mut into = new_histogram();
        add_hist(&mut into, &big);
        assert_eq!((into.len(), into.max()), (2, big.max()));

        // A histogram that cannot grow (as a deserialized one) takes the rest at its top.
        let mut stiff = Histogram::<u64>::new_with_bounds(1, 1_000, 3).unwrap();
        add_hist(&mut stiff, &big);
        assert_eq!(stiff.len(), 2);
        assert!(stiff.max() <= 1_000 + 1);
    }

    #[test]
    fn availability_counts_transport_errors_and_all_5xx() {
        let mut c = Counts {
            ok: 90,
            ..Counts::default()
        };
        c.errors[ErrorKind::Timeout.index()] = 2;
        c.errors[ErrorKind::Http4xx.index()] = 3;
        c.errors[ErrorKind::Http5xx.index()] = 4;
        c.status[404] = 3;
        c.status[503] = 4;
        // an expected 500 (counted ok) is still unavailability
        c.status[500] = 1;
        assert_eq!(c.requests(), 99);
        assert_eq!(c.unavailable(), 2 + 4 + 1);
    }

    #[test]
    fn merge_is_exact() {
        let mut a = EndpointData::new();
        let mut b = EndpointData::new();
        for v in 1..=1000 {
            a.latency.record(v).unwrap();
            b.latency.record(v + 1000).unwrap();
        }
        a.counts.ok = 1000;
        b.counts.ok = 1000;
        a.merge(&b);
        assert_eq!(a.latency.len(), 2000);
        assert_eq!(a.counts.ok, 2000);
        let s = LatencyStats::of(&a.latency);
        assert!((s.p50 - 1.0).abs() < 0.002, "{s:?}");
        assert!((s.max - 2.0).abs() < 0.002, "{s:?}");
    }
}
