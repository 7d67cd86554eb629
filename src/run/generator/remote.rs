//! The remote generator: the run's load sent by agents (`loadctl agent`) on other hosts or
//! in a Kubernetes Job. Each agent sends its share of the one schedule (`K/N`, as
//! `--shard` splits it) from one instant fixed on the coordinator's clock and carried to
//! each agent's through its measured offset; each streams its final seconds, which enter
//! the control loop as if the agent were one thread, so the merge is the exact one of a
//! single machine. An agent that goes silent past the heartbeat timeout, closes its
//! connection or fails is lost: the others are stopped and the run is invalid, never a
//! silent pass.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::bail;
use base64::Engine as _;
use tokio::sync::mpsc;

use super::super::target::Target;
use super::agent_link::{self, Link};
use super::{Generator, Joined};
use crate::metrics::series::IntervalReport;
use crate::metrics::sink::GeneratorMsg;
use crate::metrics::IntervalData;
use crate::remote::bundle::Bundle;
use crate::remote::clock::Offset;
use crate::remote::frame::{self, FrameError, Rx};
use crate::remote::{unix_ns, Done, Prepare, SentFile, ToAgent, ToCoordinator};
use crate::scenario::plan::distributed::DistributedPlan;
use crate::scenario::{Exhausted, Plan, TargetSpec, Workload};
use crate::summary::distributed::{AgentSummary, DistributedSummary};

pub use super::agent_link::{AgentAddr, PodAddr};

/// The agents a run drives, and what they need.
#[derive(Clone)]
pub struct Agents {
    pub addrs: Vec<AgentAddr>,
    /// Run this many agents as a Kubernetes Indexed Job; their pods join `addrs`.
    pub kube: Option<u32>,
    pub token: String,
    /// The scenario as the agents build it.
    pub bundle: Arc<Bundle>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Agents")
            .field("addrs", &self.addrs)
            .finish_non_exhaustive()
    }
}

/// The start is this far after the last agent is ready, plus twice the worst clock
/// uncertainty, so that every `start` arrives before its instant.
const LEAD: Duration = Duration::from_millis(300);

/// One agent during the run.
struct Board {
    name: String,
    address: String,
    offset: Offset,
    /// Its schedule's start on the coordinator's clock.
    started_ns: Option<u64>,
    /// Its measured window.
    totals: IntervalData,
    lost: Option<String>,
    done: Option<Done>,
}

/// The agents, connected and ready; then sending.
pub(crate) struct Fleet {
    /// The run's side runtime: the links to the agents run there.
    rt: tokio::runtime::Handle,
    links: Vec<Link>,
    origin: Instant,
    origin_ns: u64,
    measure_start: Instant,
    cmds: Arc<Vec<mpsc::UnboundedSender<ToAgent>>>,
    boards: Arc<Mutex<Vec<Board>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    names: Arc<Vec<String>>,
    feeders: Vec<(String, Exhausted)>,
    plan: DistributedPlan,
    /// The agents' worker threads together.
    workers: usize,
    /// How many agents: each is one "thread" of the control loop.
    agents: usize,
}

fn prepare_msg(plan: &Plan, target: &Target, b: &Bundle, index: usize, of: usize) -> Prepare {
    let b64 = base64::engine::general_purpose::STANDARD;
    Prepare {
        scenario: b.text.clone(),
        files: b
            .files
            .iter()
            .map(|(name, data)| SentFile {
                name: name.clone(),
                data: b64.encode(data),
            })
            .collect(),
        env: b.env.clone(),
        embedded_target: matches!(plan.target, TargetSpec::Embedded(_))
            .then(|| target.origin_text()),
        index: index as u64,
        of: of as u64,
    }
}

/// A fleet dropped unjoined (a second interrupt) leaves no link running.
impl Drop for Fleet {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Fleet {
    /// Connects every agent, sends each its share, and measures their clocks; the start
    /// instant is fixed here.
    pub(super) fn connect(
        rt: &tokio::runtime::Handle,
        plan: &Plan,
        target: &Target,
        agents: &Agents,
    ) -> anyhow::Result<Self> {
        if let Workload::Chat(c) = &plan.workload {
            if c.groups < agents.addrs.len() {
                bail!(
                    "a [chat] load is split by whole groups: {} group(s) cannot go to {} agents; use at most {} agents or raise chat.groups",
                    c.groups,
                    agents.addrs.len(),
                    c.groups
                );
            }
        }
        if plan.shard.is_some() {
            bail!("--shard and agents do not mix: the coordinator gives each agent its share");
        }
        let n = agents.addrs.len();
        let opened = rt.block_on(futures_util::future::join_all(
            agents.addrs.iter().enumerate().map(|(k, addr)| {
                let prep = prepare_msg(plan, target, &agents.bundle, k, n);
                agent_link::open(addr, &agents.token, prep)
            }),
        ));
        let mut links = Vec::new();
        let mut errors = Vec::new();
        for (addr, r) in agents.addrs.iter().zip(opened) {
            match r {
                Ok(l) => links.push(l),
                Err(e) => errors.push(format!("agent {addr}: {e:#}")),
            }
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("\n"));
        }
        let worst = links
            .iter()
            .map(|l| l.offset.uncertainty_ns)
            .max()
            .unwrap_or(0);
        let lead =
            (LEAD + Duration::from_nanos(worst.saturating_mul(2))).min(Duration::from_secs(5));
        let origin = Instant::now() + lead;
        let origin_ns = unix_ns(SystemTime::now() + lead);
        let names = plan.endpoint_names();
        let workers = links.iter().map(|l| l.threads).sum();
        let boards = links
            .iter()
            .map(|l| Board {
                name: l.name.clone(),
                address: l.address.clone(),
                offset: l.offset,
                started_ns: None,
                totals: IntervalData::new(names.len()),
                lost: None,
                done: None,
            })
            .collect();
        Ok(Fleet {
            rt: rt.clone(),
            links,
            origin,
            origin_ns,
            measure_start: origin + plan.warmup,
            cmds: Arc::new(Vec::new()),
            boards: Arc::new(Mutex::new(boards)),
            tasks: Vec::new(),
            names: Arc::new(names),
            feeders: plan
                .feeders
                .iter()
                .map(|f| (f.name.clone(), f.on_exhausted))
                .collect(),
            plan: plan.distributed.clone(),
            workers,
            agents: n,
        })
    }
}

/// What one agent's reader needs.
struct Reader {
    k: usize,
    rx: Rx,
    tx: mpsc::UnboundedSender<GeneratorMsg>,
    boards: Arc<Mutex<Vec<Board>>>,
    cmds: Arc<Vec<mpsc::UnboundedSender<ToAgent>>>,
    names: Arc<Vec<String>>,
    heartbeat: Duration,
}

impl Reader {
    /// Reads the agent's seconds until its `done`, or until it is lost.
    async fn run(mut self) {
        let why = loop {
            let msg = match tokio::time::timeout(self.heartbeat, frame::recv(&mut self.rx)).await {
                Err(_) => {
                    break format!(
                        "no word from it for {:?} (heartbeat timeout)",
                        self.heartbeat
                    )
                }
                Ok(Err(FrameError::Closed)) => {
                    break "its connection closed before it finished".into()
                }
                Ok(Err(e)) => break format!("{e}"),
                Ok(Ok(m)) => m,
            };
            match msg {
                ToCoordinator::Beat => {}
                ToCoordinator::Started { origin_ns } => {
                    let mut b = self.boards.lock().expect("not poisoned");
                    let at = b[self.k].offset.to_coordinator(origin_ns);
                    b[self.k].started_ns = Some(at);
                }
                ToCoordinator::Interval { idx, log } => {
                    if let Err(e) = self.interval(idx, &log) {
                        break format!("sent a second that does not read: {e:#}");
                    }
                }
                ToCoordinator::Done(mut d) => {
                    if let Some(chat) = d.chat.take() {
                        let _ = self.tx.send(GeneratorMsg::Chat(Box::new(chat)));
                    }
                    if let Some(a) = d.affinity.take() {
                        let seen = crate::metrics::balance::AffinityData::from_wire(&a);
                        let _ = self.tx.send(GeneratorMsg::Affinity(Box::new(seen)));
                    }
                    let mut b = self.boards.lock().expect("not poisoned");
                    let board = &mut b[self.k];
                    // The first request really sent is when the agent really started.
                    if let Some(first) = d.first_send_ns {
                        board.started_ns = Some(board.offset.to_coordinator(first));
                    }
                    board.done = Some(*d);
                    drop(b);
                    let _ = self.tx.send(GeneratorMsg::Done(self.k));
                    return;
                }
                ToCoordinator::Failed { error, .. } => break format!("its run failed: {error}"),
                other => break format!("sent {other:?} during the load"),
            }
        };
        self.boards.lock().expect("not poisoned")[self.k].lost = Some(why);
        // One agent's share missing is not the planned load: stop the others.
        for c in self.cmds.iter() {
            let _ = c.send(ToAgent::Stop);
        }
        let _ = self.tx.send(GeneratorMsg::Done(self.k));
    }

    fn interval(&mut self, idx: i64, log: &str) -> anyhow::Result<()> {
        let mut read = crate::metrics::hlog::decode(log, &self.names)?;
        let Some((got, data)) = read.pop().filter(|_| read.is_empty()) else {
            bail!("expected one interval");
        };
        if got != idx {
            bail!("interval {got} sent as {idx}");
        }
        if idx >= 0 {
            self.boards.lock().expect("not poisoned")[self.k]
                .totals
                .merge(&data);
        }
        let _ = self
            .tx
            .send(GeneratorMsg::Interval(Box::new(IntervalReport {
                thread: self.k,
                idx,
                data,
            })));
        Ok(())
    }
}

impl Generator for Fleet {
    fn origin(&self) -> Instant {
        self.origin
    }

    fn measure_start(&self) -> Instant {
        self.measure_start
    }

    fn threads(&self) -> usize {
        self.agents
    }

    fn worker_threads(&self) -> usize {
        self.workers
    }

    fn start(&mut self, tx: mpsc::UnboundedSender<GeneratorMsg>) -> anyhow::Result<()> {
        let links = std::mem::take(&mut self.links);
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for _ in &links {
            let (s, r) = mpsc::unbounded_channel();
            senders.push(s);
            receivers.push(r);
        }
        self.cmds = Arc::new(senders);
        for (k, (link, mut cmd_rx)) in links.into_iter().zip(receivers).enumerate() {
            let Link {
                tx: mut wire,
                rx,
                offset,
                ..
            } = link;
            let at_ns = offset.to_agent(self.origin_ns);
            self.tasks.push(self.rt.spawn(async move {
                if frame::send(&mut wire, &ToAgent::Start { at_ns })
                    .await
                    .is_err()
                {
                    return;
                }
                // Beats both ways: an agent whose coordinator hangs stops by itself.
                let mut beat = tokio::time::interval(crate::remote::BEAT);
                loop {
                    let c = tokio::select! {
                        c = cmd_rx.recv() => match c { Some(c) => c, None => break },
                        _ = beat.tick() => ToAgent::Beat,
                    };
                    if frame::send(&mut wire, &c).await.is_err() {
                        return;
                    }
                }
                let _ = futures_util::SinkExt::close(&mut wire).await;
            }));
            let reader = Reader {
                k,
                rx,
                tx: tx.clone(),
                boards: self.boards.clone(),
                cmds: self.cmds.clone(),
                names: self.names.clone(),
                heartbeat: self.plan.heartbeat_timeout,
            };
            self.tasks.push(self.rt.spawn(reader.run()));
        }
        Ok(())
    }

    fn recycle(&self, _thread: usize, _data: IntervalData) {}

    fn stop(&self) {
        for c in self.cmds.iter() {
            let _ = c.send(ToAgent::Stop);
        }
    }

    fn abort(&self) {
        for c in self.cmds.iter() {
            let _ = c.send(ToAgent::Abort);
        }
    }

    fn join(mut self: Box<Self>) -> Joined {
        // The readers end at each agent's `done` or loss; then the writers may close.
        let tasks = std::mem::take(&mut self.tasks);
        self.cmds = Arc::new(Vec::new());
        let _ = self.rt.block_on(futures_util::future::join_all(tasks));
        let boards = std::mem::take(&mut *self.boards.lock().expect("not poisoned"));
        let exhausted = boards
            .iter()
            .filter_map(|b| b.done.as_ref()?.exhausted.clone())
            .find_map(|name| self.feeders.iter().find(|(n, _)| *n == name).cloned());
        Joined {
            exhausted,
            remote: Some(Remote::of(&boards, self.origin_ns, &self.plan)),
            first_send: None,
            // The agents keep their counts, not their words (`grpc-message`): said in
            // README, the counts by kind are whole.
            examples: Vec::new(),
        }
    }
}

/// A distributed run's agents as the summary shows them, and why the run cannot be
/// trusted.
pub struct Remote {
    pub distributed: DistributedSummary,
    pub agents: Vec<AgentSummary>,
    pub problems: Vec<String>,
}

fn ms_ns(ns: i128) -> f64 {
    ns as f64 / 1e6
}

impl Remote {
    fn of(boards: &[Board], origin_ns: u64, plan: &DistributedPlan) -> Remote {
        let mut problems = Vec::new();
        let mut agents = Vec::new();
        for (k, b) in boards.iter().enumerate() {
            let mut mine = Vec::new();
            if let Some(why) = &b.lost {
                mine.push(format!("lost: {why}"));
            }
            if let Some(d) = b.done.as_ref().filter(|d| !d.generator_valid) {
                mine.push(format!(
                    "could not hold its share: {}",
                    d.generator_problems.join("; ")
                ));
            }
            problems.extend(
                mine.iter()
                    .map(|p| format!("agent {} ({}) {p}", b.name, b.address)),
            );
            let all = b.totals.overall();
            agents.push(AgentSummary {
                name: b.name.clone(),
                address: b.address.clone(),
                index: k as u64,
                requests: all.counts.requests(),
                errors: all.counts.error_count(),
                dropped: all.counts.dropped,
                send_lag_p99_ms: crate::metrics::LatencyStats::of(&b.totals.send_lag).p99,
                clock_offset_ms: ms_ns(b.offset.offset_ns as i128),
                clock_uncertainty_ms: ms_ns(b.offset.uncertainty_ns as i128),
                start_offset_ms: b.started_ns.map(|s| ms_ns(s as i128 - origin_ns as i128)),
                valid: mine.is_empty(),
                problems: mine,
                out_dir: b.done.as_ref().and_then(|d| d.out_dir.clone()),
            });
        }
        let starts = || agents.iter().filter_map(|a| a.start_offset_ms);
        let earliest = starts().reduce(f64::min).unwrap_or(0.0);
        let spread = starts()
            .reduce(f64::max)
            .map_or(0.0, |latest| latest - earliest);
        let tolerance_ms = plan.start_tolerance.as_secs_f64() * 1000.0;
        if spread > tolerance_ms {
            let late = agents
                .iter()
                .filter_map(|a| Some((a, a.start_offset_ms?)))
                .filter(|(_, s)| s - earliest > tolerance_ms)
                .map(|(a, s)| format!("{} (+{s:.1} ms)", a.name))
                .collect::<Vec<_>>();
            problems.push(format!(
                "the agents started {spread:.1} ms apart, beyond distributed.start_tolerance {tolerance_ms:.0} ms: late: {}",
                late.join(", ")
            ));
        }
        Remote {
            distributed: DistributedSummary {
                agents: boards.len() as u64,
                start_spread_ms: spread,
                start_tolerance_ms: tolerance_ms,
                heartbeat_timeout_s: plan.heartbeat_timeout.as_secs_f64(),
                clock_uncertainty_ms: agents
                    .iter()
                    .map(|a| a.clock_uncertainty_ms)
                    .fold(0.0, f64::max),
            },
            agents,
            problems,
        }
    }
}
