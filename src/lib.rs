//! loadctl: drive a documented workload against a target, measure it correctly, judge it
//! against its SLOs and write reports a person and a CI job can use.
//!
//! # The data flow
//!
//! One way, top to bottom; no module reaches back up, and no two modules import each
//! other (the `arch` integration test checks it):
//!
//! ```text
//! scenario TOML ──▶ scenario::Plan ──▶ run::generator ──▶ engine (worker threads)
//!                                                             │ one interval per thread per second
//!                                                             ▼
//!          metrics::aggregate (exact merge) ──▶ metrics::sink::IntervalSink list
//!                                              (hlog writer, live progress, …)
//!                                                             │
//!          slo (objectives) + kube (expectations) + summary::compare (baseline)
//!                                                             ▼
//!          summary::Summary ──▶ report::EXPORTERS (summary.json, CSV, JUnit, HTML)
//!                                                             ▼
//!          error::Error / summary status ──▶ exit code
//! ```
//!
//! - [`scenario`]: the configuration language (`validate/`: one file per section holds
//!   its raw serde struct beside its validator, every error with line and column) and the
//!   typed plan (`plan/`, one [`scenario::Workload`]; `plan/net.rs`'s `Protocol` is what the
//!   transports read). [`template`]: the template engine, compiled at validation, rendered
//!   per request by the engine.
//! - [`engine`]: schedulers (open, closed, chat), flows and feeders, request preparation,
//!   and the transports (`engine/transport/`).
//! - [`grpc`]: gRPC calls as requests: `[grpc]` and the descriptors (`.proto` files
//!   compiled by protox, a descriptor set, or the target's reflection service, which
//!   `run/grpc.rs` asks before the load), a request's call (`grpc`, `message`, `stream`,
//!   `check.grpc_status`), the framing and reading of answers (`grpc/wire.rs`), and one
//!   error kind per status. The engine asks a call for its body (whole, or paced by
//!   `engine/body.rs`) and sends it over the HTTP/2 transport like any request.
//! - [`metrics`]: recorders, the exact merge, the interval log, the sinks, the run's
//!   seconds kept for the judge; [`export`]: the live exporters, one module per kind.
//! - [`slo`], [`summary`], [`report`]: judgement, the summary model, one file per format.
//! - [`kube`]: the HPA model, watching, expectations, the session that carries the
//!   faults out, and per-replica balance (`kube/balance.rs`: shares, new replicas, the
//!   affinity check, from `metrics/balance.rs`'s per-backend seconds, which
//!   `engine/balance.rs` records); [`fault`]: the fault kinds, one module each.
//! - [`diag`]: the ground floor of configuration: diagnostics with line and column, the
//!   bounds of every number (`diag/limits.rs`), reading a table as a kind's own struct.
//! - [`run`]: the orchestrator as stages, one file each; [`cmd`]: the command layer, one
//!   module per subcommand; [`app`] is the table from subcommand to module.
//! - [`history`]: the run store (SQLite), change points and the trend the nightly gate
//!   reads; `report/trend.rs` writes what a trend shows.
//! - [`import`]: `loadctl import har|openapi|curl`, one module per format, each returning
//!   a scenario model that renders as TOML.
//! - [`capacity`]: repeated runs searching the highest rate the SLOs hold at; [`merge`]:
//!   run folders merged exactly.
//! - [`testbed`] (the default `testbed` feature): the reference services and the
//!   simulated control plane (with the `batch/v1` Jobs and kubelet a `--kube-agents` run
//!   uses). A consumer of the library: no product module imports it; the command layer
//!   hands `run` its starter (`RunOptions::services`), and `--no-default-features`
//!   builds the product without it.
//! - One side runtime per run (`engine/runtime.rs`) carries everything beside the load's
//!   workers, handed down as a `Handle`.
//! - [`remote`]: the coordinator↔agent protocol and what a run is split into (`bundle`,
//!   `shard`); [`agent`]: `loadctl agent`, which runs its share of a run through
//!   `run::run_with`; the coordinator is `run/generator/remote.rs`.
//!
//! # Where the next capability goes
//!
//! - **A protocol carried by HTTP/2** (as gRPC is): a module like `grpc/` that owns its
//!   table, its request keys (resolved after validation reads them), its body and how
//!   its answer is read and judged; the transport stays as it is.
//! - **A protocol** (HTTP/3, …): a file in `engine/transport/` that connects, sends and
//!   pools, and its variant of `Lane` in `engine/transport/mod.rs` (the compiler lists the
//!   arms); its name, label, ALPN, streams per connection and description are the plan's
//!   `Protocol` in `scenario/plan/net.rs` (one `HttpVersion::NAMES` line registers the
//!   name `[http] version` accepts); connecting (DNS, TCP, TLS) is
//!   `engine/transport/io.rs`'s for every protocol.
//! - **An output format**: a file in `report/` implementing `report::Exporter`, and one
//!   line in `report::EXPORTERS`.
//! - **A live exporter**: a module in `export/` that owns its raw struct (its `[[export]]`
//!   table, read with `Ctx::reparse`), validation and description, implementing
//!   `export::Export` whose `build()` starts it on the run's side runtime before any load
//!   and returns its `IntervalSink`; and one line in `export::KINDS`.
//! - **Another per-second consumer** inside the product (an agent's uplink): an
//!   `IntervalSink` handed in through `run::Hooks::sinks`.
//! - **A fault**: a module in `fault/` that owns its raw struct (read from its
//!   `[[kube.fault]]` table with `Ctx::reparse`), validation, bounds, description,
//!   execution and its generic `fault::Record` (affected, outcome, detail), implementing
//!   `fault::Fault`; and one line in `fault::KINDS`. Pod choice (`selector`, `mode`,
//!   `value`) is `fault/pods.rs`'s for every kind. The console, the HTML and
//!   `summary.json` render the record without knowing the kind.
//! - **A generator**: a file in `run/generator/` implementing `Generator`, and its arm in
//!   `run/generator/mod.rs::prepare` (as `local.rs` and `remote.rs` are).
//! - **A subcommand**: a module in `cmd/`, its arm in `app.rs` and its flags in `cli.rs`.
//! - **A scenario section**: a file in `scenario/validate/` with its raw struct and
//!   validator, its field in `validate/raw.rs`, its plan type in `scenario/plan/`; its
//!   bounds are `diag/limits.rs`'s (the README's limits table is checked against them).
//!
//! The contracts (exit codes, output files, `summary.json`) are in README.md, "Exit codes"
//! and "Output files".

pub mod agent;
pub mod app;
pub mod capacity;
pub mod cli;
pub mod cmd;
pub mod diag;
pub mod engine;
pub mod error;
pub mod export;
pub mod fault;
pub mod files;
pub mod grpc;
pub mod history;
pub mod import;
pub mod kube;
pub mod merge;
pub mod metrics;
pub mod remote;
pub mod report;
pub mod run;
pub mod scenario;
pub mod slo;
pub mod summary;
pub mod template;
#[cfg(feature = "testbed")]
pub mod testbed;
pub mod web;
