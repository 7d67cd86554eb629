//! loadctl: drive a documented workload against a target, measure it correctly, judge it
//! against its SLOs and write reports a person and a CI job can use.
//!
//! Data flows one way: scenario (TOML → [`scenario::Plan`]) → [`engine`] → [`metrics`] →
//! [`slo`] verdict → [`report`]; [`run`] wires the stages together and [`app`] serves the
//! command line. See DESIGN.md for the contracts (exit codes, output files).

pub mod app;
pub mod cli;
pub mod engine;
pub mod kube;
pub mod metrics;
pub mod report;
pub mod run;
pub mod scenario;
pub mod slo;
pub mod testbed;
