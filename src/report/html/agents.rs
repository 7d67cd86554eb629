//! "Generators": a distributed run's agents, one row each (share, send lag, dropped,
//! clock offset and when it started), the start spread against its tolerance, and in red
//! the agent that was lost or could not hold its share, with why.

use std::fmt::Write as _;

use super::esc;
use crate::summary::Summary;

pub(super) fn section(o: &mut String, s: &Summary) {
    let Some(d) = &s.distributed else {
        return;
    };
    o.push_str("<h2 id=\"agents\">Generators</h2>\n");
    let spread_ok = d.start_spread_ms <= d.start_tolerance_ms;
    let _ = writeln!(
        o,
        "<p>{} agents, each sending its share of the one schedule (request, virtual user, session or chat group <i>i</i> to agent <i>i</i> mod {}). They started <span class=\"{}\">{:.2} ms</span> apart (tolerance {:.0} ms; clocks known to ±{:.2} ms); an agent silent for {:.0} s is lost.</p>",
        d.agents,
        d.agents,
        if spread_ok { "ok" } else { "bad" },
        d.start_spread_ms,
        d.start_tolerance_ms,
        d.clock_uncertainty_ms,
        d.heartbeat_timeout_s
    );
    o.push_str("<div class=\"wrap\"><table class=\"sortable\" id=\"agent-table\"><thead><tr><th>agent</th><th>address</th><th class=\"n\">share</th><th class=\"n\">requests</th><th class=\"n\">errors</th><th class=\"n\">dropped</th><th class=\"n\">send lag p99 ms</th><th class=\"n\">clock offset ms</th><th class=\"n\">start ms</th><th>health</th></tr></thead><tbody>");
    for a in &s.agents {
        let health = if a.valid {
            "<span class=\"ok\">held its share</span>".to_string()
        } else {
            format!("<span class=\"bad\">{}</span>", esc(&a.problems.join("; ")))
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"n\">{}/{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.2}</td><td class=\"n\">{:+.3} ± {:.3}</td><td class=\"n\">{}</td><td>{health}</td></tr>",
            esc(&a.name),
            esc(&a.address),
            a.index,
            d.agents,
            a.requests,
            a.errors,
            a.dropped,
            a.send_lag_p99_ms,
            a.clock_offset_ms,
            a.clock_uncertainty_ms,
            a.start_offset_ms
                .map_or("never".into(), |v| format!("{v:+.2}")),
        );
    }
    o.push_str("</tbody></table></div>\n");
}
