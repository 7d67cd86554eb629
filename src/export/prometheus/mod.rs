//! `prometheus`: serves the run's live figures at `http://LISTEN/metrics` in the Prometheus
//! text exposition format while the run goes, so an existing Prometheus and Grafana can
//! watch a long soak. `--metrics-listen ADDR` is this kind on the command line.
//!
//! ```toml
//! [[export]]
//! kind = "prometheus"
//! listen = "127.0.0.1:9464"
//! ```
//!
//! The address is bound in `build()`, before any load: a taken or invalid one stops the
//! run there (exit 2). The server stops once the run's reports are written.

pub(super) mod page;

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::{config, serve, Build, Export, Running, Stats};
use crate::diag::Ctx;

/// The table as written; `kind` is read by the common part of `[[export]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "kind")]
    _kind: serde::de::IgnoredAny,
    listen: Option<Spanned<String>>,
}

/// Serve `/metrics` at `listen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prometheus {
    pub listen: SocketAddr,
}

pub(super) fn validate(
    cx: &mut Ctx<'_>,
    span: Range<usize>,
    field: &str,
) -> Option<Arc<dyn Export>> {
    let r: Raw = cx.reparse(span.clone(), field)?;
    let field = format!("{field}.listen");
    match &r.listen {
        Some(l) => config::listen(cx, l, field, "127.0.0.1:9464")
            .map(|listen| Arc::new(Prometheus { listen }) as Arc<dyn Export>),
        None => {
            cx.err(
                span,
                field,
                "missing; where to serve /metrics (listen = \"127.0.0.1:9464\")",
            );
            None
        }
    }
}

/// `--metrics-listen ADDR`: this kind from the command line.
pub fn listen(addr: SocketAddr) -> Arc<dyn Export> {
    Arc::new(Prometheus { listen: addr })
}

impl Export for Prometheus {
    fn kind(&self) -> &'static str {
        "prometheus"
    }

    fn describe(&self) -> String {
        format!("prometheus at http://{}/metrics", self.listen)
    }

    fn build(&self, cx: &Build<'_>) -> anyhow::Result<Running> {
        let page = page::Page::default();
        let stats = Arc::new(Stats::default());
        let served = (page.clone(), stats.clone());
        let handler: serve::Handler = Arc::new(move |head| {
            if head.uri.path() != "/metrics" {
                return serve::answer(404, "text/plain", "loadctl serves /metrics\n");
            }
            // A scrape served is what this kind sends.
            served
                .1
                .sent
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let text = served.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
            serve::answer(200, "text/plain; version=0.0.4; charset=utf-8", text)
        });
        let server = serve::start(cx.rt, self.listen, handler)?;
        Ok(Running {
            sink: Box::new(page::ExpositionSink::new(
                cx.scenario,
                cx.names.to_vec(),
                page,
            )),
            stats,
            keep: Box::new(server),
            end: None,
        })
    }
}
