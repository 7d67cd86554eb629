//! "Where the time went": each request's time split into its phases (a stacked bar per
//! request name of the phases' means, then a table of their percentiles), the connections
//! opened and resumed, refused HTTP/2 streams, TLS failures with what to do about them, and
//! a warning that cannot be missed when certificates were not verified.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::metrics::connection::{Phase, ProtocolReason, TlsReason};
use crate::metrics::LatencyStats;
use crate::report::escape::esc;
use crate::scenario::plan::net::HttpVersion;
use crate::summary::Summary;

/// Segment colours in phase order (dns, connect, tls, ttfb, download).
const COLOURS: [&str; 5] = ["#8e6fbf", "#e0913a", "#c0392b", "#2f6fb0", "#3a9d6a"];

pub(super) fn section(o: &mut String, s: &Summary) {
    let Some(t) = &s.transport else { return };
    if t.insecure {
        o.push_str(r#"<section class="banner fail" id="tls-insecure"><span class="verdict">TLS NOT VERIFIED</span><ul><li><code>[tls] insecure = true</code>: the target's certificate was not checked, so any server could have answered these requests.</li></ul></section>"#);
        o.push('\n');
    }
    if s.phases_ms.is_empty() && t.connections.opened == 0 {
        return;
    }
    o.push_str("<h2 id=\"phases\">Where the time went</h2>\n");
    let rows: Vec<(&str, &BTreeMap<String, LatencyStats>)> = s
        .endpoints
        .iter()
        .filter(|e| !e.phases_ms.is_empty())
        .map(|e| (e.name.as_str(), &e.phases_ms))
        .collect();
    if !rows.is_empty() {
        stacked(o, &rows);
        table(o, &rows);
    }
    connections(o, s);
}

/// One bar per request name: the mean of each phase that occurred, end to end.
fn stacked(o: &mut String, rows: &[(&str, &BTreeMap<String, LatencyStats>)]) {
    let total = |m: &BTreeMap<String, LatencyStats>| m.values().map(|l| l.mean).sum::<f64>();
    let longest = rows.iter().map(|(_, m)| total(m)).fold(0.0_f64, f64::max);
    if longest <= 0.0 {
        return;
    }
    let (label_w, bar_w, row_h) = (180.0, 640.0, 28.0);
    let height = rows.len() as f64 * row_h + 40.0;
    let _ = write!(
        o,
        r#"<div class="chart"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 900 {height}" role="img" aria-label="mean time per phase, per request"><title>Mean time per phase, per request (ms)</title>"#
    );
    for (i, (name, m)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 6.0;
        let _ = write!(
            o,
            r#"<text x="{}" y="{}" font-size="13" text-anchor="end" font-family="sans-serif">{}</text>"#,
            label_w - 8.0,
            y + 15.0,
            esc(name)
        );
        let mut x = label_w;
        for (p, colour) in Phase::ALL.iter().zip(COLOURS) {
            let Some(l) = m.get(p.name()) else { continue };
            let w = (l.mean / longest * bar_w).max(0.5);
            let _ = write!(
                o,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="18" fill="{colour}"><title>{}: mean {:.3} ms</title></rect>"#,
                p.name(),
                l.mean
            );
            x += w;
        }
        let _ = write!(
            o,
            r#"<text x="{:.1}" y="{}" font-size="12" font-family="sans-serif" fill="dimgray">{:.2} ms</text>"#,
            x + 6.0,
            y + 14.0,
            total(m)
        );
    }
    let legend_y = rows.len() as f64 * row_h + 24.0;
    let mut lx = label_w;
    for (p, colour) in Phase::ALL.iter().zip(COLOURS) {
        let _ = write!(
            o,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{colour}"/><text x="{}" y="{legend_y}" font-size="12" font-family="sans-serif">{}</text>"#,
            legend_y - 10.0,
            lx + 16.0,
            p.name()
        );
        lx += 100.0;
    }
    o.push_str("</svg></div>\n<p class=\"note\">Means, so that they add up. Handshake phases (dns, connect, tls) are those of the requests that opened a connection; with keep-alive most requests open none.</p>\n");
}

fn table(o: &mut String, rows: &[(&str, &BTreeMap<String, LatencyStats>)]) {
    o.push_str("<div class=\"wrap\"><table class=\"sortable\" id=\"phase-table\"><thead><tr><th>request</th><th>phase</th><th class=\"n\">p50 ms</th><th class=\"n\">p95 ms</th><th class=\"n\">p99 ms</th><th class=\"n\">max ms</th><th class=\"n\">mean ms</th></tr></thead><tbody>");
    for (name, m) in rows {
        for p in Phase::ALL {
            let Some(l) = m.get(p.name()) else { continue };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td><td class=\"n\">{:.3}</td></tr>",
                esc(name),
                p.name(),
                l.p50,
                l.p95,
                l.p99,
                l.max,
                l.mean
            );
        }
    }
    o.push_str("</tbody></table></div>\n");
}

fn connections(o: &mut String, s: &Summary) {
    let Some(t) = &s.transport else { return };
    let c = &t.connections;
    let proto = HttpVersion::label_of(&t.http, t.tls, true);
    let _ = writeln!(
        o,
        "<p>{proto}: <b>{}</b> connections opened{}{}{}.</p>",
        c.opened,
        if t.tls {
            format!(", <b>{}</b> with a resumed TLS session", c.resumed)
        } else {
            String::new()
        },
        if t.no_keep_alive {
            " (a new connection per request: <code>keep_alive = false</code>)"
        } else {
            ""
        },
        if c.refused_streams > 0 {
            format!(
                "; {} HTTP/2 streams refused unprocessed by the server",
                c.refused_streams
            )
        } else {
            String::new()
        }
    );
    if !c.tls_errors.is_empty() {
        o.push_str("<ul id=\"tls-errors\">");
        for (reason, n) in &c.tls_errors {
            let hint = TlsReason::ALL
                .into_iter()
                .find(|r| r.name() == reason)
                .map_or("", |r| r.hint());
            let _ = write!(
                o,
                "<li class=\"bad\">TLS {} × {n}: <span class=\"muted\">{}</span></li>",
                esc(reason),
                esc(hint)
            );
        }
        o.push_str("</ul>\n");
    }
    if let Some(r) = c.retried_text() {
        let _ = writeln!(
            o,
            "<p id=\"retried\">Sent a second time: <b>{}</b> (<code>[http] retry</code>); each is counted, and its latency covers both attempts.</p>",
            esc(&r)
        );
    }
    if c.grpc_messages_sent + c.grpc_messages_received > 0 {
        let _ = writeln!(
            o,
            "<p id=\"grpc-messages\">gRPC messages: <b>{}</b> sent, <b>{}</b> received (every message of a stream counted).</p>",
            c.grpc_messages_sent, c.grpc_messages_received
        );
    }
    if !c.protocol_errors.is_empty() {
        o.push_str("<ul id=\"protocol-errors\">");
        for (reason, n) in &c.protocol_errors {
            let hint = ProtocolReason::ALL
                .into_iter()
                .find(|r| r.name() == reason)
                .map_or("", |r| r.hint());
            let _ = write!(
                o,
                "<li class=\"bad\">protocol {} × {n}: <span class=\"muted\">{}</span></li>",
                esc(reason),
                esc(hint)
            );
        }
        o.push_str("</ul>\n");
    }
}
