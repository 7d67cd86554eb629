//! Turns a [`Plan`] into traffic.
//!
//! One OS thread per core, each running a single-threaded tokio runtime: every task of a
//! thread shares that thread's recorder, random generator and connection lanes through
//! `Rc`/`RefCell`, so the hot path takes no lock and sends no message. Once a second each
//! thread's ticker closes its interval and sends it to the control loop (see `run`).
//!
//! Three schedulers, one per load model: [`open`] (arrival rate on absolute intended
//! times), [`closed`] (virtual users) and [`chat`] (WebSocket connections). They stop on
//! the shared stop flag and await their in-flight requests; an abort drops whatever is
//! still running. How requests reach the target is the [`transport`]'s.

mod balance;
pub mod body;
pub mod chat;
mod closed;
pub mod examples;
pub mod flow;
pub mod oneshot;
mod open;
pub mod request;
pub mod runtime;
mod timer;
pub mod transport;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::metrics::aggregate::IntervalReport;
use crate::metrics::connection::RetryCause;
use crate::metrics::recorder::Recorder;
use crate::metrics::sink::GeneratorMsg;
use crate::metrics::{ErrorKind, IntervalData};
use crate::scenario::plan::balance::BalancePlan;
use crate::scenario::plan::flow::FlowPlan;
use crate::scenario::plan::load::LoadPlan;
use crate::scenario::plan::net::Protocol;
use crate::scenario::plan::{Plan, Workload};
use flow::{Exhaustion, Feeder, SessionVars};
use request::{Prepared, Response};
use transport::{Connector, Lane, Lanes};

/// What every worker thread reads; written only through atomics.
#[derive(Debug)]
pub struct Shared {
    pub requests: Vec<Prepared>,
    /// The origins (0: the target) and how to connect to them.
    pub net: Connector,
    cumulative_weights: Vec<f64>,
    pub timeout: Duration,
    pub load: LoadPlan,
    pub workload: Workload,
    pub transport: Protocol,
    pub threads: usize,
    /// `[generator] wake_grain`: the open model's shared wake-ups.
    pub wake_grain: Duration,
    /// When the schedule starts (a little after `start`, so every thread is ready).
    pub t0: Instant,
    /// `t0 + warmup`: interval 0 starts here.
    pub measure_start: Instant,
    stop: AtomicBool,
    seq: AtomicU64,
    feeders: Vec<Feeder>,
    /// Variable indices per session.
    vars: usize,
    /// The last step marked `once`: past it, a session is ready.
    last_once: Option<usize>,
    /// A feeder ran out and ended the load.
    pub exhausted: Exhaustion,
    /// What the target said with its errors (`grpc-message`).
    pub examples: examples::Examples,
    /// `Host` of the target (origin 0), for the WebSocket upgrade request.
    pub authority: String,
    /// `(K, N)`: this generator is shard K of N (`(0, 1)`: the whole load).
    pub shard: (u64, u64),
    /// When the first request was really sent, in ns after `t0` (`u64::MAX` until then):
    /// a distributed run's agents report it, for the start spread.
    pub first_send: AtomicU64,
    /// `[balance]`: where answers name their backend, and the affinity to follow.
    pub balance: Option<BalancePlan>,
    /// `[load] source_ips`: the local addresses connections bind, in turn.
    pub sources: Arc<[std::net::IpAddr]>,
}

impl Shared {
    /// The run of `plan`: `requests` prepared from its workload's requests, `net` the
    /// origins by index (0: the target, whose `Host` is `authority`).
    pub fn new(
        plan: &Plan,
        mut requests: Vec<Prepared>,
        net: Connector,
        authority: String,
    ) -> Self {
        if let Some(b) = &plan.balance {
            requests.iter_mut().for_each(|r| r.keep_for(b));
        }
        let mut acc = 0.0;
        let cumulative_weights = plan
            .workload
            .requests()
            .iter()
            .map(|r| {
                acc += r.weight;
                acc
            })
            .collect();
        let last_once = match &plan.workload {
            Workload::Flow { steps, .. } => steps.iter().rposition(|r| r.rules.once),
            _ => None,
        };
        // Threads take a few ms to start; the schedule begins after that, not before.
        let t0 = Instant::now() + Duration::from_millis(50);
        Shared {
            requests,
            net,
            cumulative_weights,
            timeout: plan.timeout,
            load: plan.load.clone(),
            workload: plan.workload.clone(),
            transport: plan.http,
            threads: plan.generator.threads,
            wake_grain: plan.generator.wake_grain,
            t0,
            measure_start: t0 + plan.warmup,
            stop: AtomicBool::new(false),
            // Shards count `{{seq}}` in ranges of their own, so it stays unique across them.
            seq: AtomicU64::new(plan.shard.map_or(0, |s| s.index * 1_000_000_000_000)),
            feeders: plan.feeders.iter().cloned().map(Feeder::new).collect(),
            vars: plan.vars.len(),
            last_once,
            exhausted: Exhaustion::default(),
            examples: examples::Examples::default(),
            authority,
            shard: plan.shard.map_or((0, 1), |s| (s.index, s.of)),
            first_send: AtomicU64::new(u64::MAX),
            balance: plan.balance.clone(),
            sources: plan.source_ips.clone().into(),
        }
    }

    /// Endpoints the recorders keep: the requests, or a chat run's four.
    pub fn endpoints(&self) -> usize {
        match &self.workload {
            Workload::Chat(_) => chat::ENDPOINTS.len(),
            _ => self.requests.len(),
        }
    }

    /// An iteration is every step in order, not one request picked by weight.
    pub fn is_flow(&self) -> bool {
        matches!(self.workload, Workload::Flow { .. })
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn stop_now(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Variable indices of a session (feeder columns, then extracted values).
    pub(crate) fn vars_len(&self) -> usize {
        self.vars
    }

    pub(crate) fn new_session(&self) -> SessionVars {
        SessionVars::new(self.vars)
    }

    /// Start of interval `idx` (seconds from the measured window's start, may be negative).
    pub fn interval_start(&self, idx: i64) -> Instant {
        let secs = Duration::from_secs(idx.unsigned_abs());
        if idx >= 0 {
            self.measure_start + secs
        } else {
            self.measure_start - secs
        }
    }

    fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        if self.cumulative_weights.len() <= 1 || self.is_flow() {
            return 0;
        }
        let total = *self
            .cumulative_weights
            .last()
            .expect("at least one request");
        let r = rng.f64() * total;
        self.cumulative_weights
            .iter()
            .position(|&c| r < c)
            .unwrap_or(self.cumulative_weights.len() - 1)
    }
}

/// Running worker threads.
pub struct Engine {
    pub shared: Arc<Shared>,
    abort: watch::Sender<bool>,
    /// Per thread: intervals handed back for reuse (one a second, never per request).
    recycle: Vec<mpsc::UnboundedSender<IntervalData>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Spawns the worker threads; they report on `tx`.
    pub fn start(
        shared: Shared,
        tx: mpsc::UnboundedSender<GeneratorMsg>,
    ) -> std::io::Result<Engine> {
        let shared = Arc::new(shared);
        let (abort, abort_rx) = watch::channel(false);
        let mut threads = Vec::new();
        let mut recycle = Vec::new();
        for index in 0..shared.threads {
            let (shared, tx, abort_rx) = (shared.clone(), tx.clone(), abort_rx.clone());
            let (recycle_tx, recycle_rx) = mpsc::unbounded_channel();
            recycle.push(recycle_tx);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("loadctl-worker-{index}"))
                    .spawn(move || worker_thread(shared, index, tx, recycle_rx, abort_rx))?,
            );
        }
        Ok(Engine {
            shared,
            abort,
            recycle,
            threads,
        })
    }

    /// Hands interval data back to the thread it came from, for reuse.
    pub fn recycle(&self, thread: usize, data: IntervalData) {
        if let Some(tx) = self.recycle.get(thread) {
            let _ = tx.send(data);
        }
    }

    /// Stop sending; in-flight requests complete (up to their timeout).
    pub fn stop(&self) {
        self.shared.stop_now();
    }

    /// Drop everything still in flight now.
    pub fn abort(&self) {
        self.stop();
        let _ = self.abort.send(true);
    }

    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Per-thread state shared by that thread's tasks.
pub(crate) struct ThreadCtx {
    pub shared: Arc<Shared>,
    pub index: usize,
    pub rec: RefCell<Recorder>,
    /// Requests due and not complete on this thread (queued + on the wire).
    pub in_flight: Cell<u64>,
    /// Makes this thread's connection lanes (HTTP/2 lanes share connections).
    pub lanes: Lanes,
    rng: RefCell<fastrand::Rng>,
    /// Open model with `flow.sessions`: this thread's share of the persistent sessions.
    sessions: Vec<RefCell<SessionVars>>,
    next_session: Cell<usize>,
    chat_totals: RefCell<chat::ChatTotals>,
    /// This thread has sent a request: the run's first send is already accounted.
    sent_any: Cell<bool>,
    /// `[balance] affinity`: each client's backends over the run.
    pub affinity: RefCell<crate::metrics::balance::AffinityData>,
}

impl ThreadCtx {
    /// The session an open-model iteration runs in: the next of this thread's persistent
    /// ones (a copy, written back by [`Self::end_session`]), or a fresh one.
    pub(crate) fn begin_session(&self) -> (Option<usize>, SessionVars) {
        if self.sessions.is_empty() {
            return (None, self.shared.new_session());
        }
        let i = self.next_session.get();
        self.next_session.set((i + 1) % self.sessions.len());
        (Some(i), self.sessions[i].borrow().clone())
    }

    pub(crate) fn end_session(&self, kept: Option<usize>, session: SessionVars) {
        if let Some(i) = kept {
            *self.sessions[i].borrow_mut() = session;
        }
    }

    pub fn pick(&self) -> usize {
        self.shared.pick(&mut self.rng.borrow_mut())
    }

    /// Renders `t` with this thread's random generator and the run's sequence.
    pub(crate) fn render(&self, t: &crate::scenario::Template, vars: &[String]) -> String {
        let mut out = String::new();
        t.render_into(
            &mut out,
            &mut crate::template::RenderCtx {
                rng: &mut self.rng.borrow_mut(),
                seq: &self.shared.seq,
                vars,
            },
        );
        out
    }

    /// Sends one request of endpoint `ep` on `conn`, rendered with `vars`, answered by
    /// `deadline` or counted as a timeout. `now` is a clock read taken just before the
    /// call. Returns the response, when it was actually sent and when it completed;
    /// `None` when the request could not be built (a feeder or environment value made its
    /// path or a header invalid): then nothing was sent.
    pub async fn send(
        &self,
        conn: &mut Lane,
        ep: usize,
        vars: &[String],
        deadline: Instant,
        now: Instant,
    ) -> Option<(Response, Instant, Instant)> {
        let prepared = &self.shared.requests[ep];
        let build = || prepared.build(&mut self.rng.borrow_mut(), &self.shared.seq, vars);
        let req = build()?;
        let client = self.shared.balance.as_ref().and_then(|b| {
            let a = b.affinity.as_ref()?;
            balance::client_of(a, req.headers(), conn.source())
        });
        // Building a fixed request is taking a reference: `now` is still the send time.
        let sent = if prepared.is_fixed() {
            now
        } else {
            Instant::now()
        };
        if sent >= deadline {
            // Its whole timeout went waiting for a connection: it is not sent late.
            return Some((Response::failed(ErrorKind::Timeout), sent, sent));
        }
        // A gRPC call's own timeout (`stream.timeout`) replaces the run's: it too runs from
        // the intended start, so the run's end stays `… + the longest timeout`.
        let deadline = prepared.timeout().map_or(deadline, |t| {
            deadline
                .checked_sub(self.shared.timeout)
                .map_or(deadline, |due| due + t)
        });
        if !self.sent_any.get() {
            // A thread's first send is its earliest: the run's is the least of those.
            self.sent_any.set(true);
            let since = sent.saturating_duration_since(self.shared.t0).as_nanos() as u64;
            self.shared.first_send.fetch_min(since, Ordering::Relaxed);
        }
        let net = &self.shared.net;
        let mut resp = conn
            .execute(req, net, prepared.origin, prepared.keep(), (sent, deadline))
            .await;
        let retry = resp
            .retry
            .filter(|c| *c != RetryCause::StaleKeepAlive || prepared.idempotent());
        if let Some(cause) = retry {
            // The target closed the idle connection we reused, or refused the HTTP/2
            // stream unprocessed; once more, as well-kept HTTP clients do. Counted by its
            // cause; the latency is the whole time, both attempts.
            let first = resp.conn;
            if let Some(req) = build() {
                let again = Instant::now();
                resp = conn
                    .execute(
                        req,
                        net,
                        prepared.origin,
                        prepared.keep(),
                        (again, deadline),
                    )
                    .await;
                resp.conn.phases.take_connection(&first.phases);
                resp.conn.refused += first.refused;
                resp.conn.retried = Some(cause);
            }
        }
        resp.client = client;
        let done = resp.done.unwrap_or_else(Instant::now);
        Some((resp, sent, done))
    }
}

/// Waits until `until` in slices, so a stop is noticed promptly; `false` when the run is
/// stopping (what would come next is not sent).
pub(crate) async fn pause_until(shared: &Shared, until: Instant) -> bool {
    const SLICE: Duration = Duration::from_millis(50);
    while Instant::now() < until {
        if shared.stopping() {
            return false;
        }
        tokio::time::sleep_until(until.min(Instant::now() + SLICE).into()).await;
    }
    !shared.stopping()
}

/// The scheduler of the plan's load model, on this thread.
fn scheduler(ctx: &Rc<ThreadCtx>) -> Pin<Box<dyn Future<Output = ()>>> {
    let shared = &ctx.shared;
    match (&shared.load, &shared.workload) {
        (
            LoadPlan::Open {
                schedule,
                connections,
                max_in_flight,
                ..
            },
            Workload::Requests(_) | Workload::Flow { .. },
        ) => Box::pin(open::run(
            ctx.clone(),
            open::Params {
                schedule: schedule.clone(),
                connections: *connections,
                max_in_flight: *max_in_flight,
            },
        )),
        (
            LoadPlan::Closed {
                vus,
                think_time,
                iterations,
                duration,
            },
            Workload::Requests(_) | Workload::Flow { .. },
        ) => Box::pin(closed::run(
            ctx.clone(),
            closed::Params {
                vus: *vus,
                think_time: *think_time,
                iterations: *iterations,
                duration: *duration,
            },
        )),
        (
            LoadPlan::Connections {
                connect_rate, hold, ..
            },
            Workload::Chat(chat),
        ) => Box::pin(chat::run(
            ctx.clone(),
            (**chat).clone(),
            *connect_rate,
            *hold,
        )),
        // Validation pairs the connections model with [chat] and the others with
        // requests; any other pairing has nothing to send.
        _ => Box::pin(async {}),
    }
}

fn worker_thread(
    shared: Arc<Shared>,
    index: usize,
    tx: mpsc::UnboundedSender<GeneratorMsg>,
    mut recycled: mpsc::UnboundedReceiver<IntervalData>,
    mut abort: watch::Receiver<bool>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => {
            let _ = tx.send(GeneratorMsg::Done(index));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let ctx = Rc::new(ThreadCtx {
            rec: RefCell::new(Recorder::new(shared.endpoints())),
            in_flight: Cell::new(0),
            lanes: Lanes::new(shared.transport).with_sources(
                shared.sources.clone(),
                (
                    shared.shard.0 as usize + shared.shard.1 as usize * index,
                    shared.shard.1 as usize * shared.threads,
                ),
            ),
            rng: RefCell::new(fastrand::Rng::with_seed(0x010a_dc71 + index as u64)),
            sessions: match (&shared.workload, &shared.load) {
                (
                    Workload::Flow {
                        flow: FlowPlan { sessions: Some(n) },
                        ..
                    },
                    LoadPlan::Open { .. },
                ) => {
                    // Shard K of N holds the sessions s with s mod N = K; its thread k of T
                    // holds every T-th of those from the k-th.
                    let (k, of) = (shared.shard.0 as usize, shared.shard.1 as usize);
                    let ours = n.saturating_sub(k).div_ceil(of);
                    let mine = (ours + shared.threads - 1 - index) / shared.threads;
                    (0..mine)
                        .map(|_| RefCell::new(shared.new_session()))
                        .collect()
                }
                _ => Vec::new(),
            },
            next_session: Cell::new(0),
            chat_totals: RefCell::new(chat::ChatTotals::default()),
            sent_any: Cell::new(false),
            affinity: RefCell::default(),
            shared: shared.clone(),
            index,
        });
        let mut work = scheduler(&ctx);
        let warmup = shared.measure_start - shared.t0;
        let mut idx = -(warmup.as_secs_f64().ceil() as i64);
        loop {
            let tick = shared.interval_start(idx + 1);
            tokio::select! {
                biased;
                _ = abort.changed() => break,
                _ = &mut work => break,
                _ = tokio::time::sleep_until(tick.into()) => {
                    let data = ctx.rec.borrow_mut().rotate(ctx.in_flight.get(), recycled.try_recv().ok());
                    let _ = tx.send(GeneratorMsg::Interval(Box::new(IntervalReport { thread: index, idx, data })));
                    idx += 1;
                }
            }
        }
        drop(work);
        let data = ctx.rec.borrow_mut().rotate(ctx.in_flight.get(), recycled.try_recv().ok());
        let _ = tx.send(GeneratorMsg::Interval(Box::new(IntervalReport {
            thread: index,
            idx,
            data,
        })));
        if matches!(shared.workload, Workload::Chat(_)) {
            let totals = ctx.chat_totals.borrow().clone();
            let _ = tx.send(GeneratorMsg::Chat(Box::new(totals)));
        }
        if shared.balance.as_ref().is_some_and(|b| b.affinity.is_some()) {
            let seen = std::mem::take(&mut *ctx.affinity.borrow_mut());
            let _ = tx.send(GeneratorMsg::Affinity(Box::new(seen)));
        }
        let _ = tx.send(GeneratorMsg::Done(index));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_pick_follows_weights() {
        let plan = crate::scenario::parse(
            std::path::Path::new("t.toml"),
            "name = \"t\"\n[load]\nvus = 1\nduration = \"1s\"\n[[requests]]\nname = \"a\"\npath = \"/a\"\nweight = 1\n[[requests]]\nname = \"b\"\npath = \"/b\"\nweight = 3\n",
            &crate::scenario::Overrides::default(),
            &|_| None,
        )
        .unwrap();
        let s = Shared::new(&plan, vec![], Connector::default(), String::new());
        let mut rng = fastrand::Rng::with_seed(1);
        let mut counts = [0; 2];
        for _ in 0..40_000 {
            counts[s.pick(&mut rng)] += 1;
        }
        let share = counts[1] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{counts:?}");
    }
}
