//! Reference services that loadctl runs embedded (no target given) and that the kind
//! testbed images serve: seed 000's volunteer platform, seed 003's flash sale and seed
//! 004's chat gateway.
//!
//! Each service is an axum router over a deterministic in-memory dataset, wrapped in a
//! fault layer (added latency, error share, periodic stall) so tests and demos can make it
//! misbehave in known ways, and optionally in seed 002's rate limits. Health endpoints
//! bypass both, as a real probe path would.

mod activities;
pub mod chat;
pub mod cluster;
pub mod flash_sale;
pub mod grpc;
pub mod http_metrics;
mod limits;
pub mod relay;
pub mod serve;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

pub use crate::scenario::plan::embedded::{Faults, LatencySpec, ServiceConfig, SERVICES};
pub use activities::router as activities_router;
pub use chat::ChatConfig;
pub use flash_sale::{password_for, FlashConfig};
pub use limits::RateLimits;

impl LatencySpec {
    pub(crate) fn sample(&self) -> Duration {
        match *self {
            LatencySpec::Fixed(d) => d,
            LatencySpec::Uniform(lo, hi) => lo + (hi - lo).mul_f64(fastrand::f64()),
            LatencySpec::Exponential(mean) => {
                // 1 - U is in (0, 1], so the logarithm is finite.
                mean.mul_f64(-(1.0 - fastrand::f64()).ln())
            }
        }
    }
}

#[derive(Clone)]
struct FaultState {
    faults: Arc<Faults>,
    epoch: Instant,
    /// `capacity`: when the one simulated server is next free.
    next_free: Arc<std::sync::Mutex<Instant>>,
}

impl FaultState {
    /// With a capacity: when this request's turn on the one server ends (FIFO, a fixed
    /// service time each). The time is computed, not slept out request by request, so the
    /// throughput is exact whatever the timer's granularity.
    fn served_at(&self) -> Option<Instant> {
        let cap = self.faults.capacity?;
        let service = Duration::from_secs_f64(1.0 / cap);
        let now = Instant::now();
        let mut next = self.next_free.lock().unwrap_or_else(|e| e.into_inner());
        let start = (*next).max(now);
        *next = start + service;
        Some(*next)
    }
}

/// The response header that names the replica that answered (`[balance]` reads it).
pub const SERVED_BY: &str = "x-served-by";

/// Names this process in `X-Served-By`: the pod name the kind manifests hand it through
/// the downward API (`POD_NAME`), else `HOSTNAME` (a pod's hostname is its name).
async fn served_by(
    State(name): State<axum::http::HeaderValue>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    resp.headers_mut().insert(SERVED_BY, name);
    resp
}

fn this_replica() -> axum::http::HeaderValue {
    std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .and_then(|n| axum::http::HeaderValue::from_str(&n).ok())
        .unwrap_or(axum::http::HeaderValue::from_static("loadctl-embedded"))
}

fn is_health(path: &str) -> bool {
    path.ends_with("/health/") || path == "/health" || path == "/metrics"
}

impl FaultState {
    /// Waits as the faults say: out a periodic stall, for the simulated server's turn,
    /// then the added latency.
    async fn delay(&self) {
        let f = &self.faults;
        if let Some((stall, every)) = f.stall {
            let since = self.epoch.elapsed();
            let phase = Duration::from_nanos((since.as_nanos() % every.as_nanos()) as u64);
            if phase < stall {
                tokio::time::sleep(stall - phase).await;
            }
        }
        if let Some(at) = self.served_at() {
            tokio::time::sleep_until(at.into()).await;
        }
        if let Some(lat) = &f.latency {
            tokio::time::sleep(lat.sample()).await;
        }
    }

    /// Whether this request is one of the `error_rate` answered with an error.
    fn fails(&self) -> bool {
        self.faults.error_rate > 0.0 && fastrand::f64() < self.faults.error_rate
    }
}

async fn inject(State(st): State<FaultState>, req: Request, next: Next) -> Response {
    if is_health(req.uri().path()) {
        return next.run(req).await;
    }
    st.delay().await;
    if st.fails() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "application/json")],
            r#"{"detail":"injected error"}"#,
        )
            .into_response();
    }
    next.run(req).await
}

/// The named reference service with faults (and rate limits, if asked) applied, and the
/// simulated cluster it runs in when the configuration asks for one.
pub fn router(
    service: &str,
    cfg: &ServiceConfig,
) -> Result<(Router, Option<Arc<cluster::Cluster>>), String> {
    if cfg.cluster.is_some() && service != "flash-sale" {
        return Err(format!(
            "a simulated cluster is available for the flash-sale service only, not `{service}`"
        ));
    }
    let state = FaultState {
        faults: Arc::new(cfg.faults.clone()),
        epoch: Instant::now(),
        next_free: Arc::new(std::sync::Mutex::new(Instant::now())),
    };
    if service == "grpc" {
        // gRPC answers its faults with gRPC statuses, not HTTP ones.
        let app = grpc::router(grpc::Stats::default(), state).layer(
            axum::middleware::from_fn_with_state(this_replica(), served_by),
        );
        return Ok((app, None));
    }
    let base = match service {
        "activities" => activities::router(),
        "flash-sale" => flash_sale::router(cfg.flash.clone()),
        "chat" => chat::router(cfg.chat.clone()),
        "relay" => relay::router(cfg.chat.clone()),
        other => {
            return Err(format!(
                "unknown reference service `{other}`; available: {SERVICES}"
            ))
        }
    };
    let mut app = base
        .layer(axum::middleware::from_fn_with_state(state, inject))
        .layer(axum::middleware::from_fn_with_state(
            this_replica(),
            served_by,
        ));
    if matches!(service, "activities" | "flash-sale") {
        // The service's own view, around everything it does (the chat gateways keep theirs).
        let m = http_metrics::Shared::default();
        app = app
            .route(
                "/metrics",
                axum::routing::get(http_metrics::page).with_state(m.clone()),
            )
            .layer(axum::middleware::from_fn_with_state(m, http_metrics::count));
    }
    if let Some(l) = &cfg.rate_limits {
        // Outermost: a throttled request costs the service nothing else.
        app = app.layer(axum::middleware::from_fn_with_state(
            Arc::new(limits::Limiter::new(l.clone())),
            limits::enforce,
        ));
    }
    let sim = cfg.cluster.clone().map(cluster::Cluster::new);
    if let Some(c) = &sim {
        // Outermost: requests a rate limit rejects still reach (and load) a replica.
        app = app.layer(axum::middleware::from_fn_with_state(
            c.clone(),
            cluster::load_layer,
        ));
    }
    Ok((app, sim))
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small writes go out at once (a gRPC stream's headers, then each message): with
    // Nagle's algorithm the second waits for the client's delayed ACK, 40 ms on Linux.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // The peer address identifies the connection: the simulated Service picks a pod per
    // connection with it.
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A reference service running on its own runtime threads, for the embedded default and
/// for tests. Dropping it stops the service.
pub struct Embedded {
    pub addr: SocketAddr,
    /// The simulated control plane's API, when the service runs under one.
    pub kube_api: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Embedded {
    /// Starts `service` on 127.0.0.1 with a free port.
    pub fn start(service: &str, cfg: &ServiceConfig, threads: usize) -> std::io::Result<Embedded> {
        let (router, sim) = router(service, cfg)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        Self::spawn(router, sim, threads)
    }

    /// Serves `router` on 127.0.0.1 with a free port.
    pub fn from_router(router: Router, threads: usize) -> std::io::Result<Embedded> {
        Self::spawn(router, None, threads)
    }

    fn spawn(
        router: Router,
        sim: Option<Arc<cluster::Cluster>>,
        threads: usize,
    ) -> std::io::Result<Embedded> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("testbed")
            .enable_all()
            .build()?;
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let kube_api = match &sim {
            Some(c) => {
                let api = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
                let api_addr = api.local_addr()?;
                let _guard = rt.enter();
                c.spawn_controller();
                let app = c.api_router();
                // Ends with the runtime, when the service stops.
                rt.spawn(async move { axum::serve(api, app).await });
                Some(api_addr)
            }
            None => None,
        };
        let thread = std::thread::Builder::new()
            .name("testbed-main".into())
            .spawn(move || {
                let _ = rt.block_on(serve(listener, router, async {
                    let _ = stopped.await;
                }));
                // In-flight handlers (a stalled request) must not keep the process alive.
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Embedded {
            addr,
            kube_api,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// The reference services as a run starts them ([`crate::run::RunOptions::services`]).
pub fn services() -> crate::run::Services {
    crate::run::Services(Arc::new(Reference))
}

struct Reference;

impl crate::run::StartService for Reference {
    fn start(
        &self,
        plan: &crate::scenario::plan::target::EmbeddedPlan,
        threads: usize,
    ) -> anyhow::Result<Box<dyn crate::run::Service>> {
        Ok(Box::new(Embedded::start(
            &plan.service,
            &plan.config,
            threads,
        )?))
    }
}

impl crate::run::Service for Embedded {
    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn kubeconfig(&self) -> Option<String> {
        self.kube_api.map(cluster::Cluster::kubeconfig)
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_specs() {
        assert_eq!(
            LatencySpec::parse("5ms"),
            Ok(LatencySpec::Fixed(Duration::from_millis(5)))
        );
        assert_eq!(
            LatencySpec::parse("1ms..10ms"),
            Ok(LatencySpec::Uniform(
                Duration::from_millis(1),
                Duration::from_millis(10)
            ))
        );
        assert_eq!(
            LatencySpec::parse("exp:5ms"),
            Ok(LatencySpec::Exponential(Duration::from_millis(5)))
        );
        assert!(LatencySpec::parse("10ms..1ms").is_err());
        assert!(LatencySpec::parse("soon").unwrap_err().contains("exp:5ms"));
    }

    #[test]
    fn samples_stay_in_bounds() {
        let u = LatencySpec::Uniform(Duration::from_millis(1), Duration::from_millis(3));
        for _ in 0..1000 {
            let s = u.sample();
            assert!(s >= Duration::from_millis(1) && s <= Duration::from_millis(3));
        }
        let e = LatencySpec::Exponential(Duration::from_millis(5));
        let mean: f64 = (0..20_000).map(|_| e.sample().as_secs_f64()).sum::<f64>() / 20_000.0;
        assert!((mean - 0.005).abs() < 0.0005, "mean {mean}");
    }
}
