//! HTTP/1.1 (over TCP or TLS): one keep-alive connection per lane, built on hyper's client
//! connection API.
//!
//! reqwest (the user's named client) sits on the same hyper code but adds a shared pool
//! with a mutex taken on every request, plus per-request URL parsing; here every task owns
//! its connection and the pool is the task. See `bench/README.md` for the numbers.

use std::time::{Duration, Instant};

use http::header::{HeaderValue, CONNECTION};
use http::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::answer;
use super::io::{ConnectError, Connector, SharedBackoff};
use super::Protocol;
use crate::engine::body::Body;
use crate::engine::request::{Keep, Response};
use crate::metrics::connection::{Phases, RetryCause};
use crate::metrics::ErrorKind;
use crate::scenario::plan::net::RetryPolicy;

/// One keep-alive connection lane, reconnected on demand.
pub struct Conn {
    sender: Option<(usize, SendRequest<Body>)>,
    backoff: SharedBackoff,
    /// When the connection last finished reading an answer: a reused connection that
    /// fails within `retry_idle` of it was not closed for idleness.
    last_answer: Option<Instant>,
    retry: RetryPolicy,
    retry_idle: Duration,
    /// `[http] keep_alive = false`: a connection per request.
    pub close: bool,
    /// The local address its connections come from (`[load] source_ips`).
    pub source: Option<std::net::IpAddr>,
    /// When the connection opened and how many requests it carried, for rotation.
    opened_at: Instant,
    served: u32,
    max_requests: Option<u32>,
    max_age: Option<Duration>,
}

impl Conn {
    pub fn new(t: Protocol, backoff: SharedBackoff, source: Option<std::net::IpAddr>) -> Self {
        Conn {
            sender: None,
            backoff,
            last_answer: None,
            retry: t.retry,
            retry_idle: t.retry_idle,
            close: !t.keep_alive,
            source,
            opened_at: Instant::now(),
            served: 0,
            max_requests: t.max_requests_per_connection,
            max_age: t.max_connection_age,
        }
    }

    /// The connection has carried its share (`max_requests_per_connection`) or lived its
    /// time (`max_connection_age`): the next request opens another.
    fn spent(&self) -> bool {
        self.max_requests.is_some_and(|n| self.served >= n)
            || self.max_age.is_some_and(|a| self.opened_at.elapsed() >= a)
    }

    /// Sends `req` to origin `origin` and reads the whole response by `deadline`.
    pub async fn execute(
        &mut self,
        mut req: Request<Body>,
        net: &Connector,
        origin: usize,
        keep: Keep,
        deadline: Instant,
    ) -> Response {
        if self.close {
            req.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        // Outside the exchange, so that a timed-out request still counts the connection
        // it opened.
        let mut phases = Phases::default();
        if self.sender.is_some() && self.spent() {
            // Dropping the sender closes the idle connection.
            self.sender = None;
            phases.rotated = 1;
        }
        let exchange = self.exchange(req, net, origin, keep, &mut phases);
        match tokio::time::timeout_at(deadline.into(), exchange).await {
            Ok(r) => {
                if self.close || r.error.is_some_and(|e| e.is_transport()) {
                    self.sender = None;
                } else if r.status.is_some() {
                    self.last_answer = Some(Instant::now());
                }
                r
            }
            Err(_) => {
                // The connection may still carry the late response: never reuse it.
                self.sender = None;
                answer::timed_out(phases)
            }
        }
    }

    /// Opens a connection to `origin`, waiting out the backoff of a previous failure.
    async fn connect(
        &mut self,
        net: &Connector,
        origin: usize,
        phases: &mut Phases,
    ) -> Result<(), ConnectError> {
        self.backoff.wait(origin).await;
        self.sender = None;
        self.last_answer = None;
        self.opened_at = Instant::now();
        self.served = 0;
        let source = self.source;
        let opened = async {
            let io = net.open_from(origin, phases, None, source).await?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
                .await
                .map_err(|_| ConnectError::from(ErrorKind::Connect))?;
            // The connection driver runs beside the task; it ends when the sender is dropped.
            tokio::task::spawn_local(async move {
                let _ = conn.await;
            });
            Ok::<_, ConnectError>(sender)
        };
        match opened.await {
            Ok(s) => {
                self.sender = Some((origin, s));
                self.backoff.succeeded(origin);
                Ok(())
            }
            Err(e) => {
                self.backoff.failed(origin);
                Err(e)
            }
        }
    }

    /// Whether a reused connection that ended before an answer is explained by an idle
    /// close under the run's retry rule. `quiet`: it had been idle for `retry_idle` when
    /// the request went out; one that answered moments ago and then failed after the
    /// request was written is the target's failure, however it closed.
    fn idle_closed(&self, quiet: bool) -> bool {
        match self.retry {
            RetryPolicy::Never => false,
            RetryPolicy::Idempotent => true,
            RetryPolicy::IdleOnly => quiet,
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
        let reused = match &mut self.sender {
            Some((o, s)) if *o == origin => s.ready().await.is_ok(),
            _ => false,
        };
        let quiet = self
            .last_answer
            .is_none_or(|t| t.elapsed() >= self.retry_idle);
        if !reused {
            if let Err(e) = self.connect(net, origin, phases).await {
                return answer::connect_failed(e, *phases);
            }
        }
        self.served += 1;
        let sender = &mut self.sender.as_mut().expect("connected above").1;
        let mut written = Instant::now();
        let mut retried = None;
        let resp = match sender.try_send_request(req).await {
            Ok(r) => r,
            Err(mut e) => match e.take_message() {
                // Not written at all: the connection was gone. Once more on a fresh one,
                // unless nothing may be sent twice; counted either way.
                Some(req) if reused && self.retry != RetryPolicy::Never => {
                    if let Err(e) = self.connect(net, origin, phases).await {
                        let mut r = answer::connect_failed(e, *phases);
                        r.conn.retried = Some(RetryCause::StaleKeepAlive);
                        return r;
                    }
                    let sender = &mut self.sender.as_mut().expect("connected above").1;
                    written = Instant::now();
                    retried = Some(RetryCause::StaleKeepAlive);
                    match sender.send_request(req).await {
                        Ok(r) => r,
                        Err(e) => {
                            let mut r = answer::failed(classify(&e), *phases);
                            r.conn.retried = retried;
                            return r;
                        }
                    }
                }
                _ => {
                    let mut r = answer::exchange_failed(classify(e.error()), e.error(), *phases);
                    // No byte of an answer on a connection we reused after it was quiet:
                    // the target most likely closed it while idle; the caller may retry
                    // once. A connection that answered moments ago and then failed is the
                    // target's reset.
                    if reused && closed_before_answer(e.error()) && self.idle_closed(quiet) {
                        r.retry = Some(RetryCause::StaleKeepAlive);
                    }
                    return r;
                }
            },
        };
        let mut r = answer::read(resp, keep, written, Instant::now(), *phases).await;
        r.conn.retried = retried;
        r
    }
}

/// The connection ended (closed, reset, broken pipe) before the answer's head: nothing in
/// it says the target processed the request.
fn closed_before_answer(e: &hyper::Error) -> bool {
    if e.is_parse() || e.is_parse_status() || e.is_timeout() || e.is_user() {
        return false;
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            );
        }
        source = s.source();
    }
    false
}

fn classify(e: &hyper::Error) -> ErrorKind {
    if e.is_parse() || e.is_parse_status() {
        return ErrorKind::Protocol;
    }
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    ErrorKind::Reset
}
