//! loadctl: drive a documented workload against a target, measure it correctly, judge it
//! against its SLOs and write reports a person and a CI job can use.

pub mod app;
pub mod cli;
pub mod engine;
pub mod error;
pub mod files;
pub mod kube;
pub mod metrics;
pub mod report;
pub mod run;
pub mod scenario;
pub mod slo;
pub mod summary;
pub mod testbed;
