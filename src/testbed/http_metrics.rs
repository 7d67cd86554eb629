//! The reference services' own view at `/metrics`, in the Prometheus text format with the
//! two series seed 004's gateway names: `http_requests_total{method,path,status}` and the
//! histogram `http_request_duration_seconds{path}`, measured around everything the service
//! does (injected faults and the capacity queue included), so a run can set the server's
//! view beside its own. Paths are normalised (`/api/v1/activities/123/` →
//! `/api/v1/activities/:id/`) so that the series stay few.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Upper bounds (s) of the request-duration histogram, Prometheus' defaults.
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
pub struct HttpMetrics {
    /// (method, path, status) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// path → (bucket counts, sum of seconds, count).
    durations: BTreeMap<String, ([u64; BUCKETS.len()], f64, u64)>,
}

pub type Shared = Arc<Mutex<HttpMetrics>>;

impl HttpMetrics {
    pub fn observe(&mut self, method: String, path: String, status: u16, secs: f64) {
        *self
            .requests
            .entry((method, path.clone(), status))
            .or_insert(0) += 1;
        let d = self
            .durations
            .entry(path)
            .or_insert(([0; BUCKETS.len()], 0.0, 0));
        if let Some(i) = BUCKETS.iter().position(|le| secs <= *le) {
            d.0[i] += 1;
        }
        d.1 += secs;
        d.2 += 1;
    }

    /// The exposition text of both series.
    pub fn render(&self) -> String {
        let mut o = String::new();
        o.push_str(
            "# HELP http_requests_total Total HTTP requests.\n# TYPE http_requests_total counter\n",
        );
        for ((method, path, status), n) in &self.requests {
            let _ = writeln!(
                o,
                "http_requests_total{{method=\"{method}\",path=\"{path}\",status=\"{status}\"}} {n}"
            );
        }
        o.push_str("# HELP http_request_duration_seconds HTTP request duration.\n# TYPE http_request_duration_seconds histogram\n");
        for (path, (buckets, sum, count)) in &self.durations {
            let mut acc = 0;
            for (le, n) in BUCKETS.iter().zip(buckets) {
                acc += n;
                let _ = writeln!(
                    o,
                    "http_request_duration_seconds_bucket{{path=\"{path}\",le=\"{le}\"}} {acc}"
                );
            }
            let _ = writeln!(
                o,
                "http_request_duration_seconds_bucket{{path=\"{path}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                o,
                "http_request_duration_seconds_sum{{path=\"{path}\"}} {sum}"
            );
            let _ = writeln!(
                o,
                "http_request_duration_seconds_count{{path=\"{path}\"}} {count}"
            );
        }
        o
    }
}

/// `/api/v1/activities/123/` → `/api/v1/activities/:id/`.
pub fn normalise(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if !seg.is_empty() && seg.chars().all(|c| c.is_ascii_digit()) {
                ":id"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Middleware: counts and times every request but the scrape itself.
pub async fn count(State(m): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path == "/metrics" {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let secs = start.elapsed().as_secs_f64();
    m.lock().unwrap_or_else(|e| e.into_inner()).observe(
        method,
        normalise(&path),
        resp.status().as_u16(),
        secs,
    );
    resp
}

/// The `/metrics` handler.
pub async fn page(State(m): State<Shared>) -> Response {
    let text = m.lock().unwrap_or_else(|e| e.into_inner()).render();
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_the_parser_reads() {
        let mut m = HttpMetrics::default();
        m.observe(
            "GET".into(),
            normalise("/api/v1/activities/42/"),
            200,
            0.003,
        );
        m.observe("GET".into(), normalise("/api/v1/activities/7/"), 500, 0.2);
        let s = crate::metrics::promtext::parse(&m.render()).unwrap();
        let sel = crate::metrics::promtext::Selector::parse(
            r#"http_requests_total{path="/api/v1/activities/:id/"}"#,
        )
        .unwrap();
        assert_eq!(
            s.iter()
                .filter(|x| sel.matches(x, ""))
                .map(|x| x.value)
                .sum::<f64>(),
            2.0
        );
        let le = s
            .iter()
            .find(|x| {
                x.name == "http_request_duration_seconds_bucket" && x.label("le") == Some("0.005")
            })
            .unwrap();
        assert_eq!(le.value, 1.0);
    }
}
