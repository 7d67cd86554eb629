//! The embedded reference service a plan runs against when it names no target: which
//! service, and how it should misbehave (faults, the flash sale's stock, the chat
//! gateway's limits, seed 002's rate limits, the simulated cluster). `testbed/` serves it.

use std::time::Duration;

/// Added latency per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencySpec {
    Fixed(Duration),
    /// Uniform in `[lo, hi]`.
    Uniform(Duration, Duration),
    /// Exponential with this mean: a long tail, as real services have.
    Exponential(Duration),
}

impl LatencySpec {
    /// `5ms`, `1ms..10ms`, `exp:5ms`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let d = |t: &str| {
            humantime::parse_duration(t.trim())
                .map_err(|_| format!("`{t}` is not a duration such as 5ms"))
        };
        let s = s.trim();
        if let Some(mean) = s.strip_prefix("exp:") {
            return Ok(LatencySpec::Exponential(d(mean)?));
        }
        if let Some((lo, hi)) = s.split_once("..") {
            let (lo, hi) = (d(lo)?, d(hi)?);
            if lo > hi {
                return Err(format!("`{s}`: the lower bound is above the upper one"));
            }
            return Ok(LatencySpec::Uniform(lo, hi));
        }
        d(s).map(LatencySpec::Fixed)
            .map_err(|e| format!("{e}; latency is `5ms`, a range `1ms..10ms` or `exp:5ms`"))
    }
}

/// Misbehaviour to inject.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub latency: Option<LatencySpec>,
    /// Share of requests answered 500.
    pub error_rate: f64,
    /// `(stall, every)`: during the first `stall` of every `every`, requests wait until
    /// the stall ends, like a stop-the-world pause.
    pub stall: Option<(Duration, Duration)>,
    /// Requests per second the service holds: it behaves as one server with a fixed
    /// service time of `1 / capacity` shared by every connection, requests queued FIFO. Below
    /// it latency stays near the service time; above it the queue, and latency, grow without
    /// bound: a service whose capacity is known exactly.
    pub capacity: Option<f64>,
}

/// Everything that shapes a reference service: its faults, the flash sale's stock, and
/// whether seed 002's rate limits apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceConfig {
    pub faults: Faults,
    pub flash: FlashConfig,
    pub chat: ChatConfig,
    pub rate_limits: Option<RateLimits>,
    /// flash-sale: run it under a simulated control plane (replicas, HPA, pod kills).
    pub cluster: Option<ClusterConfig>,
}

pub const SERVICES: &str = "activities, flash-sale, chat, relay, grpc";

/// How the gateway behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatConfig {
    /// seed 004: `max_connections: 10000`.
    pub max_connections: usize,
    /// Share of deliveries silently dropped (a fault for tests).
    pub drop_rate: f64,
    /// Added before each fan-out (a slowed gateway).
    pub relay_latency: Option<LatencySpec>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_connections: 10_000,
            drop_rate: 0.0,
            relay_latency: None,
        }
    }
}

/// How the sale is stocked.
#[derive(Debug, Clone, PartialEq)]
pub struct FlashConfig {
    /// Items on sale, ids 1..=items.
    pub items: u32,
    /// Initial stock of each item.
    pub stock: u64,
    /// Read-then-write stock handling: oversells under concurrency (a deliberate bug).
    pub unsafe_stock: bool,
    /// Token signing secret; replicas that share it accept each other's tokens. `None`: a
    /// random one per process.
    pub token_secret: Option<String>,
}

impl Default for FlashConfig {
    fn default() -> Self {
        FlashConfig {
            items: 10,
            stock: 1_000,
            unsafe_stock: false,
            token_secret: None,
        }
    }
}

/// Requests allowed per window, per path class.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimits {
    pub window: Duration,
    pub global: u64,
    pub api: u64,
    pub auth: u64,
}

impl RateLimits {
    /// seed 002: global 10,000/60 s, API 5,000/60 s, auth 500/60 s.
    pub fn seed_002() -> Self {
        RateLimits {
            window: Duration::from_secs(60),
            global: 10_000,
            api: 5_000,
            auth: 500,
        }
    }
}

/// The namespace of seed 003's services, as in the kind testbed.
pub const NAMESPACE: &str = "flash-sale";

/// How the simulated cluster behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Simulated seconds per wall-clock second (1 = real time).
    pub time_scale: f64,
    /// Requests per second one Ready replica serves at 100 % CPU.
    pub replica_capacity: f64,
    /// Simulated time from a pod's creation to Ready (image pull, start, readiness probe).
    pub pod_start: Duration,
    /// Watch events kept for resuming watches; an older resourceVersion gets `410 Gone`.
    pub history: usize,
    /// A pod removed by a rollout finishes its in-flight requests first (a preStop hook
    /// waits for the endpoints); `false`: they fail until the endpoints catch up.
    pub prestop_drain: bool,
    /// How the Service picks a pod per connection; `None`: every request in turn (an L7
    /// ingress), the replicas sharing the load as one pool.
    pub balancer: Option<Strategy>,
    /// `sessionAffinity: ClientIP`: a client address stays on its pod.
    pub session_affinity: bool,
}

/// `[embedded] balancer`: seed 001's strategies, as kube-proxy and ingresses apply them
/// per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    Random,
    LeastConnections,
    IpHash,
}

impl Strategy {
    pub const NAMES: [(&'static str, Strategy); 4] = [
        ("round-robin", Strategy::RoundRobin),
        ("random", Strategy::Random),
        ("least-connections", Strategy::LeastConnections),
        ("ip-hash", Strategy::IpHash),
    ];
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            time_scale: 1.0,
            // Seed 003: 10,000 QPS over at most 20 replicas at the 65 % CPU target is
            // ~770 requests per second per replica at 100 %; one machine generating and
            // serving at once runs the same shape at a fifth of the rate.
            replica_capacity: 150.0,
            pod_start: Duration::from_secs(20),
            history: 4096,
            prestop_drain: true,
            balancer: None,
            session_affinity: false,
        }
    }
}
