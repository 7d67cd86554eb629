//! The summary printed at the end of a run: verdict, latency table, errors, SLOs, and the
//! generator's health, aligned for a terminal and readable in a CI log.

use std::fmt::Write;

use super::summary::Summary;
use crate::metrics::LatencyStats;

fn latency_row(out: &mut String, label: &str, l: &LatencyStats, requests: u64) {
    if requests == 0 {
        let _ = writeln!(out, "  {label:<24} {:>9}", "no data");
        return;
    }
    let _ = writeln!(
        out,
        "  {label:<24} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.mean
    );
}

pub fn render(s: &Summary, out_dir: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\n{} · {} · {}", s.scenario, s.status.label(), s.target);
    for r in &s.reasons {
        let _ = writeln!(o, "  ! {r}");
    }
    for n in &s.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    let t = &s.totals;
    let _ = writeln!(
        o,
        "\n  {} requests in {:.1} s ({:.1} req/s) · {} ok · {} errors ({:.3}%) · availability {:.3}% · {} dropped",
        t.requests,
        s.duration_s,
        t.rps,
        t.ok,
        t.errors,
        t.error_rate * 100.0,
        t.availability * 100.0,
        t.dropped
    );
    let from = match s.load.model.as_str() {
        "open" => "from intended start",
        "connections" => "from intended times (connect, publish) and from the intended publish (delivery, fanout)",
        _ => "closed model (from the send)",
    };
    let _ = writeln!(o, "\n  latency in ms, {from}");
    let _ = writeln!(
        o,
        "  {:<24} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"
    );
    latency_row(&mut o, "all", &s.latency_ms, t.requests);
    for e in &s.endpoints {
        latency_row(&mut o, &e.name, &e.latency_ms, e.requests);
    }
    latency_row(
        &mut o,
        "service time (all)",
        &s.service_latency_ms,
        t.requests,
    );

    let mut errors: Vec<String> = Vec::new();
    for e in &s.endpoints {
        for (kind, n) in e.errors_by_kind.iter().filter(|(_, n)| **n > 0) {
            errors.push(format!("{}: {kind} {n}", e.name));
        }
    }
    if !errors.is_empty() {
        let _ = writeln!(o, "\n  errors  {}", errors.join(" · "));
    }
    let mut outcomes: Vec<String> = Vec::new();
    for e in &s.endpoints {
        for (name, n) in e.outcomes.iter().filter(|(_, n)| **n > 0) {
            outcomes.push(format!("{}: {name} {n}", e.name));
        }
        if e.skipped > 0 {
            outcomes.push(format!("{}: skipped {}", e.name, e.skipped));
        }
    }
    if !outcomes.is_empty() {
        let _ = writeln!(o, "  outcomes  {}", outcomes.join(" · "));
    }

    if !s.slo.is_empty() {
        let _ = writeln!(o, "\n  SLO");
        let width = s
            .slo
            .iter()
            .map(|r| r.name.len() + r.threshold.len() + 1)
            .max()
            .unwrap_or(0);
        for r in &s.slo {
            let observed = r
                .observed
                .map_or("no data".into(), |v| format!("{v:.3} {}", r.unit));
            let _ = writeln!(
                o,
                "  {}  {:<width$}  observed {observed}",
                if r.pass { "PASS" } else { "FAIL" },
                format!("{} {}", r.name, r.threshold),
            );
        }
    }
    if let Some(w) = &s.ws {
        let _ = writeln!(
            o,
            "\n  websocket  {}/{} connected · {} published · {}/{} delivered · lost {} ({:.4}%) · duplicates {} · out of order {}",
            w.connected,
            w.connections,
            w.published,
            w.delivered,
            w.expected,
            w.lost,
            w.loss_rate * 100.0,
            w.duplicates,
            w.out_of_order
        );
        if !w.disconnects.is_empty() {
            let codes: Vec<String> = w
                .disconnects
                .iter()
                .map(|(c, n)| format!("{c}: {n}"))
                .collect();
            let _ = writeln!(o, "  disconnects by close code  {}", codes.join(" · "));
        }
    }
    if let Some(k) = &s.kube {
        super::kube::console(&mut o, k);
    }
    if !s.verify.is_empty() {
        let _ = writeln!(o, "\n  verification");
        for c in &s.verify {
            let _ = writeln!(
                o,
                "  {}  {}: {}  ({})",
                if c.pass { "PASS" } else { "FAIL" },
                c.name,
                c.check,
                c.observed
            );
        }
    }
    let g = &s.generator;
    let _ = writeln!(
        o,
        "\n  generator  {} threads · send lag p99 {:.2} ms (max {:.2}) · queue wait p99 {:.2} ms · dropped {} ({:.3}%)",
        g.threads,
        g.send_lag_p99_ms,
        g.send_lag_max_ms,
        g.queue_wait_p99_ms,
        g.dropped,
        g.dropped_ratio * 100.0
    );
    if let Some(c) = &s.baseline {
        let _ = writeln!(o, "\n  baseline comparison");
        for line in super::compare::render_text(c).lines() {
            let _ = writeln!(o, "  {line}");
        }
    }
    let _ = writeln!(o, "  output     {out_dir}");
    o
}
