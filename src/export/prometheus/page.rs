//! The page of the `prometheus` exporter: live figures in the Prometheus text exposition
//! format (`[[export]] kind = "prometheus"`, `--metrics-listen`), so an
//! existing Prometheus and Grafana can watch a long soak as it goes. A sink keeps running
//! totals from each final second (counters never go down; the latency histogram's buckets
//! are cumulative over the run) and renders the page once a second; a scrape reads the
//! last page. Names are `loadctl_*`, one series per request name; warmup seconds count too
//! (a live view shows what is sent, the summary judges the measured window).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use crate::metrics::sink::{Final, IntervalSink};
use crate::metrics::{EndpointData, ErrorKind};

/// Latency buckets (seconds): 1 ms to 10 s, as Prometheus client defaults run.
pub const BUCKETS_S: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The page a scrape gets; empty until the first second.
pub type Page = Arc<Mutex<String>>;

#[derive(Default, Clone)]
struct Totals {
    requests: u64,
    ok: u64,
    dropped: u64,
    errors: [u64; crate::metrics::ERROR_KINDS],
    /// Per bucket of [`BUCKETS_S`] (not yet cumulative), then +Inf.
    buckets: [u64; BUCKETS_S.len() + 1],
    sum_s: f64,
}

pub struct ExpositionSink {
    scenario: String,
    names: Vec<String>,
    totals: Vec<Totals>,
    in_flight: u64,
    send_lag_p99_s: f64,
    page: Page,
}

impl ExpositionSink {
    pub fn new(scenario: &str, names: Vec<String>, page: Page) -> Self {
        ExpositionSink {
            scenario: scenario.into(),
            totals: vec![Totals::default(); names.len()],
            names,
            in_flight: 0,
            send_lag_p99_s: 0.0,
            page,
        }
    }

    fn add(t: &mut Totals, e: &EndpointData) {
        let c = &e.counts;
        t.requests += c.requests();
        t.ok += c.ok;
        t.dropped += c.dropped;
        for (a, b) in t.errors.iter_mut().zip(&c.errors) {
            *a += b;
        }
        for v in e.latency.iter_recorded() {
            let s = v.value_iterated_to() as f64 / 1e6;
            let n = v.count_at_value();
            let i = BUCKETS_S
                .iter()
                .position(|b| s <= *b)
                .unwrap_or(BUCKETS_S.len());
            t.buckets[i] += n;
            t.sum_s += s * n as f64;
        }
    }

    /// The exposition text of the totals so far.
    pub fn render(&self) -> String {
        let mut o = String::with_capacity(4096);
        let sc = escape(&self.scenario);
        let _ = writeln!(o, "# HELP loadctl_run_info The running scenario.\n# TYPE loadctl_run_info gauge\nloadctl_run_info{{scenario=\"{sc}\"}} 1");
        let family = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut o,
            "loadctl_requests_total",
            "counter",
            "Completed requests (ok, declared outcomes and errors).",
        );
        for (n, t) in self.names.iter().zip(&self.totals) {
            let _ = writeln!(
                o,
                "loadctl_requests_total{{request=\"{}\"}} {}",
                escape(n),
                t.requests
            );
        }
        family(
            &mut o,
            "loadctl_ok_total",
            "counter",
            "Requests answered as expected.",
        );
        for (n, t) in self.names.iter().zip(&self.totals) {
            let _ = writeln!(o, "loadctl_ok_total{{request=\"{}\"}} {}", escape(n), t.ok);
        }
        family(
            &mut o,
            "loadctl_errors_total",
            "counter",
            "Failed requests by kind.",
        );
        for (n, t) in self.names.iter().zip(&self.totals) {
            // The gRPC statuses appear once they occur: an HTTP run keeps its twelve series.
            for &k in ErrorKind::ALL
                .iter()
                .filter(|k| k.listed(t.errors[**k as usize]))
            {
                let _ = writeln!(
                    o,
                    "loadctl_errors_total{{request=\"{}\",kind=\"{}\"}} {}",
                    escape(n),
                    k.name(),
                    t.errors[k as usize]
                );
            }
        }
        family(
            &mut o,
            "loadctl_dropped_total",
            "counter",
            "Requests due while max_in_flight were outstanding: never sent.",
        );
        for (n, t) in self.names.iter().zip(&self.totals) {
            let _ = writeln!(
                o,
                "loadctl_dropped_total{{request=\"{}\"}} {}",
                escape(n),
                t.dropped
            );
        }
        family(
            &mut o,
            "loadctl_in_flight",
            "gauge",
            "Requests due and not complete at the last second.",
        );
        let _ = writeln!(o, "loadctl_in_flight {}", self.in_flight);
        family(
            &mut o,
            "loadctl_send_lag_p99_seconds",
            "gauge",
            "The generator's own lateness, p99 of the last second.",
        );
        let _ = writeln!(o, "loadctl_send_lag_p99_seconds {}", self.send_lag_p99_s);
        family(
            &mut o,
            "loadctl_latency_seconds",
            "histogram",
            "Latency from the intended start (open model) or the send.",
        );
        for (n, t) in self.names.iter().zip(&self.totals) {
            let n = escape(n);
            let mut cum = 0;
            for (b, c) in BUCKETS_S.iter().zip(&t.buckets) {
                cum += c;
                let _ = writeln!(
                    o,
                    "loadctl_latency_seconds_bucket{{request=\"{n}\",le=\"{b}\"}} {cum}"
                );
            }
            cum += t.buckets[BUCKETS_S.len()];
            let _ = writeln!(
                o,
                "loadctl_latency_seconds_bucket{{request=\"{n}\",le=\"+Inf\"}} {cum}"
            );
            let _ = writeln!(
                o,
                "loadctl_latency_seconds_sum{{request=\"{n}\"}} {}",
                t.sum_s
            );
            let _ = writeln!(o, "loadctl_latency_seconds_count{{request=\"{n}\"}} {cum}");
        }
        o
    }
}

/// One sample of the live figures: a metric name, its labels, the value now.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl ExpositionSink {
    /// Every series of the page, as samples (what a push exporter sends).
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        let mut push = |name, labels, value| {
            out.push(Sample {
                name,
                labels,
                value,
            })
        };
        for (n, t) in self.names.iter().zip(&self.totals) {
            let req = || vec![("request", n.clone())];
            push("loadctl_requests_total", req(), t.requests as f64);
            push("loadctl_ok_total", req(), t.ok as f64);
            push("loadctl_dropped_total", req(), t.dropped as f64);
            for &k in ErrorKind::ALL
                .iter()
                .filter(|k| k.listed(t.errors[**k as usize]))
            {
                let mut l = req();
                l.push(("kind", k.name().to_string()));
                push("loadctl_errors_total", l, t.errors[k as usize] as f64);
            }
            let mut cum = 0;
            for (b, c) in BUCKETS_S.iter().zip(&t.buckets) {
                cum += c;
                let mut l = req();
                l.push(("le", b.to_string()));
                push("loadctl_latency_seconds_bucket", l, cum as f64);
            }
            cum += t.buckets[BUCKETS_S.len()];
            let mut l = req();
            l.push(("le", "+Inf".to_string()));
            push("loadctl_latency_seconds_bucket", l, cum as f64);
            push("loadctl_latency_seconds_sum", req(), t.sum_s);
            push("loadctl_latency_seconds_count", req(), cum as f64);
        }
        push("loadctl_in_flight", Vec::new(), self.in_flight as f64);
        push(
            "loadctl_send_lag_p99_seconds",
            Vec::new(),
            self.send_lag_p99_s,
        );
        out
    }

    /// Takes one final second into the totals.
    pub fn take(&mut self, f: &Final<'_>) {
        for (t, e) in self.totals.iter_mut().zip(f.data.everything()) {
            Self::add(t, &e);
        }
        self.in_flight = f.data.in_flight;
        self.send_lag_p99_s = f.row.send_lag_p99_ms.unwrap_or(0.0) / 1000.0;
    }
}

/// Label values escape `\`, `"` and newlines.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl IntervalSink for ExpositionSink {
    fn interval(&mut self, f: &Final<'_>) {
        self.take(f);
        let text = self.render();
        *self.page.lock().unwrap_or_else(|e| e.into_inner()) = text;
    }

    fn live_only(&self) -> bool {
        true
    }
}
