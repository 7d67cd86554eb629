//! The closed model: `vus` virtual users, each with its own keep-alive connection, looping
//! request → response → think time until the duration ends or the iterations are used up.
//!
//! Users are spread over the worker threads round-robin; `iterations` (ab's `-n`) is split
//! between users up front, so no counter is shared. There are no intended times here:
//! latency is service time, which is exactly what a closed model can measure. With a
//! flow, an iteration is all its steps and each user keeps one session.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::flow::{run_iteration, Due};
use super::ThreadCtx;

const STOP_POLL: Duration = Duration::from_millis(50);

/// The closed model's figures, from the plan.
pub(super) struct Params {
    pub vus: usize,
    pub think_time: Duration,
    pub iterations: Option<u64>,
    pub duration: Duration,
}

pub(super) async fn run(ctx: Rc<ThreadCtx>, p: Params) {
    let shared = ctx.shared.clone();
    let Params {
        vus,
        think_time,
        iterations,
        duration,
    } = p;
    tokio::time::sleep_until(shared.t0.into()).await;
    let end = shared.measure_start + duration;
    // Thread t of T in shard K of N runs the users K + N·t, K + N·(t + T), …
    let (shard, shards) = (shared.shard.0 as usize, shared.shard.1 as usize);
    let users: Vec<_> = (shard + shards * ctx.index..vus)
        .step_by(shared.threads * shards)
        .map(|vu| {
            let quota =
                iterations.map(|n| n / vus as u64 + u64::from((vu as u64) < n % vus as u64));
            tokio::task::spawn_local(user(ctx.clone(), quota, end, think_time))
        })
        .collect();
    for u in users {
        let _ = u.await;
    }
}

async fn user(ctx: Rc<ThreadCtx>, quota: Option<u64>, end: Instant, think: Duration) {
    let mut conn = ctx.lanes.lane();
    // A virtual user is one session for the whole run: it logs in once.
    let mut session = ctx.shared.new_session();
    let mut done_iterations = 0u64;
    loop {
        // One clock read: the end is checked against the iteration's own start.
        let now = Instant::now();
        if ctx.shared.stopping() || now >= end || quota.is_some_and(|q| done_iterations >= q) {
            return;
        }
        let ep = ctx.pick();
        ctx.in_flight.set(ctx.in_flight.get() + 1);
        let due = Due {
            intended: now,
            now,
            lag: None,
        };
        run_iteration(&ctx, &mut conn, &mut session, ep, due).await;
        ctx.in_flight.set(ctx.in_flight.get() - 1);
        done_iterations += 1;
        if !think.is_zero() {
            // Think in slices so a stop is noticed promptly.
            let until = (Instant::now() + think).min(end);
            while Instant::now() < until && !ctx.shared.stopping() {
                tokio::time::sleep_until((until.min(Instant::now() + STOP_POLL)).into()).await;
            }
        }
    }
}
