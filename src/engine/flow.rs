//! Iterations: what one unit of load is. Without a `[flow]` it is one request, picked by
//! weight; with one it is every step in order on the same connection, each step's values
//! extracted for the next. Both load models run iterations through [`run_iteration`].
//!
//! A session holds an iteration's variables: feeder columns (drawn when the session
//! starts) and extracted values. Steps marked `once` run only until they have succeeded
//! for the session, so a session that persists (a closed-model user, or one of an
//! open-model pool) logs in once and orders many times.
//!
//! Timing: an iteration's first step is due at the iteration's intended start (its latency
//! includes any wait for a connection); each later step is due when the step before it
//! completed. When a step does not succeed, the rest of the iteration is skipped and each
//! skipped step is counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::transport::Lane;
use super::ThreadCtx;
use crate::metrics::connection::Phase;
use crate::metrics::Sample;
use crate::scenario::plan::flow::{Exhausted, FeedMode, FeederPlan};

/// One session's variables (by index) and whether its `once` steps are done.
#[derive(Debug, Clone, Default)]
pub(crate) struct SessionVars {
    vars: Vec<String>,
    fed: bool,
    ready: bool,
}

impl SessionVars {
    pub fn new(vars: usize) -> Self {
        SessionVars {
            vars: vec![String::new(); vars],
            fed: false,
            ready: false,
        }
    }
}

/// A feeder and its run-wide cursor.
#[derive(Debug)]
pub(crate) struct Feeder {
    pub plan: FeederPlan,
    cursor: AtomicU64,
}

/// Why the load ended early: a feeder ran out (name, and whether that fails the run).
#[derive(Debug, Default)]
pub struct Exhaustion(Mutex<Option<(String, Exhausted)>>);

impl Exhaustion {
    pub fn get(&self) -> Option<(String, Exhausted)> {
        self.0.lock().ok().and_then(|g| g.clone())
    }

    fn set(&self, name: &str, how: Exhausted) {
        if let Ok(mut g) = self.0.lock() {
            g.get_or_insert_with(|| (name.to_string(), how));
        }
    }
}

impl Feeder {
    pub fn new(plan: FeederPlan) -> Self {
        Feeder {
            plan,
            cursor: AtomicU64::new(0),
        }
    }

    /// The row for the next session, or `None` when a non-wrapping feeder is used up.
    fn next_row(&self, rng: &mut fastrand::Rng) -> Option<&[String]> {
        let rows = &self.plan.rows;
        let n = rows.len() as u64;
        let i = match self.plan.mode {
            FeedMode::Random => rng.u64(0..n),
            FeedMode::Sequential | FeedMode::Unique => {
                let i = self.cursor.fetch_add(1, Ordering::Relaxed);
                if i >= n && self.plan.on_exhausted != Exhausted::Wrap {
                    return None;
                }
                i % n
            }
        };
        Some(&rows[i as usize])
    }
}

/// Fills a new session's feeder variables; `false` when a feeder is used up (the load is
/// then stopping, and the iteration must not run).
fn feed(ctx: &ThreadCtx, session: &mut SessionVars) -> bool {
    if session.fed {
        return true;
    }
    if !feed_into(ctx, &mut session.vars, 0) {
        return false;
    }
    session.fed = true;
    true
}

/// Draws a row of every feeder into `vars`, feeder columns from index `offset` on (a chat
/// connection's variables start after `user`, `group` and `marker`); `false` when a
/// feeder is used up, which stops the load.
pub(crate) fn feed_into(ctx: &ThreadCtx, vars: &mut [String], offset: usize) -> bool {
    for f in &ctx.shared.feeders {
        let row = {
            let mut rng = ctx.rng.borrow_mut();
            f.next_row(&mut rng).map(<[String]>::to_vec)
        };
        let Some(row) = row else {
            ctx.shared.exhausted.set(&f.plan.name, f.plan.on_exhausted);
            ctx.shared.stop_now();
            return false;
        };
        for (k, v) in row.into_iter().enumerate() {
            vars[offset + f.plan.first_var + k] = v;
        }
    }
    true
}

/// Records an open-model iteration that waited for a connection for its whole timeout:
/// a timeout of the target, with the latency it waited; a flow's later steps are skipped.
pub(crate) fn not_sent(
    ctx: &ThreadCtx,
    pick: usize,
    intended: Instant,
    now: Instant,
    lag: Duration,
) {
    let shared = &ctx.shared;
    let warmup = intended < shared.measure_start;
    let steps = if shared.is_flow() {
        0..shared.requests.len()
    } else {
        pick..pick + 1
    };
    let mut rec = ctx.rec.borrow_mut();
    let first = steps.start;
    rec.record(
        first,
        &Sample {
            latency: now - intended,
            service: Duration::ZERO,
            send_lag: Some(lag),
            queue_wait: Some((now - intended).saturating_sub(lag)),
            status: None,
            error: Some(crate::metrics::ErrorKind::Timeout),
            outcome: None,
            bytes: 0,
            warmup,
            conn: Default::default(),
        },
    );
    for later in first + 1..steps.end {
        rec.skipped(later, warmup);
    }
}

/// When an iteration is due and what its caller saw of the clock: `now` is a clock read
/// taken just before the call, the send time of its first request (on a virtual machine
/// six clock reads were an eighth of a request's user time, `bench/README.md`); `lag` is
/// the open model's (send lag, queue wait) for the first step.
pub(crate) struct Due {
    pub intended: Instant,
    pub now: Instant,
    pub lag: Option<(Duration, Duration)>,
}

/// Runs one iteration on `conn`. `pick` is the weighted request (ignored for flows).
pub(crate) async fn run_iteration(
    ctx: &ThreadCtx,
    conn: &mut Lane,
    session: &mut SessionVars,
    pick: usize,
    Due { intended, now, lag }: Due,
) {
    if !feed(ctx, session) {
        return;
    }
    let shared = &ctx.shared;
    let warmup = intended < shared.measure_start;
    let steps = if shared.is_flow() {
        0..shared.requests.len()
    } else {
        pick..pick + 1
    };
    let mut due = intended;
    let mut lag = lag;
    // A clock read no older than loadctl's own bookkeeping since: the next send's time.
    let mut fresh = Some(now);
    for ep in steps.clone() {
        let step = &shared.requests[ep];
        if step.rules.once && session.ready {
            continue;
        }
        let deadline = due + shared.timeout;
        let now = fresh.take().unwrap_or_else(Instant::now);
        let Some((resp, sent, done)) = ctx.send(conn, ep, &session.vars, deadline, now).await
        else {
            let mut rec = ctx.rec.borrow_mut();
            rec.invalid(ep, warmup);
            for later in ep + 1..steps.end {
                if !(shared.requests[later].rules.once && session.ready) {
                    rec.skipped(later, warmup);
                }
            }
            return;
        };
        let (error, outcome) = step.judge(&resp, &mut session.vars);
        if let (Some(b), false) = (&shared.balance, warmup) {
            super::balance::record(ctx, b, &resp, error.is_some(), done - due);
        }
        ctx.rec.borrow_mut().record(
            ep,
            &Sample {
                latency: done - due,
                service: done - sent,
                send_lag: lag.map(|l| l.0),
                queue_wait: lag.map(|l| l.1),
                status: resp.status,
                error,
                outcome,
                bytes: resp.bytes,
                warmup,
                conn: resp.conn,
            },
        );
        if let Some(g) = resp.grpc.as_deref() {
            if let (Some(kind), Some(text)) = (error, g.message.as_deref()) {
                let name = shared
                    .workload
                    .requests()
                    .get(ep)
                    .map_or("", |r| r.name.as_str());
                shared.examples.offer(name, kind, text);
            }
            let mut rec = ctx.rec.borrow_mut();
            rec.messages(ep, warmup, Phase::MessageGap, &g.gaps);
            rec.messages(ep, warmup, Phase::MessageReply, &g.replies);
        }
        lag = None;
        if error.is_some() || outcome.is_some() {
            let mut rec = ctx.rec.borrow_mut();
            for later in ep + 1..steps.end {
                if !(shared.requests[later].rules.once && session.ready) {
                    rec.skipped(later, warmup);
                }
            }
            return;
        }
        if Some(ep) == shared.last_once {
            session.ready = true;
        }
        due = done;
        fresh = Some(done);
        if let Some(think) = step.rules.think.filter(|_| ep + 1 < steps.end) {
            fresh = None;
            // The next step is due when the user would have sent it: after the pause.
            due = done + think;
            if !super::pause_until(shared, due).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn feeder(mode: FeedMode, on_exhausted: Exhausted) -> Feeder {
        Feeder::new(FeederPlan {
            name: "users".into(),
            file: "users.csv".into(),
            columns: vec!["user".into()],
            first_var: 0,
            rows: Arc::new((0..3).map(|i| vec![format!("u{i}")]).collect()),
            mode,
            on_exhausted,
        })
    }

    fn draw(f: &Feeder, n: usize) -> Vec<Option<String>> {
        let mut rng = fastrand::Rng::with_seed(3);
        (0..n)
            .map(|_| f.next_row(&mut rng).map(|r| r[0].clone()))
            .collect()
    }

    #[test]
    fn sequential_wraps_in_file_order() {
        let got = draw(&feeder(FeedMode::Sequential, Exhausted::Wrap), 5);
        let want = ["u0", "u1", "u2", "u0", "u1"].map(|s| Some(s.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn unique_uses_each_row_once_then_runs_out() {
        for how in [Exhausted::Stop, Exhausted::Fail] {
            let got = draw(&feeder(FeedMode::Unique, how), 5);
            assert_eq!(got[..3], ["u0", "u1", "u2"].map(|s| Some(s.to_string())));
            assert_eq!(got[3..], [None, None]);
        }
        let wrapped = draw(&feeder(FeedMode::Unique, Exhausted::Wrap), 4);
        assert_eq!(wrapped[3].as_deref(), Some("u0"));
    }

    #[test]
    fn random_covers_the_rows_and_never_runs_out() {
        let got = draw(&feeder(FeedMode::Random, Exhausted::Wrap), 300);
        assert!(got.iter().all(Option::is_some));
        let distinct: std::collections::BTreeSet<_> = got.into_iter().flatten().collect();
        assert_eq!(distinct.len(), 3);
    }
}
