//! The coordinator↔agent protocol of a distributed run: what `loadctl run --agents` and
//! `loadctl agent` say to each other, both sides' shared vocabulary and nothing else (the
//! coordinator is `run/generator/remote.rs`, the agent `agent/`).
//!
//! A connection is a WebSocket carrying one JSON message per text message ([`frame`]),
//! so that it passes through the Kubernetes API server's pod proxy unchanged. The
//! coordinator opens it and speaks first:
//!
//! 1. `hello` (protocol, loadctl version, token) → `welcome` or `refused` (a wrong token,
//!    another version, an agent already busy);
//! 2. `prepare` (the scenario with overrides applied, the files it names, the environment
//!    values it read, the agent's share `K/N`) → `ready` once the agent has parsed it and
//!    is waiting at the start line, or `failed`;
//! 3. `ping` ×8 → `pong` with the agent's wall clock: the offset estimate ([`clock`]);
//! 4. `start` at an instant of the agent's own clock → `started` (when its schedule really
//!    began), then one `interval` per second (in the interval log's own text, so the merge
//!    is exact), a `beat` every half second, and `done` at the end; the coordinator beats
//!    every half second too;
//! 5. `stop` (drain, as Ctrl-C does) or `abort` at any time.
//!
//! A closed connection or a silent agent (no frame within the heartbeat timeout) is a lost
//! agent; an agent whose coordinator is gone (closed, or silent for the heartbeat timeout:
//! a hung host or a cut link sends no FIN) stops its load.

pub mod bundle;
pub mod clock;
pub mod frame;
pub mod shard;
pub mod tls;
pub mod token;

use serde::{Deserialize, Serialize};

/// Bumped whenever a message changes shape; both sides must agree.
pub const PROTOCOL: u32 = 2;

/// This build's version, which both sides must share too (the engine's behaviour is part
/// of the figures).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The port `loadctl agent` listens on by default.
pub const DEFAULT_PORT: u16 = 7700;

/// How often an agent says it is alive.
pub const BEAT: std::time::Duration = std::time::Duration::from_millis(500);

/// Coordinator → agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToAgent {
    Hello {
        protocol: u32,
        version: String,
        token: String,
    },
    Prepare(Box<Prepare>),
    Ping {
        id: u32,
    },
    /// Start the schedule at this instant of the agent's wall clock (ns since the epoch).
    Start {
        at_ns: u64,
    },
    /// Stop sending; in-flight requests complete, then `done`.
    Stop,
    /// Drop what is in flight now.
    Abort,
    /// The coordinator is alive (every [`BEAT`] once the run has started): an agent that
    /// hears nothing for the heartbeat timeout stops its load by itself.
    Beat,
}

/// The run an agent takes part in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prepare {
    /// The scenario's TOML with the command line's overrides applied and every file
    /// reference pointing into `files`.
    pub scenario: String,
    pub files: Vec<SentFile>,
    /// The environment values the scenario read on the coordinator (`{{env.X}}`).
    pub env: Vec<(String, String)>,
    /// The embedded reference service the coordinator started, when the scenario names no
    /// target: the agent accepts it only on loopback.
    pub embedded_target: Option<String>,
    /// This agent's share: generator `index` of `of`.
    pub index: u64,
    pub of: u64,
}

/// A file the scenario names, sent whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentFile {
    /// The name the scenario refers to it by (`files/<n>-<base name>`).
    pub name: String,
    /// Base64.
    pub data: String,
}

/// Agent → coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToCoordinator {
    Welcome {
        protocol: u32,
        version: String,
        /// The agent's own name (`--name`, else its host name).
        name: String,
    },
    Refused {
        reason: String,
    },
    Ready {
        threads: usize,
    },
    /// The scenario or the run failed on the agent; `code` is the exit code the agent's
    /// own `loadctl run` would have returned.
    Failed {
        error: String,
        code: u8,
    },
    Pong {
        id: u32,
        now_ns: u64,
    },
    /// The schedule started at this instant of the agent's clock (`done` then says when
    /// the first request was really sent).
    Started {
        origin_ns: u64,
    },
    Interval {
        idx: i64,
        /// The second in the interval log's text (`metrics::hlog::encode`).
        log: String,
    },
    Beat,
    Done(Box<Done>),
}

/// An agent's end of the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {
    /// The agent held its share: no dropped or late sends beyond the scenario's tolerance.
    pub generator_valid: bool,
    /// Why it could not, as its own verdict says.
    pub generator_problems: Vec<String>,
    /// A feeder that ran out and ended the agent's load early.
    pub exhausted: Option<String>,
    /// The agent's own run folder, when it keeps them (`--keep-runs`).
    pub out_dir: Option<String>,
    /// A chat run's delivery counters.
    #[serde(default)]
    pub chat: Option<crate::metrics::chat::ChatTotals>,
    /// When its first request was really sent (agent's clock, ns since the epoch).
    #[serde(default)]
    pub first_send_ns: Option<u64>,
    /// `[balance] affinity`: each client's backends, as the agent saw them.
    #[serde(default)]
    pub affinity: Option<crate::metrics::balance::AffinityWire>,
}

/// Nanoseconds since the epoch of `t` (0 before it).
pub fn unix_ns(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64)
}
