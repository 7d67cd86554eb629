//! The run's side runtime. Everything a run does beside the load's worker threads (the
//! control loop, the Kubernetes session and its faults, the scrapes, the live exporter,
//! the coordinator's links to its agents, the setup and verify requests, the checks before
//! the load) runs on one small multi-thread runtime that the run owns and hands down as a
//! [`Handle`]; an agent process serves on one too. The load's workers keep a
//! current-thread runtime each (`engine/mod.rs`), so the hot path never wakes a thread
//! across cores.

use std::time::Duration;

use anyhow::Context;
pub use tokio::runtime::Handle;

/// How long the end of a run waits for side tasks still running (a watch, a stalled
/// scrape, a name lookup) before it leaves them: the run's documented end holds.
const SHUTDOWN: Duration = Duration::from_millis(200);

/// The runtime; dropping it stops every task still on it within [`SHUTDOWN`].
pub struct SideRuntime(Option<tokio::runtime::Runtime>);

impl SideRuntime {
    /// A runtime of `workers` threads named `name`.
    pub fn start(name: &str, workers: usize) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name(name)
            .enable_all()
            .build()
            .with_context(|| format!("cannot start the {name} runtime"))?;
        Ok(SideRuntime(Some(rt)))
    }

    pub fn handle(&self) -> &Handle {
        self.0.as_ref().expect("present until dropped").handle()
    }
}

impl Drop for SideRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_timeout(SHUTDOWN);
        }
    }
}
