//! The summary printed at the end of a run: verdict, latency table, errors, SLOs, and the
//! generator's health, aligned for a terminal and readable in a CI log.

use std::fmt::Write;

use crate::metrics::connection::{Phase, ProtocolReason, TlsReason};
use crate::metrics::LatencyStats;
use crate::scenario::plan::net::HttpVersion;
use crate::summary::kube::KubeSummary;
use crate::summary::schema::LoadModel;
use crate::summary::Summary;

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
    if s.transport.as_ref().is_some_and(|t| t.insecure) {
        let _ = writeln!(
            o,
            "  !! TLS certificates were NOT verified (tls.insecure = true): anyone could have answered"
        );
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
    let from = match s.load.model {
        LoadModel::Open => "from intended start",
        LoadModel::Connections => "from intended times (connect, publish) and from the intended publish (delivery, fanout)",
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

    phases(&mut o, s);
    server_vs_client(&mut o, s);
    errors_and_outcomes(&mut o, s);
    slo_and_websocket(&mut o, s);
    if let Some(k) = &s.kube {
        kube(&mut o, k);
    }
    if let Some(b) = &s.balance {
        super::balance::console(&mut o, b);
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
    agents(&mut o, s);
    exports(&mut o, s);
    if let Some(c) = &s.baseline {
        let _ = writeln!(o, "\n  baseline comparison");
        for line in super::compare::render_text(c).lines() {
            let _ = writeln!(o, "  {line}");
        }
    }
    let _ = writeln!(o, "  output     {out_dir}");
    o
}

/// Where the time went, per request (p50 / p99 of each phase that occurred), then the
/// connections and TLS failures with what to do about them.
fn phases(o: &mut String, s: &Summary) {
    let present: Vec<Phase> = Phase::ALL
        .into_iter()
        .filter(|p| s.phases_ms.contains_key(p.name()))
        .collect();
    if !present.is_empty() {
        let _ = write!(o, "\n  phases in ms, p50 / p99  {:<14}", "");
        for p in &present {
            let _ = write!(o, " {:>17}", p.name());
        }
        let _ = writeln!(o);
        let rows = std::iter::once(("all", &s.phases_ms))
            .chain(s.endpoints.iter().map(|e| (e.name.as_str(), &e.phases_ms)));
        for (name, phases) in rows {
            let _ = write!(o, "  {name:<39}");
            for p in &present {
                let cell = phases
                    .get(p.name())
                    .map_or("—".into(), |l| format!("{:.2} / {:.2}", l.p50, l.p99));
                let _ = write!(o, " {cell:>17}");
            }
            let _ = writeln!(o);
        }
    }
    let Some(t) = &s.transport else { return };
    let c = &t.connections;
    let proto = HttpVersion::label_of(&t.http, t.tls, false);
    let mut line = format!("\n  connections  {proto} · {} opened", c.opened);
    if t.tls {
        let _ = write!(line, " · {} TLS sessions resumed", c.resumed);
    }
    if t.no_keep_alive {
        line.push_str(" · a new connection per request (keep_alive = false)");
    }
    if c.rotated > 0 || t.max_requests_per_connection.is_some() || t.max_connection_age_s.is_some()
    {
        let mut why = Vec::new();
        if let Some(n) = t.max_requests_per_connection {
            why.push(format!("max_requests_per_connection {n}"));
        }
        if let Some(s) = t.max_connection_age_s {
            why.push(format!("max_connection_age {s}s"));
        }
        let _ = write!(
            line,
            " · {} replaced on purpose ({})",
            c.rotated,
            why.join(", ")
        );
    }
    if c.refused_streams > 0 {
        let _ = write!(
            line,
            " · {} HTTP/2 streams refused unprocessed",
            c.refused_streams
        );
    }
    if let Some(r) = c.retried_text() {
        let _ = write!(line, " · retried {r}");
    }
    if c.grpc_messages_sent + c.grpc_messages_received > 0 {
        let _ = write!(
            line,
            " · gRPC messages {} sent, {} received",
            c.grpc_messages_sent, c.grpc_messages_received
        );
    }
    let _ = writeln!(o, "{line}");
    for (reason, n) in &c.tls_errors {
        let hint = TlsReason::ALL
            .into_iter()
            .find(|r| r.name() == reason)
            .map_or("", |r| r.hint());
        let _ = writeln!(o, "  tls error  {reason} × {n}: {hint}");
    }
    for (reason, n) in &c.protocol_errors {
        let hint = ProtocolReason::ALL
            .into_iter()
            .find(|r| r.name() == reason)
            .map_or("", |r| r.hint());
        let _ = writeln!(o, "  protocol error  {reason} × {n}: {hint}");
    }
}

/// Each scrape of the target's own metrics beside loadctl's figures.
fn server_vs_client(o: &mut String, s: &Summary) {
    for p in &s.prometheus {
        let f = |v: Option<f64>, unit: &str| v.map_or("—".into(), |v| format!("{v:.2}{unit}"));
        let _ = writeln!(
            o,
            "\n  server vs client ({}, {}: {} scrapes, {} failed)",
            p.name, p.url, p.scrapes, p.errors
        );
        let _ = writeln!(
            o,
            "  {:<24} {:>12} {:>12}",
            "", "server", "client (loadctl)"
        );
        let _ = writeln!(
            o,
            "  {:<24} {:>12} {:>12.2}",
            "requests/s",
            f(p.server_rps, ""),
            p.client_rps
        );
        let _ = writeln!(
            o,
            "  {:<24} {:>12} {:>12.2}",
            "p99 (ms)",
            f(p.server_latency_ms.map(|l| l.p99), ""),
            p.client_p99_ms
        );
        let _ = writeln!(
            o,
            "  {:<24} {:>12} {:>12}",
            "requests counted",
            f(p.server_requests, ""),
            p.client_answered
        );
        if let Some(g) = p.count_gap {
            let _ = writeln!(o, "  count gap {:.2}% (loadctl answered − server counted, over answered; the windows differ by up to a scrape period)", g * 100.0);
        }
        if let Some(e) = &p.last_error {
            let _ = writeln!(o, "  last scrape error: {e}");
        }
    }
}

/// Errors by kind and declared outcomes, per request name.
fn errors_and_outcomes(o: &mut String, s: &Summary) {
    let mut errors: Vec<String> = Vec::new();
    for e in &s.endpoints {
        for (kind, n) in e.errors_by_kind.iter().filter(|(_, n)| **n > 0) {
            errors.push(format!("{}: {kind} {n}", e.name));
        }
        // Beside the errors: a retry must never make the target look healthier unseen.
        if let Some(r) = e.connections.as_ref().and_then(|c| c.retried_text()) {
            errors.push(format!("{}: retried {r}", e.name));
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
        if e.unsent > 0 {
            outcomes.push(format!(
                "{}: {} never sent: every connection was still busy when the window closed (the target's back-pressure; not counted as requests)",
                e.name, e.unsent
            ));
        }
        if e.request_invalid > 0 {
            outcomes.push(format!(
                "{}: {} not sent: a feeder or env value made the request invalid (request_invalid; not the target's error)",
                e.name, e.request_invalid
            ));
        }
    }
    if !outcomes.is_empty() {
        let _ = writeln!(o, "  outcomes  {}", outcomes.join(" · "));
    }
}

/// Each SLO with what it observed; a chat run's delivery counters.
fn slo_and_websocket(o: &mut String, s: &Summary) {
    if !s.slo.is_empty() {
        let _ = writeln!(o, "\n  SLO");
        let width = s
            .slo
            .iter()
            .map(|r| r.name.len() + r.threshold.len() + 1)
            .max()
            .unwrap_or(0);
        for r in &s.slo {
            let mut observed = r
                .observed
                .map_or("no data".into(), |v| format!("{v:.3} {}", r.unit));
            let windows = crate::slo::window::describe(r);
            if !windows.is_empty() {
                observed = format!("{observed} ({windows})");
            }
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
        if w.echoes + w.other + w.corrupt > 0 {
            let _ = writeln!(
                o,
                "  echoes {} (own messages sent back, not deliveries) · frames without a marker {} · corrupt markers {}",
                w.echoes, w.other, w.corrupt
            );
        }
    }
}

fn secs(v: Option<f64>) -> String {
    v.map_or("—".into(), |s| format!("{s:.1} s"))
}

/// The Kubernetes lines: per HPA what it did, the expectations, the faults.
fn kube(o: &mut String, k: &KubeSummary) {
    let _ = writeln!(
        o,
        "\n  kubernetes  namespace {} at {}",
        k.namespace, k.server
    );
    for h in &k.hpas {
        let first = h.timeline.first();
        let last = h.timeline.last();
        let _ = writeln!(
            o,
            "  hpa/{}  desired {} → max {} → {} · ready {} → max {} → {} · first scale-up {} · at max {} · scale-down from {} · restarts {}",
            h.name,
            first.map_or(0, |p| p.desired),
            h.max_desired,
            last.map_or(0, |p| p.desired),
            first.map_or(0, |p| p.ready),
            h.max_ready,
            last.map_or(0, |p| p.ready),
            secs(h.first_scale_up_s),
            if h.at_max.is_empty() {
                "never".to_string()
            } else {
                format!("{} period(s) from {:.1} s", h.at_max.len(), h.at_max[0].start_s)
            },
            secs(h.scale_down_start_s),
            h.pod_restarts
        );
        for l in &h.levels {
            let _ = writeln!(
                o,
                "    {} replicas: decided {} · ready {}",
                l.replicas,
                secs(l.decision_s),
                secs(l.capacity_s)
            );
        }
        if !h.watch_errors.is_empty() {
            let _ = writeln!(
                o,
                "    {} watch error(s) survived; first: {}",
                h.watch_errors.len(),
                h.watch_errors[0]
            );
        }
    }
    for e in &k.expectations {
        let _ = writeln!(
            o,
            "  {}  hpa/{} {}  ({})",
            if e.pass { "PASS" } else { "FAIL" },
            e.hpa,
            e.expectation,
            e.observed
        );
    }
    for f in &k.faults {
        let _ = writeln!(
            o,
            "  fault  {} {} ({}) at {:.1} s: {}{} · window {} – {}{} · availability {} · p99 {}",
            f.action,
            f.mode,
            f.selector,
            f.at_s,
            if f.outcome.is_empty() {
                "not carried out"
            } else {
                &f.outcome
            },
            if f.errors.is_empty() {
                String::new()
            } else {
                format!(" ({} error(s): {})", f.errors.len(), f.errors[0])
            },
            secs(f.window_start_s),
            secs(f.window_end_s),
            if f.recovered { "" } else { " (not recovered)" },
            f.availability
                .map_or("no data".into(), |a| format!("{:.3}%", a * 100.0)),
            f.p99_ms.map_or("no data".into(), |p| format!("{p:.1} ms")),
        );
        fault_stretches(o, f);
    }
    for w in &k.warnings {
        let _ = writeln!(o, "  warning  {w}");
    }
}

/// A fault's traffic before, during and after its window, and its recovery.
fn fault_stretches(o: &mut String, f: &crate::summary::kube::FaultSummary) {
    if f.before.is_none() && f.during.is_none() && f.after.is_none() {
        return;
    }
    let band = f.recovery_band.map_or(String::new(), |[p99, errors]| {
        format!(
            " (p99 ≤ {p99}× before, errors ≤ before + {:.2} points)",
            errors * 100.0
        )
    });
    let recovery = match f.recovery_s {
        Some(r) => format!("back in band {r:.1} s after the window{band}"),
        None => format!("not back in band before the run ended{band}"),
    };
    let _ = writeln!(o, "         {} · {recovery}", f.name);
    let ms = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.1} ms"));
    for (label, st) in [
        ("before", &f.before),
        ("during", &f.during),
        ("after", &f.after),
    ] {
        let Some(st) = st else { continue };
        let span = format!("{:.1} – {:.1} s", st.start_s, st.end_s);
        let _ = writeln!(
            o,
            "         {label:<6} {span:<16} {:>8} requests · p50 {} · p99 {} · availability {} · {:.0} req/s",
            st.requests,
            ms(st.p50_ms),
            ms(st.p99_ms),
            st.availability
                .map_or("no data".into(), |a| format!("{:.3}%", a * 100.0)),
            st.rps
        );
    }
}

/// A distributed run's agents: one line each, and the start spread.
fn agents(o: &mut String, s: &Summary) {
    let Some(d) = &s.distributed else {
        return;
    };
    let _ = writeln!(
        o,
        "  agents     {} · started {:.2} ms apart (tolerance {:.0} ms) · clocks ±{:.2} ms",
        d.agents, d.start_spread_ms, d.start_tolerance_ms, d.clock_uncertainty_ms
    );
    for a in &s.agents {
        let _ = writeln!(
            o,
            "  {} {:<12} {:<22} {:>9} req · send lag p99 {:.2} ms · dropped {} · clock {:+.3} ms · start {}{}",
            if a.valid { "  " } else { "!!" },
            a.name,
            a.address,
            a.requests,
            a.send_lag_p99_ms,
            a.dropped,
            a.clock_offset_ms,
            a.start_offset_ms
                .map_or("never".into(), |v| format!("{v:+.2} ms")),
            if a.problems.is_empty() {
                String::new()
            } else {
                format!(" · {}", a.problems.join("; "))
            }
        );
    }
}

/// Each live exporter: what it delivered, and what it lost (never the load's failure).
fn exports(o: &mut String, s: &Summary) {
    for e in &s.exports {
        let mark = if e.lost() { '!' } else { ' ' };
        let mut line = format!(" {mark}export     {}: {} sent", e.to, e.sent);
        for (n, what) in [
            (e.retried, "retried"),
            (e.failed, "failed"),
            (e.dropped, "dropped (queue full)"),
        ] {
            if n > 0 {
                let _ = write!(line, " · {n} {what}");
            }
        }
        if let Some(err) = &e.last_error {
            let _ = write!(line, " · last failure: {err}");
        }
        let _ = writeln!(o, "{line}");
    }
}
