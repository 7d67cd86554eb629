//! What `loadctl trend` writes: `trend.json` (the trend as data), `trend.html` (one chart
//! per metric, `html/trend.rs`) and a Markdown summary for a CI job's page.

use std::fmt::Write as _;
use std::path::Path;

use crate::files::write_atomic;
use crate::history::trend::{short, Trend, TrendChange};

/// Writes `trend.json` and `trend.html` into `dir`.
pub fn write(dir: &Path, t: &Trend) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let json = serde_json::to_vec_pretty(t)?;
    write_atomic(&dir.join("trend.json"), &json)?;
    write_atomic(
        &dir.join("trend.html"),
        super::html::trend::render(t).as_bytes(),
    )
}

/// The trend as Markdown: the gate, then a row per metric.
pub fn markdown(t: &Trend) -> String {
    let mut o = String::new();
    let verdict = if t.gate.failed {
        "❌ regression"
    } else {
        "✅ no new regression"
    };
    let _ = writeln!(
        o,
        "### loadctl trend: {} ({}) — {verdict}\n",
        t.scenario, t.scope
    );
    for r in &t.gate.reasons {
        let _ = writeln!(o, "- {r}");
    }
    if !t.gate.reasons.is_empty() {
        o.push('\n');
    }
    let _ = writeln!(o, "| metric | newest | changes | last change |");
    let _ = writeln!(o, "|---|---:|---:|---|");
    for m in &t.metrics {
        let newest = m
            .values
            .iter()
            .rev()
            .flatten()
            .next()
            .map_or("—".into(), |v| short(*v));
        let last = m.changes.last().map_or("—".into(), |c| {
            format!("{} {}", kind(c, "below min change"), change(c))
        });
        let _ = writeln!(
            o,
            "| {} | {newest} | {} | {last} |",
            m.metric,
            m.changes.len()
        );
    }
    let _ = writeln!(
        o,
        "\n{} runs · E-divisive means, α = {}, {} permutations, segments of at least {}",
        t.runs.len(),
        t.alpha,
        t.permutations,
        t.min_segment
    );
    o
}

/// What a change is: `regression`, `improvement`, else `small`.
fn kind(c: &TrendChange, small: &'static str) -> &'static str {
    if c.regression {
        "regression"
    } else if c.improvement {
        "improvement"
    } else {
        small
    }
}

/// `at run 17 (2026-…): 50.0 → 60.0 (+20.0%), p = 0.005`.
fn change(c: &TrendChange) -> String {
    format!(
        "at run {} ({}): {} → {} ({:+.1}%), p = {:.3}",
        c.run_id,
        c.started_at,
        short(c.before),
        short(c.after),
        c.relative * 100.0,
        c.p_value
    )
}

/// The console's lines.
pub fn console(t: &Trend) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n{} · {} runs · {} · gate {}",
        t.scenario,
        t.runs.len(),
        t.scope,
        if t.gate.failed { "FAIL" } else { "PASS" }
    );
    for r in &t.gate.reasons {
        let _ = writeln!(o, "  ! {r}");
    }
    for m in &t.metrics {
        let _ = writeln!(o, "  {:<14} {} change point(s)", m.metric, m.changes.len());
        for c in &m.changes {
            // A regression in capitals: what the reader must see first.
            let k = match c.regression {
                true => "REGRESSION",
                false => kind(c, "change"),
            };
            let _ = writeln!(o, "    {k:<11} {}", change(c));
        }
    }
    o
}
