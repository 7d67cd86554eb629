//! The baseline comparison as a person reads it: a terminal table or a Markdown table.

use std::fmt::Write as _;

use crate::summary::comparison::{Comparison, Row};

fn cells(r: &Row) -> [String; 7] {
    let pct = r.delta_pct.map_or("n/a".into(), |p| format!("{p:+.1}%"));
    [
        r.scope.clone(),
        format!("{} ({})", r.metric, r.unit),
        format!("{:.3}", r.base),
        format!("{:.3}", r.new),
        format!("{:+.3} ({pct})", r.delta),
        r.limit.clone().unwrap_or_default(),
        if r.regression {
            "REGRESSION".into()
        } else if r.limit.is_some() {
            "ok".into()
        } else {
            String::new()
        },
    ]
}

const HEADERS: [&str; 7] = [
    "scope",
    "metric",
    "base",
    "new",
    "delta",
    "tolerance",
    "verdict",
];

/// A terminal table.
pub fn render_text(c: &Comparison) -> String {
    let rows: Vec<[String; 7]> = c.rows.iter().map(cells).collect();
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut o = String::new();
    let _ = writeln!(o, "base  {}\nnew   {}\n", c.base, c.new);
    let line = |o: &mut String, cells: &[String]| {
        let mut parts = Vec::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            // Numbers right-aligned, words left-aligned.
            if (2..=4).contains(&i) {
                parts.push(format!("{cell:>w$}"));
            } else {
                parts.push(format!("{cell:<w$}"));
            }
        }
        let _ = writeln!(o, "  {}", parts.join("  ").trim_end());
    };
    line(&mut o, &HEADERS.map(String::from));
    for r in &rows {
        line(&mut o, r);
    }
    let _ = writeln!(
        o,
        "\n{}",
        match c.regressions {
            0 => "no regression".to_string(),
            1 => "1 regression".to_string(),
            n => format!("{n} regressions"),
        }
    );
    o
}

/// A Markdown table, for a pull-request comment.
pub fn render_md(c: &Comparison) -> String {
    let mut o = String::new();
    let verdict = if c.regressions == 0 {
        "no regression".to_string()
    } else {
        format!(
            "**{} regression{}**",
            c.regressions,
            if c.regressions == 1 { "" } else { "s" }
        )
    };
    let _ = writeln!(o, "### loadctl comparison: {verdict}\n");
    let _ = writeln!(o, "Base: `{}` · New: `{}`\n", c.base, c.new);
    let _ = writeln!(o, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(o, "|---|---|---:|---:|---:|---|---|");
    for r in &c.rows {
        let mut cells = cells(r);
        if r.regression {
            cells[6] = "**REGRESSION**".into();
        }
        let _ = writeln!(o, "| {} |", cells.join(" | "));
    }
    o
}
