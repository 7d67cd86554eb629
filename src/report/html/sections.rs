//! The page's tables and facts, top to bottom: the verdict banner, what ran, the SLOs,
//! chat delivery, verification, the per-request table and the baseline comparison.

use std::fmt::Write as _;

use crate::report::escape::esc;
use crate::summary::schema::LoadModel;
use crate::summary::{Status, Summary};

fn f3(v: f64) -> String {
    format!("{v:.3}")
}

fn pct(v: f64) -> String {
    format!("{:.3}%", v * 100.0)
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Fail => "fail",
        Status::Invalid => "invalid",
        Status::Interrupted => "interrupted",
    }
}

pub(super) fn banner(o: &mut String, s: &Summary) {
    let _ = write!(
        o,
        r#"<section class="banner {}" id="verdict"><span class="verdict">{}</span><span class="scenario">{}</span>"#,
        status_class(s.status),
        s.status.label(),
        esc(&s.scenario)
    );
    if s.reasons.is_empty() {
        let met = s.slo.len();
        let checks = s.verify.len();
        let _ = write!(
            o,
            "<ul><li>{met} SLO{} met{}; the generator held the planned load.</li></ul>",
            if met == 1 { "" } else { "s" },
            if checks > 0 {
                format!(
                    ", {checks} verification check{} passed",
                    if checks == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    } else {
        o.push_str("<ul>");
        for r in &s.reasons {
            let _ = write!(o, "<li>{}</li>", esc(r));
        }
        o.push_str("</ul>");
    }
    o.push_str("</section>\n");
}

fn kpi(o: &mut String, k: &str, v: &str) {
    let _ = write!(
        o,
        r#"<div class="kpi"><div class="v">{}</div><div class="k">{}</div></div>"#,
        esc(v),
        esc(k)
    );
}

pub(super) fn facts(o: &mut String, s: &Summary) {
    let t = &s.totals;
    o.push_str(r#"<div class="kpis">"#);
    kpi(o, "requests", &t.requests.to_string());
    kpi(o, "req/s", &format!("{:.1}", t.rps));
    kpi(o, "p99", &format!("{:.2} ms", s.latency_ms.p99));
    kpi(o, "error rate", &pct(t.error_rate));
    kpi(o, "availability", &pct(t.availability));
    kpi(o, "dropped", &t.dropped.to_string());
    o.push_str("</div>\n<h2>Run</h2>\n<dl class=\"facts\">");
    let l = &s.load;
    let plan = match l.model {
        LoadModel::Connections => format!(
            "connections model: {} WebSocket connections at {:.0}/s, then held",
            l.connections.unwrap_or(0),
            l.peak_rate.unwrap_or(0.0)
        ),
        LoadModel::Open => format!(
            "open model, peak {:.0}/s{}, up to {} connections, {} in flight",
            l.peak_rate.unwrap_or(0.0),
            l.planned_requests
                .map_or(String::new(), |n| format!(", {n} planned in the window")),
            l.connections.unwrap_or(0),
            l.max_in_flight.unwrap_or(0)
        ),
        _ => format!(
            "closed model, {} virtual users{}{}",
            l.vus.unwrap_or(0),
            l.iterations
                .map_or(String::new(), |n| format!(", {n} iterations")),
            l.think_time_ms
                .filter(|t| *t > 0.0)
                .map_or(String::new(), |t| format!(", think time {t:.0} ms"))
        ),
    };
    let facts = [
        ("scenario", format!("{} — {}", s.scenario, s.description)),
        ("target", s.target.clone()),
        ("started", s.started_at.clone()),
        (
            "duration",
            format!("{:.1} s measured + {:.1} s warmup", s.duration_s, s.warmup_s),
        ),
        ("load", plan),
        ("timeout", format!("{:.0} ms", l.timeout_ms)),
        (
            "generator",
            format!(
                "{} threads · send lag p99 {:.3} ms (max {:.3}) · queue wait p99 {:.3} ms · peak in flight {}",
                s.generator.threads,
                s.generator.send_lag_p99_ms,
                s.generator.send_lag_max_ms,
                s.generator.queue_wait_p99_ms,
                s.generator.peak_in_flight
            ),
        ),
        ("loadctl", s.loadctl_version.clone()),
    ];
    for (k, v) in facts {
        let _ = write!(o, "<dt>{k}</dt><dd>{}</dd>", esc(&v));
    }
    for n in &s.notes {
        let _ = write!(o, "<dt>note</dt><dd>{}</dd>", esc(n));
    }
    o.push_str("</dl>\n");
}

pub(super) fn slo_table(o: &mut String, s: &Summary) {
    o.push_str("<h2>SLOs</h2>\n");
    if s.slo.is_empty() {
        o.push_str(
            r#"<p class="muted">No SLOs: the run passes when at least one request succeeds.</p>"#,
        );
        return;
    }
    o.push_str(r#"<table id="slo"><thead><tr><th>objective</th><th>scope</th><th class="n">threshold</th><th class="n">observed</th><th>result</th></tr></thead><tbody>"#);
    for r in &s.slo {
        let mut observed = r
            .observed
            .map_or("no data".into(), |v| format!("{v:.3} {}", r.unit));
        let windows = crate::slo::window::describe(r);
        if !windows.is_empty() {
            observed = format!("{observed} ({windows})");
        }
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td></tr>"#,
            esc(&r.metric),
            esc(r.scope.as_deref().unwrap_or("all")),
            esc(&r.threshold),
            esc(&observed),
            if r.pass { "ok" } else { "bad" },
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    o.push_str("</tbody></table>\n");
}

pub(super) fn websocket(o: &mut String, s: &Summary) {
    let Some(w) = &s.ws else { return };
    o.push_str(r#"<h2>Chat delivery</h2><table id="ws"><tbody>"#);
    let disconnects: Vec<String> = w
        .disconnects
        .iter()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    let rows = [
        (
            "connections",
            format!("{} of {} connected and joined", w.connected, w.connections),
        ),
        ("groups", format!("{} × {} members", w.groups, w.members)),
        ("messages published", w.published.to_string()),
        (
            "deliveries",
            format!("{} of {} expected", w.delivered, w.expected),
        ),
        ("lost", format!("{} ({})", w.lost, pct(w.loss_rate))),
        ("duplicates", w.duplicates.to_string()),
        ("out of order", w.out_of_order.to_string()),
        (
            "disconnects by close code",
            if disconnects.is_empty() {
                "none".into()
            } else {
                disconnects.join(", ")
            },
        ),
    ];
    let extra = [
        ("echoes (own messages sent back)", w.echoes),
        ("frames without a marker", w.other),
        ("markers that did not parse", w.corrupt),
    ];
    let extra = extra
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (*k, n.to_string()));
    for (k, v) in rows.into_iter().chain(extra) {
        let _ = write!(o, "<tr><th>{k}</th><td class=\"n\">{}</td></tr>", esc(&v));
    }
    o.push_str("</tbody></table><p class=\"muted\">Latencies: the <code>connect</code>, <code>joined</code>, <code>delivery</code> (publish → each member), <code>fanout</code> (publish → last member) and <code>echo</code> rows of the per-request table and charts.</p>\n");
}

pub(super) fn verification(o: &mut String, s: &Summary) {
    if s.verify.is_empty() {
        return;
    }
    o.push_str(r#"<h2>Verification after the load</h2><table id="verify"><thead><tr><th>request</th><th>check</th><th>observed</th><th>result</th></tr></thead><tbody>"#);
    for c in &s.verify {
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td class="{}">{}</td></tr>"#,
            esc(&c.name),
            esc(&c.check),
            esc(&c.observed),
            if c.pass { "ok" } else { "bad" },
            if c.pass { "PASS" } else { "FAIL" }
        );
    }
    o.push_str("</tbody></table>\n");
}

pub(super) fn endpoints(o: &mut String, s: &Summary) {
    o.push_str(r#"<h2>Per request</h2><p class="muted">Click a column to sort.</p><div class="wrap"><table class="sortable" id="endpoints"><thead><tr><th>name</th><th>request</th><th class="n">requests</th><th class="n">req/s</th><th class="n">ok</th><th class="n">errors</th><th class="n">p50 ms</th><th class="n">p95 ms</th><th class="n">p99 ms</th><th class="n">max ms</th><th>errors by kind</th><th>outcomes</th><th>status codes</th></tr></thead><tbody>"#);
    for e in &s.endpoints {
        let l = &e.latency_ms;
        let mut kinds: Vec<String> = e
            .errors_by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if let Some(r) = e.connections.as_ref().and_then(|c| c.retried_text()) {
            kinds.push(format!("retried {r}"));
        }
        let mut outcomes: Vec<String> = e
            .outcomes
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if e.skipped > 0 {
            outcomes.push(format!("skipped {}", e.skipped));
        }
        let codes: Vec<String> = e
            .status_codes
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td><code>{} {}</code></td><td class="n">{}</td><td class="n">{:.1}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(&e.name),
            esc(&e.method),
            esc(&e.path),
            e.requests,
            e.rps,
            e.ok,
            e.errors,
            f3(l.p50),
            f3(l.p95),
            f3(l.p99),
            f3(l.max),
            esc(&kinds.join(", ")),
            esc(&outcomes.join(", ")),
            esc(&codes.join(", "))
        );
    }
    o.push_str("</tbody></table></div>\n");
}

pub(super) fn baseline(o: &mut String, s: &Summary) {
    let Some(c) = &s.baseline else { return };
    let _ = write!(
        o,
        r#"<h2>Against the baseline</h2><p>Baseline {} · {} regression{}</p><div class="wrap"><table class="sortable" id="baseline"><thead><tr><th>scope</th><th>metric</th><th class="n">baseline</th><th class="n">this run</th><th class="n">change</th><th class="n">tolerance</th><th>result</th></tr></thead><tbody>"#,
        esc(&c.base),
        c.regressions,
        if c.regressions == 1 { "" } else { "s" }
    );
    for r in &c.rows {
        let change = r
            .delta_pct
            .map_or(format!("{:+.3}", r.delta), |p| format!("{p:+.1}%"));
        let result = match (&r.limit, r.regression) {
            (_, true) => r#"<td class="bad">REGRESSION</td>"#,
            (Some(_), false) => r#"<td class="ok">ok</td>"#,
            (None, false) => "<td class=\"muted\">—</td>",
        };
        let _ = write!(
            o,
            r#"<tr><td>{}</td><td>{} ({})</td><td class="n">{:.3}</td><td class="n">{:.3}</td><td class="n" data-v="{}">{}</td><td class="n">{}</td>{result}</tr>"#,
            esc(&r.scope),
            esc(&r.metric),
            esc(&r.unit),
            r.base,
            r.new,
            r.delta_pct.unwrap_or(r.delta),
            esc(&change),
            esc(r.limit.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</tbody></table></div>\n");
}
