//! Kubernetes, as loadctl judges it: the HorizontalPodAutoscaler's decision rule
//! ([`hpa`]) and the expectations a scenario states about an autoscaler's timeline
//! ([`expect`]), both pure; the watchers that record a timeline during a run ([`watch`]);
//! the session that connects, warns, watches and kills pods ([`session`]); and the step
//! from what was seen to the summary's `kube` section ([`outcome`]), each fault judged
//! before, during and after its window ([`stretch`]).

pub mod agents;
pub mod balance;
pub mod expect;
pub mod hpa;
pub mod outcome;
pub mod session;
pub mod stretch;
pub mod watch;
