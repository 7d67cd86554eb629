//! `--metrics-listen ADDR`: serves the run's live figures (`metrics/exposition.rs`) at
//! `/metrics` while the run goes, from a thread of its own. The address is bound before
//! any load, so a taken or invalid one is a setup error (exit 2); the server stops with
//! the run.

use std::net::SocketAddr;

use anyhow::Context;
use axum::routing::get;
use axum::Router;

use crate::metrics::exposition::Page;

/// The running server; dropping it stops it.
pub(super) struct LiveServer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub(super) fn start(addr: SocketAddr, page: Page) -> crate::error::Result<LiveServer> {
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("--metrics-listen {addr}: cannot listen there"))
        .map_err(crate::error::Error::Setup)?;
    listener
        .set_nonblocking(true)
        .context("--metrics-listen: cannot configure the socket")
        .map_err(crate::error::Error::Setup)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("loadctl-metrics".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let app = Router::new().route(
                    "/metrics",
                    get(move || {
                        let text = page.lock().unwrap_or_else(|e| e.into_inner()).clone();
                        async move {
                            (
                                [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
                                text,
                            )
                        }
                    }),
                );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })
        .context("cannot start the metrics thread")
        .map_err(crate::error::Error::Setup)?;
    Ok(LiveServer {
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
