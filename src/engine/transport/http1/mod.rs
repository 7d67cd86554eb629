//! HTTP/1.1 (over TCP or TLS): one keep-alive connection per lane, written and read by
//! the lane's own task ([`wire`]).
//!
//! reqwest (the user's named client) adds a shared pool with a mutex taken on every
//! request and per-request URL parsing; hyper's connection API a second task and a
//! channel per request. Here every lane owns its connection and the pool is the lane.
//! See `bench/README.md` for the numbers.

mod head;
mod quick;
mod wire;

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use http::header::{HeaderValue, CONNECTION};
use http::Method;
use tokio::time::Sleep;

use super::answer;
use super::io::{ConnectError, Connector, SharedBackoff};
use super::Protocol;
use crate::engine::request::{Keep, Outgoing, Response};
use crate::metrics::connection::{Phase, Phases, RetryCause};
use crate::metrics::ConnSample;
use crate::scenario::plan::net::RetryPolicy;
use wire::Wire;

/// One keep-alive connection lane, reconnected on demand.
pub struct Conn {
    /// The open connection and the origin it goes to.
    wire: Option<(usize, Wire)>,
    /// The lane's request deadline, kept from one request to the next.
    timer: Option<Pin<Box<Sleep>>>,
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
            wire: None,
            timer: None,
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
        req: Outgoing<'_>,
        net: &Connector,
        origin: usize,
        keep: Keep,
        (sent, deadline): (Instant, Instant),
    ) -> Response {
        let req = if self.close {
            let mut req = req.into_request();
            req.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            Outgoing::Built(Box::new(req))
        } else {
            req
        };
        // Outside the exchange, so that a timed-out request still counts the connection
        // it opened.
        let mut phases = Phases::default();
        if self.wire.is_some() && self.spent() {
            // Dropping the wire closes the idle connection.
            self.wire = None;
            phases.rotated = 1;
        }
        // One timer per lane. A fresh timer per request was an insert into and a removal
        // from the runtime's timer wheel; moving it to each deadline still cost 118
        // instructions a request (callgrind). So it is moved earlier when it must be, and
        // later only when it fires before the request's deadline: once a timeout's length.
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        if timer.deadline() > deadline.into() {
            timer.as_mut().reset(deadline.into());
        }
        let answered = {
            let exchange =
                std::pin::pin!(self.exchange(req, net, (origin, sent), keep, &mut phases));
            within(exchange, timer.as_mut(), deadline).await
        };
        self.timer = Some(timer);
        match answered {
            Some(r) => {
                if self.close || r.error.is_some_and(|e| e.is_transport()) {
                    self.wire = None;
                }
                r
            }
            None => {
                // The connection may still carry the late response: never reuse it.
                self.wire = None;
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
        self.wire = None;
        self.last_answer = None;
        self.opened_at = Instant::now();
        self.served = 0;
        match net.open_from(origin, phases, None, self.source).await {
            Ok(io) => {
                self.wire = Some((origin, Wire::new(io)));
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

    /// `sent`: a clock read taken before it was called, the write's time when no
    /// connection is opened first.
    async fn exchange(
        &mut self,
        req: Outgoing<'_>,
        net: &Connector,
        (origin, sent): (usize, Instant),
        keep: Keep,
        phases: &mut Phases,
    ) -> Response {
        // A connection the target closed while it was idle is replaced before anything
        // is written on it, as any client does; the connect is counted.
        let reused = match &mut self.wire {
            Some((o, w)) if *o == origin => w.alive(),
            _ => false,
        };
        if !reused {
            // Boxed: rare, and its future (DNS, TCP, TLS) would otherwise be moved whole
            // with every request's.
            if let Err(e) = Box::pin(self.connect(net, origin, phases)).await {
                return answer::connect_failed(e, *phases);
            }
        }
        self.served += 1;
        let wire = &mut self.wire.as_mut().expect("connected above").1;
        let head_request = req.method() == Method::HEAD;
        let written = if reused { sent } else { Instant::now() };
        let sent = match wire.send(req).await {
            Ok(()) => wire.head(head_request, keep.headers).await,
            Err(f) => Err(f),
        };
        let head = match sent {
            Ok(h) => h,
            Err(f) => {
                self.wire = None;
                let mut r = match &f.err {
                    Some(e) => answer::exchange_failed(f.kind, e, *phases),
                    None => answer::failed(f.kind, *phases),
                };
                // No byte of an answer on a connection we reused after it was quiet:
                // the target most likely closed it while idle; the caller may retry
                // once. A connection that answered moments ago and then failed is the
                // target's reset.
                let quiet = self
                    .last_answer
                    .is_none_or(|t| written.saturating_duration_since(t) >= self.retry_idle);
                if reused && f.before_answer && self.idle_closed(quiet) {
                    r.retry = Some(RetryCause::StaleKeepAlive);
                }
                return r;
            }
        };
        let at = Instant::now();
        phases.set(Phase::Ttfb, at - written);
        let mut out = Response {
            status: Some(head.status),
            headers: head.headers.map(Box::new),
            body: keep.body.then(Vec::new),
            ..Default::default()
        };
        let reads = wire.reads();
        let read = wire
            .body(head.framing, &mut |d| answer::take(&mut out, d))
            .await;
        match read {
            Ok(()) => {
                // A body that came in the read that brought its head took no time to
                // download: the clock is not read again.
                let end = if wire.reads() == reads {
                    at
                } else {
                    Instant::now()
                };
                phases.set(Phase::Download, end - at);
                self.last_answer = Some(end);
                out.done = Some(end);
                if !head.reusable || !wire.drained() {
                    self.wire = None;
                }
            }
            Err(f) => {
                self.wire = None;
                out.error = Some(f.kind);
            }
        }
        out.conn = ConnSample {
            phases: *phases,
            ..Default::default()
        };
        out
    }
}

/// `work`'s output, or `None` once `deadline` has passed first. `timer` stands at
/// `deadline` or before it (an earlier request's deadline): when it fires before
/// `deadline`, it is moved to it.
async fn within<T>(
    mut work: Pin<&mut impl Future<Output = T>>,
    mut timer: Pin<&mut Sleep>,
    deadline: Instant,
) -> Option<T> {
    let deadline = tokio::time::Instant::from_std(deadline);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(r) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        loop {
            std::task::ready!(timer.as_mut().poll(cx));
            if timer.deadline() >= deadline {
                return Poll::Ready(None);
            }
            timer.as_mut().reset(deadline);
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::{sleep, sleep_until, Duration as D, Instant as T};

    async fn answer_after(d: D) -> u8 {
        sleep(d).await;
        7
    }

    /// The lane's timer left at an earlier request's deadline does not cut a later
    /// request short, and a request's own deadline still ends it.
    #[tokio::test(start_paused = true)]
    async fn a_timer_behind_the_deadline_is_moved_to_it() {
        let t0 = T::now();
        let mut timer = Box::pin(sleep_until(t0 + D::from_secs(1)));
        let work = std::pin::pin!(answer_after(D::from_secs(2)));
        let deadline = (t0 + D::from_secs(3)).into_std();
        assert_eq!(within(work, timer.as_mut(), deadline).await, Some(7));
        assert_eq!(T::now() - t0, D::from_secs(2));
        assert_eq!(
            timer.deadline(),
            t0 + D::from_secs(3),
            "moved once it fired"
        );

        let t1 = T::now();
        let work = std::pin::pin!(answer_after(D::from_secs(10)));
        let deadline = (t1 + D::from_secs(4)).into_std();
        assert_eq!(within(work, timer.as_mut(), deadline).await, None);
        assert_eq!(T::now() - t1, D::from_secs(4), "ended at its own deadline");
    }
}
