//! Kubernetes, as loadctl judges it: the HorizontalPodAutoscaler's decision rule
//! ([`hpa`]) and the expectations a scenario states about an autoscaler's timeline
//! ([`expect`]). Both are pure, clocked by their caller.
//!
//! Not yet wired to a run: watching a cluster during a run, the `[kube]` scenario section,
//! faults and the simulated control plane are the open Kubernetes issue's work; these are
//! the parts of it that need no cluster to be right.

pub mod expect;
pub mod hpa;
pub mod outcome;
pub mod session;
pub mod watch;
