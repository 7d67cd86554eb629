//! The validated plan: everything a run needs, nothing it must re-check. Types only, apart
//! from their validators (`scenario/validate/`); figures derived from a plan (planned
//! requests, peak rate, connections needed) are methods here, written once.

pub mod balance;
pub mod capacity;
pub mod chat;
pub mod compare;
pub mod distributed;
pub mod embedded;
pub mod flow;
pub mod kube;
pub mod load;
pub mod net;
pub mod prometheus;
pub mod request;
pub mod schedule;
pub mod target;

use std::time::Duration;

use self::capacity::CapacityPlan;
use self::chat::ChatPlan;
use self::compare::Tolerances;
use self::flow::{CheckedRequest, FeederPlan, FlowPlan};
use self::kube::KubePlan;
use self::load::{GeneratorPlan, LoadPlan};
use self::net::{Protocol, TlsPlan};
use self::request::RequestPlan;
use self::target::TargetSpec;
use crate::slo::Slo;

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub description: String,
    pub target: TargetSpec,
    pub load: LoadPlan,
    /// Traffic before the measured window; excluded from totals and SLOs.
    pub warmup: Duration,
    pub timeout: Duration,
    pub generator: GeneratorPlan,
    /// What one iteration does.
    pub workload: Workload,
    pub slos: Vec<Slo>,
    pub compare: Tolerances,
    pub feeders: Vec<FeederPlan>,
    /// Variable names by index: feeder columns, then extracted values.
    pub vars: Vec<String>,
    /// Declared outcome names by index.
    pub outcomes: Vec<String>,
    /// Sent once before the load; a failure stops the run before any load.
    pub setup: Vec<CheckedRequest>,
    /// Sent once after the load; a failed check fails the run.
    pub verify: Vec<CheckedRequest>,
    /// Kubernetes objects to watch and faults to inject during the run.
    pub kube: Option<KubePlan>,
    /// The HTTP version and connection reuse (`[http]`).
    pub http: Protocol,
    /// Verification and client identity for `https://` and `wss://` origins (`[tls]`).
    pub tls: TlsPlan,
    /// How `loadctl capacity` searches (`[capacity]`); `run` ignores it.
    pub capacity: CapacityPlan,
    /// The target's own metrics to scrape during the run (`[[prometheus.scrape]]`).
    pub scrapes: Vec<prometheus::ScrapePlan>,
    /// This run is one generator of several (`--shard K/N`); `None`: the whole load.
    pub shard: Option<load::Shard>,
    /// How a run over agents is judged, and the Job `--kube-agents` creates.
    pub distributed: distributed::DistributedPlan,
    /// Live exporters (`[[export]]`), each a module of [`crate::export`].
    pub exports: Vec<ExportPlan>,
    /// Which backend served each response, and the affinity to check (`[balance]`).
    pub balance: Option<balance::BalancePlan>,
    /// Local addresses the connections bind, in turn (`[load] source_ips`); empty: the
    /// system's choice.
    pub source_ips: balance::SourceIps,
    /// The gRPC services the requests call (`[grpc]`).
    pub grpc: Option<crate::grpc::Services>,
}

/// One `[[export]]`. Two are the same when they read the same: a kind's description names
/// every parameter it was given.
#[derive(Debug, Clone)]
pub struct ExportPlan(pub std::sync::Arc<dyn crate::export::Export>);

impl PartialEq for ExportPlan {
    fn eq(&self, other: &Self) -> bool {
        self.0.describe() == other.0.describe()
    }
}

/// What an iteration of the load is: exactly one of these per plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    /// One request per iteration, picked by weight (`[[requests]]`).
    Requests(Vec<RequestPlan>),
    /// Every step in order per iteration (`[flow]` + `[[flow.steps]]`).
    Flow {
        flow: FlowPlan,
        steps: Vec<RequestPlan>,
    },
    /// WebSocket chat fan-out (`[chat]`, with the connections load model).
    Chat(Box<ChatPlan>),
}

impl Workload {
    /// The HTTP requests of an iteration: the weighted mix or the flow's steps (none for chat).
    pub fn requests(&self) -> &[RequestPlan] {
        match self {
            Workload::Requests(r) => r,
            Workload::Flow { steps, .. } => steps,
            Workload::Chat(_) => &[],
        }
    }

    pub fn requests_mut(&mut self) -> &mut [RequestPlan] {
        match self {
            Workload::Requests(r) => r,
            Workload::Flow { steps, .. } => steps,
            Workload::Chat(_) => &mut [],
        }
    }

    /// What the rate counts: `iterations` of a flow, `requests` otherwise.
    pub fn unit(&self) -> &'static str {
        match self {
            Workload::Flow { .. } => "iterations",
            Workload::Requests(_) | Workload::Chat(_) => "requests",
        }
    }
}

impl Plan {
    /// The names the recorders keep figures under, in recorder order.
    pub fn endpoint_names(&self) -> Vec<String> {
        match &self.workload {
            Workload::Chat(_) => chat::ENDPOINTS.iter().map(|n| n.to_string()).collect(),
            w => w.requests().iter().map(|r| r.name.clone()).collect(),
        }
    }

    /// Whether the judgement reads the run's seconds again after the load: SLOs judged
    /// per window (`every`), Kubernetes (fault windows, HPA levels) and `[balance]`. Only
    /// then does the run keep them in memory (a few KiB per second of run).
    pub fn keeps_seconds(&self) -> bool {
        self.kube.is_some() || self.balance.is_some() || self.slos.iter().any(|s| s.every.is_some())
    }

    /// Warmup plus the measured window: how long the load is planned to last.
    pub fn run_length(&self) -> Duration {
        self.warmup + self.load.duration()
    }

    /// Open model: iterations planned in the measured window (the warmup's excluded).
    pub fn planned_requests(&self) -> Option<u64> {
        let LoadPlan::Open { schedule, .. } = &self.load else {
            return None;
        };
        let total = schedule.total_requests();
        let warm = (schedule.count_before(self.warmup.as_secs_f64()).ceil() as u64).min(total);
        Some(match self.shard {
            Some(s) => s.share(warm, total),
            None => total - warm,
        })
    }

    /// Open model: iterations planned during the warmup.
    pub fn planned_in_warmup(&self) -> Option<u64> {
        let LoadPlan::Open { schedule, .. } = &self.load else {
            return None;
        };
        let warm = (schedule.count_before(self.warmup.as_secs_f64()).ceil() as u64)
            .min(schedule.total_requests());
        Some(self.shard.map_or(warm, |s| s.share(0, warm)))
    }

    /// Open model: what the schedule plans in each second (seconds from the measured
    /// window's start, warmup negative). Empty for the other models, which plan no rate.
    pub fn planned_per_second(&self) -> Vec<(i64, f64)> {
        let LoadPlan::Open { schedule, .. } = &self.load else {
            return Vec::new();
        };
        let warmup = self.warmup.as_secs_f64();
        let end = warmup + self.load.duration().as_secs_f64();
        let first = -(warmup.ceil() as i64);
        let last = self.load.duration().as_secs_f64().ceil() as i64;
        (first..last)
            .map(|idx| {
                let from = (warmup + idx as f64).max(0.0);
                let to = (warmup + idx as f64 + 1.0).min(end);
                let n = schedule.count_before(to) - schedule.count_before(from);
                (idx, n / self.shard.map_or(1.0, |s| s.of as f64))
            })
            .collect()
    }

    /// Open model: the rate planned `elapsed_s` after the load's start.
    pub fn planned_rate_at(&self, elapsed_s: f64) -> Option<f64> {
        match &self.load {
            LoadPlan::Open { schedule, .. } => Some(schedule.rate_at(elapsed_s)),
            LoadPlan::Closed { .. } | LoadPlan::Connections { .. } => None,
        }
    }

    /// Open-file descriptors the run needs beyond the usual: a chat run holds one socket
    /// per connection, and as many again when the embedded gateway runs in-process.
    pub fn open_files_needed(&self) -> Option<u64> {
        match (&self.workload, &self.load) {
            (Workload::Chat(_), LoadPlan::Connections { connections, .. }) => {
                let embedded = matches!(self.target, TargetSpec::Embedded(_));
                Some((*connections as u64) * if embedded { 2 } else { 1 } + 512)
            }
            _ => None,
        }
    }
}
