//! Turns a [`Plan`] into traffic.
//!
//! One OS thread per core, each running a single-threaded tokio runtime: every task of a
//! thread shares that thread's recorder, random generator and connection pool through
//! `Rc`/`RefCell`, so the hot path takes no lock and sends no message. Once a second each
//! thread's ticker closes its interval and sends it to the control loop (see `run`).
//!
//! Two load models: [`open`] (arrival rate on absolute intended times) and [`closed`]
//! (virtual users). Both stop on the shared stop flag and await their in-flight requests;
//! an abort drops whatever is still running.

pub mod chat;
mod closed;
pub mod flow;
pub mod http;
pub mod oneshot;
mod open;
mod timer;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::metrics::aggregate::IntervalReport;
use crate::metrics::recorder::Recorder;
use crate::metrics::{ErrorKind, IntervalData};
use crate::scenario::flow::{FeederPlan, FlowPlan};
use crate::scenario::LoadPlan;
use flow::{Exhaustion, Feeder, Session};
use http::{Conn, Prepared, Response};

/// Messages from worker threads to the control loop: one per thread per second.
#[derive(Debug)]
pub enum WorkerMsg {
    Interval(Box<IntervalReport>),
    /// A chat run's counters of one thread, sent once before `Done`.
    Chat(Box<chat::ChatTotals>),
    Done(usize),
}

/// What every worker thread reads; written only through atomics.
#[derive(Debug)]
pub struct Shared {
    pub requests: Vec<Prepared>,
    pub addrs: Vec<SocketAddr>,
    cumulative_weights: Vec<f64>,
    pub timeout: Duration,
    pub load: LoadPlan,
    pub threads: usize,
    /// When the schedule starts (a little after `start`, so every thread is ready).
    pub t0: Instant,
    /// `t0 + warmup`: interval 0 starts here.
    pub measure_start: Instant,
    stop: AtomicBool,
    seq: AtomicU64,
    /// Set when the iteration is a flow of steps (`requests` are the steps, in order).
    pub flow: Option<FlowPlan>,
    feeders: Vec<Feeder>,
    /// Variable slots per session.
    vars: usize,
    /// The last step marked `once`: past it, a session is ready.
    last_once: Option<usize>,
    /// A feeder ran out and ended the load.
    pub exhausted: Exhaustion,
    /// WebSocket chat fan-out (with the connections model).
    pub chat: Option<crate::scenario::chat::ChatPlan>,
    /// `Host` of the target (origin 0), for the WebSocket upgrade request.
    pub authority: String,
}

impl Shared {
    pub fn new(
        requests: Vec<Prepared>,
        weights: &[f64],
        addrs: Vec<SocketAddr>,
        load: LoadPlan,
        timeout: Duration,
        warmup: Duration,
        threads: usize,
    ) -> Self {
        let mut acc = 0.0;
        let cumulative_weights = weights
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        // Threads take a few ms to start; the schedule begins after that, not before.
        let t0 = Instant::now() + Duration::from_millis(50);
        Shared {
            requests,
            addrs,
            cumulative_weights,
            timeout,
            load,
            threads,
            t0,
            measure_start: t0 + warmup,
            stop: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            flow: None,
            feeders: Vec::new(),
            vars: 0,
            last_once: None,
            exhausted: Exhaustion::default(),
            chat: None,
            authority: String::new(),
        }
    }

    /// Makes the run a WebSocket chat fan-out against `authority` (origin 0).
    pub fn with_chat(
        mut self,
        chat: Option<crate::scenario::chat::ChatPlan>,
        authority: String,
    ) -> Self {
        self.chat = chat;
        self.authority = authority;
        self
    }

    /// Endpoints the recorders keep: the requests, or a chat run's four.
    pub fn endpoints(&self) -> usize {
        if self.chat.is_some() {
            chat::ENDPOINTS.len()
        } else {
            self.requests.len()
        }
    }

    /// Makes iterations flows of the requests (in order) and binds feeders to the first
    /// of `vars` variable slots.
    pub fn with_flow(
        mut self,
        flow: Option<FlowPlan>,
        feeders: Vec<FeederPlan>,
        vars: usize,
    ) -> Self {
        self.last_once = flow
            .as_ref()
            .and_then(|_| self.requests.iter().rposition(|r| r.rules.once));
        self.flow = flow;
        self.feeders = feeders.into_iter().map(Feeder::new).collect();
        self.vars = vars;
        self
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn stop_now(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    pub(crate) fn new_session(&self) -> Session {
        Session::new(self.vars)
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
        if self.cumulative_weights.len() == 1 || self.flow.is_some() {
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
    pub fn start(shared: Shared, tx: mpsc::UnboundedSender<WorkerMsg>) -> std::io::Result<Engine> {
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
    rng: RefCell<fastrand::Rng>,
    /// Open model with `flow.sessions`: this thread's share of the persistent sessions.
    sessions: Vec<RefCell<Session>>,
    next_session: Cell<usize>,
    chat_totals: RefCell<chat::ChatTotals>,
}

impl ThreadCtx {
    /// The session an open-model iteration runs in: the next of this thread's persistent
    /// ones (a copy, written back by [`Self::end_session`]), or a fresh one.
    pub(crate) fn begin_session(&self) -> (Option<usize>, Session) {
        if self.sessions.is_empty() {
            return (None, self.shared.new_session());
        }
        let i = self.next_session.get();
        self.next_session.set((i + 1) % self.sessions.len());
        (Some(i), self.sessions[i].borrow().clone())
    }

    pub(crate) fn end_session(&self, slot: Option<usize>, session: Session) {
        if let Some(i) = slot {
            *self.sessions[i].borrow_mut() = session;
        }
    }

    pub fn pick(&self) -> usize {
        self.shared.pick(&mut self.rng.borrow_mut())
    }

    /// Sends one request of endpoint `ep` on `conn`, rendered with `vars`. Returns the
    /// response, when it was actually sent and when it completed.
    pub async fn send(
        &self,
        conn: &mut Conn,
        ep: usize,
        vars: &[String],
    ) -> (Response, Instant, Instant) {
        let prepared = &self.shared.requests[ep];
        let req = prepared.build(&mut self.rng.borrow_mut(), &self.shared.seq, vars);
        let sent = Instant::now();
        let resp = match req {
            Some(req) => {
                conn.execute(
                    req,
                    prepared.origin,
                    self.shared.addrs[prepared.origin],
                    prepared.keep(),
                    self.shared.timeout,
                )
                .await
            }
            None => Response::failed(ErrorKind::Protocol),
        };
        (resp, sent, Instant::now())
    }
}

fn worker_thread(
    shared: Arc<Shared>,
    index: usize,
    tx: mpsc::UnboundedSender<WorkerMsg>,
    mut recycled: mpsc::UnboundedReceiver<IntervalData>,
    mut abort: watch::Receiver<bool>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => {
            let _ = tx.send(WorkerMsg::Done(index));
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let ctx = Rc::new(ThreadCtx {
            rec: RefCell::new(Recorder::new(shared.endpoints())),
            in_flight: Cell::new(0),
            rng: RefCell::new(fastrand::Rng::with_seed(0x010a_dc71 + index as u64)),
            sessions: match (&shared.flow, &shared.load) {
                (Some(FlowPlan { sessions: Some(n) }), LoadPlan::Open { .. }) => {
                    // Thread k of T holds sessions k, k+T, …
                    let mine = (*n + shared.threads - 1 - index) / shared.threads;
                    (0..mine)
                        .map(|_| RefCell::new(shared.new_session()))
                        .collect()
                }
                _ => Vec::new(),
            },
            next_session: Cell::new(0),
            chat_totals: RefCell::new(chat::ChatTotals::default()),
            shared: shared.clone(),
            index,
        });
        let mut work: Pin<Box<dyn Future<Output = ()>>> = match &shared.load {
            LoadPlan::Open { .. } => Box::pin(open::run(ctx.clone())),
            LoadPlan::Closed { .. } => Box::pin(closed::run(ctx.clone())),
            LoadPlan::Connections { .. } => Box::pin(chat::run(ctx.clone())),
        };
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
                    let _ = tx.send(WorkerMsg::Interval(Box::new(IntervalReport { thread: index, idx, data })));
                    idx += 1;
                }
            }
        }
        drop(work);
        let data = ctx.rec.borrow_mut().rotate(ctx.in_flight.get(), recycled.try_recv().ok());
        let _ = tx.send(WorkerMsg::Interval(Box::new(IntervalReport {
            thread: index,
            idx,
            data,
        })));
        if shared.chat.is_some() {
            let totals = ctx.chat_totals.borrow().clone();
            let _ = tx.send(WorkerMsg::Chat(Box::new(totals)));
        }
        let _ = tx.send(WorkerMsg::Done(index));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_pick_follows_weights() {
        let s = Shared::new(
            vec![],
            &[1.0, 3.0],
            vec![],
            LoadPlan::Closed {
                vus: 1,
                think_time: Duration::ZERO,
                iterations: None,
                duration: Duration::from_secs(1),
            },
            Duration::from_secs(1),
            Duration::ZERO,
            1,
        );
        let mut rng = fastrand::Rng::with_seed(1);
        let mut counts = [0; 2];
        for _ in 0..40_000 {
            counts[s.pick(&mut rng)] += 1;
        }
        let share = counts[1] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.02, "{counts:?}");
    }
}
