//! The open model: requests arrive on a schedule, whatever the target does.
//!
//! Thread `k` of `T` owns requests `k, k+T, k+2T, …`; request `i` is due at
//! `t0 + schedule.time_of(i)`. At each wake-up the scheduler dispatches everything due
//! and never re-bases: a late wake-up makes requests late, it does not move the plan.
//! Requests due within `[generator] wake_grain` (250 µs) of each other share one wake-up
//! at the next point of that grid: a wake-up (a timer armed, an epoll return, a read) was
//! the open model's largest cost per request (`bench/README.md`, issue 33). Each is still
//! timed from its own intended start, so the sharing shows as send lag and in latency,
//! never hidden; a request alone in its grain is woken for exactly.
//!
//! A dispatched request goes to an idle connection task, opens a new one (up to the thread's share of
//! `connections` times the requests a connection of the transport carries at once), or
//! waits in a FIFO backlog; a connection that finishes takes
//! the oldest waiting request. Latency runs from the intended time, so waiting for a
//! connection (the target's back-pressure) is part of it; `max_in_flight` bounds queued
//! plus sent requests, beyond which a due request is counted as dropped.
//!
//! Every request is answered by `intended + timeout` or it is a timeout: one still waiting
//! for a connection then is counted as a timeout with its full latency, never sent late.
//! When the window closes nothing more is sent: what still waits is `unsent` (neither a
//! request nor an error, counted and explained), so the run ends by
//! `warmup + duration + timeout` plus the drain of the last interval.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::flow::{run_iteration, Due};
use super::timer::PreciseSleep;
use super::ThreadCtx;
use crate::scenario::plan::schedule::RateSchedule;

/// The longest the scheduler sleeps before looking at the stop flag again.
const STOP_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy)]
struct Job {
    ep: usize,
    intended: Instant,
    /// When the scheduler handled it (≥ intended: its own lateness).
    dispatched: Instant,
}

#[derive(Default)]
/// Where the scheduler hands one connection task its next job.
struct Mailbox {
    job: Cell<Option<(Job, Instant)>>,
    waker: Cell<Option<Waker>>,
}

struct Pool {
    backlog: RefCell<VecDeque<Job>>,
    idle: RefCell<Vec<usize>>,
    mailboxes: Vec<Mailbox>,
    opened: Cell<usize>,
    closing: Cell<bool>,
    /// The measured window is over: connections take no more waiting jobs.
    window_closed: Cell<bool>,
}

impl Pool {
    /// Waits until the scheduler assigns a job to mailbox `id`; `None` when the run is over.
    async fn next_job(&self, id: usize) -> Option<(Job, Instant)> {
        self.idle.borrow_mut().push(id);
        std::future::poll_fn(|cx| {
            let mailbox = &self.mailboxes[id];
            if let Some(j) = mailbox.job.take() {
                return Poll::Ready(Some(j));
            }
            if self.closing.get() {
                return Poll::Ready(None);
            }
            mailbox.waker.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }

    fn assign(&self, id: usize, job: Job, now: Instant) {
        let mailbox = &self.mailboxes[id];
        mailbox.job.set(Some((job, now)));
        if let Some(w) = mailbox.waker.take() {
            w.wake();
        }
    }

    fn close(&self) {
        self.closing.set(true);
        for mailbox in &self.mailboxes {
            if let Some(w) = mailbox.waker.take() {
                w.wake();
            }
        }
    }
}

/// The open model's figures, from the plan.
pub(super) struct Params {
    pub schedule: RateSchedule,
    pub connections: usize,
    pub max_in_flight: usize,
}

pub(super) async fn run(ctx: Rc<ThreadCtx>, p: Params) {
    let shared = ctx.shared.clone();
    let schedule = &p.schedule;
    // Thread t of T in shard K of N owns the requests K + N·t, K + N·(t + T), …
    let (shard, shards) = shared.shard;
    let threads = shared.threads as u64 * shards;
    let share = |n: usize| n.div_ceil(shared.threads).max(1);
    // The transport says how many requests a connection carries at once (HTTP/1.1: one).
    let max_conns = share(p.connections) * shared.transport.streams_per_connection();
    let cap = share(p.max_in_flight) as u64;
    let pool = Rc::new(Pool {
        backlog: RefCell::new(VecDeque::with_capacity(cap as usize)),
        idle: RefCell::new(Vec::with_capacity(max_conns)),
        mailboxes: (0..max_conns).map(|_| Mailbox::default()).collect(),
        opened: Cell::new(0),
        closing: Cell::new(false),
        window_closed: Cell::new(false),
    });
    let mut tasks = Vec::with_capacity(max_conns);
    let total = schedule.total_requests();
    let due = |i: u64| shared.t0 + Duration::from_secs_f64(schedule.time_of(i));
    let mut i = shard + shards * ctx.index as u64;
    let sleep = PreciseSleep::new();

    let grain = shared.wake_grain;
    while i < total && !shared.stopping() {
        let next = due(i);
        let now = Instant::now();
        expire(&ctx, &pool, now);
        if next > now {
            let following = (i + threads < total).then(|| due(i + threads));
            let wake = shared_wake(shared.t0, next, following, grain);
            sleep.until(wake.min(now + STOP_POLL)).await;
            continue;
        }
        while i < total {
            let intended = due(i);
            if intended > now {
                break;
            }
            i += threads;
            let ep = ctx.pick();
            if ctx.in_flight.get() >= cap {
                ctx.rec.borrow_mut().dropped(ep);
                continue;
            }
            ctx.in_flight.set(ctx.in_flight.get() + 1);
            let job = Job {
                ep,
                intended,
                dispatched: now,
            };
            let idle = pool.idle.borrow_mut().pop();
            if let Some(id) = idle {
                pool.assign(id, job, now);
            } else if pool.opened.get() < max_conns {
                let id = pool.opened.get();
                pool.opened.set(id + 1);
                tasks.push(tokio::task::spawn_local(connection(
                    ctx.clone(),
                    pool.clone(),
                    id,
                    job,
                    now,
                )));
            } else {
                pool.backlog.borrow_mut().push_back(job);
            }
        }
        // Let connection tasks run before the next batch even under sustained overload.
        tokio::task::yield_now().await;
    }
    // The window closes when the schedule ends: from then on nothing more is sent.
    let close = shared.t0 + Duration::from_secs_f64(schedule.len().as_secs_f64());
    while !shared.stopping() && !pool.backlog.borrow().is_empty() {
        let now = Instant::now();
        expire(&ctx, &pool, now);
        if now >= close {
            break;
        }
        sleep.until(close.min(now + STOP_POLL)).await;
    }
    pool.window_closed.set(true);
    // What waited for a connection when the window closed (or the run was interrupted)
    // will never be sent: the target held every connection. Counted, and explained.
    for job in pool.backlog.borrow_mut().drain(..) {
        unsent(&ctx, &job);
    }
    pool.close();
    for t in tasks {
        let _ = t.await;
    }
}

/// When to wake for a request due at `next`: at `next`, unless the one after it
/// (`following`) is due before the next point of a `grain` grid from `t0`; then both
/// share one wake at that point, each late by less than `grain` and timed from its own
/// intended start (the lateness is the send lag, and part of its latency).
fn shared_wake(t0: Instant, next: Instant, following: Option<Instant>, grain: Duration) -> Instant {
    let g = grain.as_nanos();
    if g == 0 {
        return next;
    }
    let since = next.saturating_duration_since(t0).as_nanos();
    let point = t0 + Duration::from_nanos((since.div_ceil(g) * g) as u64);
    match following {
        Some(f) if f <= point => point,
        _ => next,
    }
}

/// Jobs that waited for a connection for their whole timeout: each is a timeout with its
/// full latency, and is never sent late.
fn expire(ctx: &ThreadCtx, pool: &Pool, now: Instant) {
    let timeout = ctx.shared.timeout;
    let mut backlog = pool.backlog.borrow_mut();
    while backlog.front().is_some_and(|j| j.intended + timeout <= now) {
        let job = backlog.pop_front().expect("front seen");
        timed_out(ctx, &job, now);
    }
}

/// A job the window closed on before a connection was free: never sent, so neither a
/// request nor an error; counted apart and explained.
fn unsent(ctx: &ThreadCtx, job: &Job) {
    let warmup = job.intended < ctx.shared.measure_start;
    ctx.rec.borrow_mut().unsent(job.ep, warmup);
    ctx.in_flight.set(ctx.in_flight.get() - 1);
}

fn timed_out(ctx: &ThreadCtx, job: &Job, now: Instant) {
    let lag = job.dispatched - job.intended;
    super::flow::not_sent(ctx, job.ep, job.intended, now, lag);
    ctx.in_flight.set(ctx.in_flight.get() - 1);
}

/// One connection: runs jobs until the pool closes.
async fn connection(ctx: Rc<ThreadCtx>, pool: Rc<Pool>, id: usize, first: Job, assigned: Instant) {
    let mut conn = ctx.lanes.lane();
    let (mut job, mut assigned) = (first, assigned);
    loop {
        // Lateness that is the generator's own: the scheduler's wake-up and this task's
        // start after assignment. Waiting for a free connection is the target's doing.
        let now = Instant::now();
        let lag = (job.dispatched - job.intended) + (now - assigned);
        let queue = assigned - job.dispatched;
        let (kept, mut session) = ctx.begin_session();
        let due = Due {
            intended: job.intended,
            now,
            lag: Some((lag, queue)),
        };
        run_iteration(&ctx, &mut conn, &mut session, job.ep, due).await;
        ctx.end_session(kept, session);
        ctx.in_flight.set(ctx.in_flight.get() - 1);

        let waiting = if pool.window_closed.get() {
            None
        } else {
            pool.backlog.borrow_mut().pop_front()
        };
        match waiting {
            Some(next) => {
                job = next;
                assigned = Instant::now();
            }
            None => match pool.next_job(id).await {
                Some((next, at)) => {
                    job = next;
                    assigned = at;
                }
                None => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_due_together_share_a_wake() {
        let t0 = Instant::now();
        let us = |n: u64| t0 + Duration::from_micros(n);
        let grain = Duration::from_micros(250);
        // 10,000/s: the next request shares the wake at the grid point, each late by
        // less than the grain.
        assert_eq!(
            shared_wake(t0, us(1_100), Some(us(1_200)), grain),
            us(1_250)
        );
        // A request alone in its grain is woken for exactly, as is every one with no grain.
        assert_eq!(
            shared_wake(t0, us(1_100), Some(us(1_300)), grain),
            us(1_100)
        );
        assert_eq!(shared_wake(t0, us(1_100), None, grain), us(1_100));
        assert_eq!(
            shared_wake(t0, us(1_100), Some(us(1_101)), Duration::ZERO),
            us(1_100)
        );
        // On a grid point already: no later than it.
        assert_eq!(
            shared_wake(t0, us(1_250), Some(us(1_250)), grain),
            us(1_250)
        );
    }
}
