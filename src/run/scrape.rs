//! Stage 5's scrapes of the target's own metrics (`[[prometheus.scrape]]`): a task on the
//! run's side runtime polls each URL every `every` from before the load starts until one last scrape after it
//! ends, keeping only the selected counter's sum and the histogram's buckets per scrape.
//! Then the points are set beside loadctl's figures for the measured window
//! (`summary.prometheus[]`). A failed scrape is counted with its reason, never the
//! target's error; a scrape is bounded in time (its period, at most 5 s; the last one,
//! after the load, 2 s) and in size.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

use crate::engine::runtime::Handle;
use crate::metrics::scraped::{self, Point};
use crate::metrics::{EndpointData, LatencyStats};
use crate::scenario::plan::prometheus::ScrapePlan;
use crate::summary::prometheus::{PrometheusSummary, ServerLatency, ServerPoint};

/// A page larger than this is not a metrics page we can use.
const MAX_PAGE: usize = 16 << 20;

/// What one scrape target yielded.
pub(super) struct ScrapeLog {
    pub points: Vec<(Instant, Point)>,
    pub scrapes: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

pub(super) struct Scraper {
    rt: Handle,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<ScrapeLog>>,
}

/// Starts polling; a scrape without an origin polls the run's target at `target`.
pub(super) fn start(rt: &Handle, plans: &[ScrapePlan], target: SocketAddr) -> Option<Scraper> {
    if plans.is_empty() {
        return None;
    }
    let plans = plans.to_vec();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = rt.spawn(async move {
        let tasks: Vec<_> = plans
            .into_iter()
            .map(|p| tokio::spawn(poll(p, target, stopped.clone())))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or(ScrapeLog {
                points: Vec::new(),
                scrapes: 0,
                errors: 1,
                last_error: Some("the scrape task failed".into()),
            }));
        }
        out
    });
    Some(Scraper {
        rt: rt.clone(),
        stop,
        task,
    })
}

impl Scraper {
    /// One last scrape each, then what they found, in plan order.
    pub(super) fn finish(self) -> Vec<ScrapeLog> {
        let _ = self.stop.send(true);
        self.rt.block_on(self.task).unwrap_or_default()
    }
}

async fn poll(
    p: ScrapePlan,
    target: SocketAddr,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> ScrapeLog {
    let mut log = ScrapeLog {
        points: Vec::new(),
        scrapes: 0,
        errors: 0,
        last_error: None,
    };
    let addr = match &p.origin {
        None => Some(target),
        Some(o) => {
            let host = o
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            (host.as_str(), o.port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
        }
    };
    let mut next = Instant::now();
    loop {
        let last = *stop.borrow();
        log.scrapes += 1;
        // The last scrape comes after the load: it may delay the run's end by 2 s at most.
        let limit = p.every.min(Duration::from_secs(if last { 2 } else { 5 }));
        let result = match addr {
            // A scrape in flight when the load stops gives way to the last one, so that
            // the run's end waits for one bounded scrape, never two.
            Some(a) if !last => tokio::select! {
                r = fetch(a, &p, limit) => r,
                _ = stop.changed() => Err("cut short: the load ended".into()),
            },
            Some(a) => fetch(a, &p, limit).await,
            None => Err("cannot resolve the scrape's host".into()),
        };
        if *stop.borrow() && !last {
            // Cut short by the end of the load: not a failure of the target's page.
            if result.is_err() {
                log.scrapes -= 1;
                continue;
            }
        }
        match result {
            Ok(point) => log.points.push((Instant::now(), point)),
            Err(e) => {
                log.errors += 1;
                log.last_error = Some(e);
            }
        }
        if last {
            return log;
        }
        next += p.every;
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn fetch(addr: SocketAddr, p: &ScrapePlan, limit: Duration) -> Result<Point, String> {
    let authority = p
        .origin
        .as_ref()
        .map_or(addr.to_string(), |o| o.authority());
    let page = tokio::time::timeout(limit, get(addr, &authority, &p.path))
        .await
        .map_err(|_| format!("no answer within {limit:?}"))??;
    let page = std::str::from_utf8(&page).map_err(|_| "the page is not UTF-8".to_string())?;
    scraped::select(page, p.requests.as_ref(), p.latency.as_ref())
}

async fn get(addr: SocketAddr, authority: &str, path: &str) -> Result<Bytes, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "text/plain;version=0.0.4")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let body = Limited::new(resp.into_body(), MAX_PAGE)
        .collect()
        .await
        .map_err(|e| format!("reading the page: {e}"))?
        .to_bytes();
    Ok(body)
}

/// The server's view of `[from, to]` (the measured window) beside loadctl's `client`.
pub(super) fn summarize(
    (p, target): (&ScrapePlan, &str),
    log: &ScrapeLog,
    (from, to): (Instant, Instant),
    client: &EndpointData,
    window_s: f64,
) -> PrometheusSummary {
    let t = |at: Instant| {
        if at >= from {
            at.duration_since(from).as_secs_f64()
        } else {
            -from.duration_since(at).as_secs_f64()
        }
    };
    // The scrapes that bracket the window: the last one before it starts, to the first
    // one after it ends.
    let start = log
        .points
        .iter()
        .rposition(|(at, _)| *at <= from)
        .unwrap_or(0);
    let end = log
        .points
        .iter()
        .position(|(at, _)| *at >= to)
        .unwrap_or(log.points.len().saturating_sub(1));
    let span = log.points.get(start..=end).unwrap_or(&[]);
    let mut requests: Option<f64> = None;
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    let mut series = Vec::new();
    for w in span.windows(2) {
        let ((a_at, a), (b_at, b)) = (&w[0], &w[1]);
        let secs = b_at.duration_since(*a_at).as_secs_f64();
        let inc = a
            .requests
            .zip(b.requests)
            .map(|(x, y)| scraped::increase(x, y));
        if let Some(i) = inc {
            *requests.get_or_insert(0.0) += i;
        }
        let bi = scraped::bucket_increase(&a.buckets, &b.buckets);
        scraped::add_buckets(&mut buckets, &bi);
        series.push(ServerPoint {
            t_s: (t(*a_at) + t(*b_at)) / 2.0,
            rps: inc.filter(|_| secs > 0.0).map(|i| i / secs),
            p99_ms: scraped::quantile(0.99, &bi).map(|s| s * 1000.0),
        });
    }
    let span_s = match (span.first(), span.last()) {
        (Some(a), Some(b)) => b.0.duration_since(a.0).as_secs_f64(),
        _ => 0.0,
    };
    let q = |x: f64| scraped::quantile(x, &buckets).map(|s| s * 1000.0);
    let answered = client.counts.status.iter().sum::<u64>();
    PrometheusSummary {
        name: p.name.clone(),
        url: p.url(target),
        scrapes: log.scrapes,
        errors: log.errors,
        last_error: log.last_error.clone(),
        span_s,
        server_requests: requests,
        server_rps: requests.filter(|_| span_s > 0.0).map(|r| r / span_s),
        server_latency_ms: q(0.5).map(|p50| ServerLatency {
            p50,
            p90: q(0.9).unwrap_or(p50),
            p95: q(0.95).unwrap_or(p50),
            p99: q(0.99).unwrap_or(p50),
        }),
        client_answered: answered,
        client_rps: if window_s > 0.0 {
            answered as f64 / window_s
        } else {
            0.0
        },
        client_p99_ms: LatencyStats::of(&client.latency).p99,
        count_gap: requests
            .filter(|_| answered > 0)
            .map(|r| (answered as f64 - r) / answered as f64),
        series,
    }
}
