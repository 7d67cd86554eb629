//! The page's charts: requests per second (planned and achieved, with the replicas chart
//! under it when Kubernetes was watched), latency over time with the SLO thresholds,
//! errors by kind, p99 per request, the latency spectrum, and the generator's health.

use crate::summary::schema::LoadModel;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::data::ReportData;
use super::svg::{palette, spectrum_chart, time_chart, Bands, Line};
use crate::metrics::aggregate::SeriesRow;
use crate::metrics::{ms, ErrorKind};

fn chart(o: &mut String, svg: &str) {
    let _ = write!(o, r#"<div class="chart">{svg}</div>"#);
}

/// Every chart, in page order.
pub(super) fn charts(o: &mut String, d: &ReportData<'_>) {
    let s = d.summary;
    let w = &Bands {
        warmup_s: s.warmup_s,
        faults: s.kube.as_ref().map(|k| k.windows()).unwrap_or_default(),
    };
    o.push_str("<h2>Over time</h2>\n");
    rates(o, d, w);
    let x = |idx: i64| idx as f64 + w.warmup_s;
    let span = (
        d.series.first().map_or(0.0, |r| x(r.idx)),
        d.series.last().map_or(1.0, |r| x(r.idx)),
    );
    latency(o, d, w, span);
    errors(o, d, w);
    per_request(o, d, w);
    distribution(o, d);
    generator(o, d, w, span);
}

/// `(seconds from the load's start, value)` of a series figure, where it has one.
fn pick(d: &ReportData<'_>, w: &Bands, f: fn(&SeriesRow) -> Option<f64>) -> Vec<(f64, f64)> {
    d.series
        .iter()
        .filter_map(|r| f(r).map(|v| (r.idx as f64 + w.warmup_s, v)))
        .collect()
}

/// Planned and achieved rates, and the replicas under them when Kubernetes was watched.
fn rates(o: &mut String, d: &ReportData<'_>, w: &Bands) {
    let s = d.summary;
    let x = |idx: i64| idx as f64 + w.warmup_s;

    let flow = !s.load.flow_steps.is_empty();
    let chat = s.load.model == LoadModel::Connections;
    let mut rps = if flow || chat {
        // Planned counts iterations; show each step's completions beside it.
        s.endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Line {
                label: format!("{} completed/s", e.name),
                color: palette::CYCLE[i % palette::CYCLE.len()],
                points: d
                    .series
                    .iter()
                    .map(|r| {
                        (
                            x(r.idx),
                            r.endpoints.get(i).map_or(0, |e| e.requests) as f64,
                        )
                    })
                    .collect(),
                dashed: false,
            })
            .collect()
    } else {
        vec![Line {
            label: "achieved (completed/s)".into(),
            color: palette::BLUE,
            points: d
                .series
                .iter()
                .map(|r| (x(r.idx), r.all.requests as f64))
                .collect(),
            dashed: false,
        }]
    };
    if !d.planned.is_empty() {
        rps.insert(
            0,
            Line {
                label: if flow {
                    "planned iterations/s"
                } else {
                    "planned"
                }
                .into(),
                color: palette::GREY,
                points: d.planned.iter().map(|&(i, n)| (x(i), n)).collect(),
                dashed: true,
            },
        );
    }
    chart(
        o,
        &time_chart(
            if chat {
                "Connections opened and messages published and delivered per second"
            } else if flow {
                "Iterations planned and steps completed per second"
            } else {
                "Requests per second: planned and achieved"
            },
            "per second",
            w,
            &rps,
        ),
    );
    if let Some(k) = &s.kube {
        let end = d
            .series
            .last()
            .map_or(s.warmup_s + s.duration_s, |r| x(r.idx) + 1.0);
        super::kube::replicas_chart(o, k, w, end);
    }
    if let Some(b) = &s.balance {
        super::balance::share_chart(o, b, w);
    }
}

/// Percentiles over time, with the scenario's latency thresholds.
fn latency(o: &mut String, d: &ReportData<'_>, w: &Bands, (x0, x1): (f64, f64)) {
    let s = d.summary;
    let pick = |f| pick(d, w, f);
    let mut lat = vec![
        Line {
            label: "p50".into(),
            color: palette::GREEN,
            points: pick(|r| r.all.p50_ms),
            dashed: false,
        },
        Line {
            label: "p95".into(),
            color: palette::ORANGE,
            points: pick(|r| r.all.p95_ms),
            dashed: false,
        },
        Line {
            label: "p99".into(),
            color: palette::RED,
            points: pick(|r| r.all.p99_ms),
            dashed: false,
        },
    ];
    let highest = lat
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    for r in s.slo.iter().filter(|r| r.scope.is_none() && r.unit == "ms") {
        if let Some(t) = threshold_value(&r.threshold) {
            // A threshold far above every value would flatten the lines it judges: name it
            // in the legend instead of scaling the chart to it.
            let far = highest > 0.0 && t > 3.0 * highest;
            lat.push(Line {
                label: if far {
                    format!("SLO {} {} (far above the chart)", r.metric, r.threshold)
                } else {
                    format!("SLO {} {}", r.metric, r.threshold)
                },
                color: palette::PURPLE,
                points: if far {
                    Vec::new()
                } else {
                    vec![(x0, t), (x1, t)]
                },
                dashed: true,
            });
        }
    }
    let from = match s.load.model {
        LoadModel::Open => "from intended start",
        LoadModel::Connections => "from intended connect and publish times",
        _ => "closed model, from the send",
    };
    chart(
        o,
        &time_chart(&format!("Latency, all requests ({from})"), "ms", w, &lat),
    );
}

/// Errors per second by kind, or a note that there were none.
fn errors(o: &mut String, d: &ReportData<'_>, w: &Bands) {
    let x = |idx: i64| idx as f64 + w.warmup_s;

    let kinds: Vec<(usize, ErrorKind)> = ErrorKind::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| d.series.iter().any(|r| r.errors_by_kind[*i] > 0))
        .map(|(i, k)| (i, *k))
        .collect();
    if kinds.is_empty() {
        o.push_str(r#"<p class="note" id="no-errors">No errors during the run.</p>"#);
    } else {
        let lines: Vec<Line> = kinds
            .iter()
            .enumerate()
            .map(|(c, (i, k))| Line {
                label: k.name().into(),
                color: palette::CYCLE[(c + 6) % palette::CYCLE.len()],
                points: d
                    .series
                    .iter()
                    .map(|r| (x(r.idx), r.errors_by_kind[*i] as f64))
                    .collect(),
                dashed: false,
            })
            .collect();
        chart(
            o,
            &time_chart("Errors per second by kind", "errors/s", w, &lines),
        );
    }
}

/// p99 per request name, when there is more than one.
fn per_request(o: &mut String, d: &ReportData<'_>, w: &Bands) {
    let x = |idx: i64| idx as f64 + w.warmup_s;
    if d.summary.endpoints.len() > 1 {
        let lines: Vec<Line> = d
            .summary
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| Line {
                label: format!("{} p99", e.name),
                color: palette::CYCLE[i % palette::CYCLE.len()],
                points: d
                    .series
                    .iter()
                    .filter_map(|r| {
                        r.endpoints
                            .get(i)
                            .and_then(|e| e.p99_ms)
                            .map(|v| (x(r.idx), v))
                    })
                    .collect(),
                dashed: false,
            })
            .collect();
        chart(
            o,
            &time_chart(
                "p99 latency per request name (per step, in a flow)",
                "ms",
                w,
                &lines,
            ),
        );
    }
}

/// The HDR spectrum of the measured window: all requests, and each name.
fn distribution(o: &mut String, d: &ReportData<'_>) {
    let s = d.summary;
    o.push_str("<h2>Latency distribution</h2>\n");
    let spectrum = |h: &Histogram<u64>| -> Vec<(f64, f64)> {
        if h.is_empty() {
            return Vec::new();
        }
        let mut pts: Vec<(f64, f64)> = Vec::new();
        for v in h.iter_quantiles(2) {
            let p = v.quantile_iterated_to() * 100.0;
            if p >= 99.9999 {
                break;
            }
            pts.push((p, ms(h.highest_equivalent(v.value_iterated_to()))));
        }
        pts.push((99.9999, ms(h.max())));
        pts
    };
    let mut lines = vec![Line {
        label: "all".into(),
        color: palette::INK,
        points: spectrum(d.latency),
        dashed: false,
    }];
    if d.endpoint_latency.len() > 1 {
        for (i, (h, e)) in d.endpoint_latency.iter().zip(&s.endpoints).enumerate() {
            lines.push(Line {
                label: e.name.clone(),
                color: palette::CYCLE[i % palette::CYCLE.len()],
                points: spectrum(h),
                dashed: false,
            });
        }
    }
    chart(
        o,
        &spectrum_chart("Latency by percentile (HDR, measured window)", &lines),
    );
}

/// Send lag against its tolerance; in flight and dropped.
fn generator(o: &mut String, d: &ReportData<'_>, w: &Bands, (x0, x1): (f64, f64)) {
    let s = d.summary;
    let x = |idx: i64| idx as f64 + w.warmup_s;
    let pick = |f| pick(d, w, f);
    o.push_str("<h2>Generator health</h2>\n");
    let gen = vec![
        Line {
            label: "send lag p99 (ms)".into(),
            color: palette::ORANGE,
            points: pick(|r| r.send_lag_p99_ms),
            dashed: false,
        },
        Line {
            label: format!("tolerance {:.1} ms", s.generator.max_send_lag_p99_ms),
            color: palette::PURPLE,
            points: vec![
                (x0, s.generator.max_send_lag_p99_ms),
                (x1, s.generator.max_send_lag_p99_ms),
            ],
            dashed: true,
        },
    ];
    chart(
        o,
        &time_chart("Send lag: the generator's own lateness", "ms", w, &gen),
    );
    let flight = vec![
        Line {
            label: "in flight".into(),
            color: palette::TEAL,
            points: d
                .series
                .iter()
                .map(|r| (x(r.idx), r.in_flight as f64))
                .collect(),
            dashed: false,
        },
        Line {
            label: "dropped/s".into(),
            color: palette::RED,
            points: d
                .series
                .iter()
                .map(|r| (x(r.idx), r.all.dropped as f64))
                .collect(),
            dashed: false,
        },
    ];
    chart(
        o,
        &time_chart("In flight and dropped", "requests", w, &flight),
    );
}

/// `< 100ms` → 100.0 (ms); only latency thresholds are drawn.
pub(super) fn threshold_value(expr: &str) -> Option<f64> {
    let t = expr.trim_start_matches(['<', '>', '=', ' ']);
    let (num, unit) = t.split_at(t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))?);
    let n: f64 = num.replace('_', "").parse().ok()?;
    match unit.trim() {
        "ms" => Some(n),
        "s" => Some(n * 1000.0),
        "us" | "µs" => Some(n / 1000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_thresholds_in_ms() {
        assert_eq!(threshold_value("< 100ms"), Some(100.0));
        assert_eq!(threshold_value("<= 1.5s"), Some(1500.0));
        assert_eq!(threshold_value(">= 99.9%"), None);
    }
}
