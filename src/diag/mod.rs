//! Diagnostics: one problem of a scenario file with its line and column, and the
//! collector every validator writes into, so that all problems are reported together.

pub mod limits;

use std::fmt;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

/// One problem in a scenario file, located in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub line: usize,
    pub column: usize,
    /// Dotted path of the offending field (`load.rate`, `requests[1].path`), or empty for syntax errors.
    pub field: String,
    pub message: String,
    /// Set when a command-line argument (`--set load.rate=…`, `--rate …`) brought the
    /// value: the problem is blamed on it, not on a line of the file.
    pub arg: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(arg) = &self.arg {
            return write!(f, "{arg}: {}: {}", self.field, self.message);
        }
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.line, self.column, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.line, self.column, self.field, self.message
            )
        }
    }
}

/// Collects diagnostics against the scenario text their spans point into.
pub(crate) struct Ctx<'a> {
    text: &'a str,
    diags: Vec<Diagnostic>,
    /// The scenario's folder: what a file a section names is relative to.
    base: std::path::PathBuf,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Ctx {
            text,
            diags: Vec::new(),
            base: std::path::PathBuf::from("."),
        }
    }

    /// Files named in the scenario are relative to `base`.
    pub(crate) fn with_base(mut self, base: &std::path::Path) -> Self {
        self.base = base.to_path_buf();
        self
    }

    /// The folder files named in the scenario are relative to.
    pub(crate) fn base(&self) -> &std::path::Path {
        &self.base
    }

    /// Problems recorded so far (a validator compares counts to see if it added any).
    pub(crate) fn count(&self) -> usize {
        self.diags.len()
    }

    /// Every problem, in file order.
    /// `line:column` of byte `offset` of the text.
    pub(crate) fn place(&self, offset: usize) -> String {
        let (line, col) = line_col(self.text, offset.min(self.text.len()));
        format!("{line}:{col}")
    }

    pub(crate) fn finish(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by_key(|d| (d.line, d.column));
        self.diags
    }

    pub(crate) fn err(
        &mut self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) {
        let (line, column) = line_col(self.text, span.start);
        self.diags.push(Diagnostic {
            line,
            column,
            field: field.into(),
            message: message.into(),
            arg: None,
        });
    }

    /// Deserializes `T`, a raw serde struct of `Spanned` fields, from the table the text
    /// covers at `span` (a `[[header]]` and its lines, or an inline `{ … }`): how a table
    /// whose shape depends on one of its keys (a fault's `action`) is read as its own
    /// struct, `deny_unknown_fields` and all. The rest of the text is blanked, byte for
    /// byte, so every span in `T` points into the whole file.
    pub(crate) fn reparse<T: serde::de::DeserializeOwned>(
        &mut self,
        span: Range<usize>,
        field: &str,
    ) -> Option<T> {
        #[derive(serde::Deserialize)]
        struct Inline<T> {
            v: T,
        }
        let slice = self.text.get(span.clone())?;
        let blank = |upto: usize| -> String {
            self.text[..upto]
                .chars()
                .map(|c| {
                    if c == '\n' {
                        "\n".to_string()
                    } else {
                        " ".repeat(c.len_utf8())
                    }
                })
                .collect()
        };
        let parsed = if slice.starts_with("[[") {
            let body = span.start + slice.find('\n').map_or(slice.len(), |i| i + 1);
            toml::from_str::<T>(&format!("{}{}", blank(body), &self.text[body..span.end]))
        } else if slice.starts_with('{') && span.start >= 4 {
            let text = format!("{}v = {slice}", blank(span.start - 4));
            toml::from_str::<Inline<T>>(&text).map(|w| w.v)
        } else {
            self.err(
                span,
                field,
                "write this table as [[…]] with its keys below it, or inline as { key = value, … }",
            );
            return None;
        };
        match parsed {
            Ok(t) => Some(t),
            Err(e) => {
                let at = e.span().map_or(span.start, |s| s.start);
                let (_, message) = explain_serde(e.message(), self.text, Some(at));
                self.err(at..at, field, message);
                None
            }
        }
    }

    pub(crate) fn duration(&mut self, v: &Spanned<String>, field: &str) -> Option<Duration> {
        match humantime::parse_duration(v.get_ref().trim()) {
            Ok(d) => match limits::duration(field) {
                Some((max, why)) if d > max => {
                    self.err(
                        v.span(),
                        field,
                        format!(
                            "`{}` is longer than the {} this field allows ({why})",
                            v.get_ref(),
                            humantime::format_duration(max)
                        ),
                    );
                    None
                }
                _ => Some(d),
            },
            Err(_) => {
                self.err(
                    v.span(),
                    field,
                    format!(
                        "`{}` is not a duration; write a number and a unit, such as 30s, 500ms or 2m",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    pub(crate) fn positive(&mut self, v: &Spanned<i64>, field: &str) -> Option<usize> {
        match usize::try_from(*v.get_ref()) {
            Ok(n) if n > 0 => match limits::count(field) {
                Some((max, why)) if n as u64 > max => {
                    self.err(
                        v.span(),
                        field,
                        format!("{n} is above the {max} this field allows ({why})"),
                    );
                    None
                }
                _ => Some(n),
            },
            _ => {
                self.err(
                    v.span(),
                    field,
                    format!("must be a positive integer, not {}", v.get_ref()),
                );
                None
            }
        }
    }

    /// A valid rate per second within the bound of its field.
    pub(crate) fn rate_bound(&mut self, v: &Spanned<f64>, field: &str) -> Option<f64> {
        let r = *v.get_ref();
        match limits::rate(field) {
            Some((max, why)) if r > max => {
                self.err(
                    v.span(),
                    field,
                    format!("{r} is above the {max} per second this field allows ({why})"),
                );
                None
            }
            _ => Some(r),
        }
    }

    pub(crate) fn fraction(&mut self, v: &Spanned<String>, field: &str) -> Option<f64> {
        match parse_fraction(v.get_ref()) {
            Some(f) => Some(f),
            None => {
                self.err(
                    v.span(),
                    field,
                    format!("`{}` is not a share; write a percentage such as 0.1% or a fraction such as 0.001", v.get_ref()),
                );
                None
            }
        }
    }
}

/// `0.1%` → 0.001, `0.001` → 0.001. Shares above 100% are refused.
pub fn parse_fraction(s: &str) -> Option<f64> {
    let s = s.trim();
    let f = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => s.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&f).then_some(f)
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The names of a registry of kinds (`fault::KINDS`, `export::KINDS`), for errors:
/// `"pod-kill", "…"`.
pub(crate) fn kind_names<V>(kinds: &[(&str, V)]) -> String {
    kinds
        .iter()
        .map(|(n, _)| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The entry of `kinds` that `name` (the table's `key`) names, or an error at it that
/// lists them all.
pub(crate) fn kind<'k, V>(
    cx: &mut Ctx<'_>,
    kinds: &'k [(&str, V)],
    name: &Spanned<String>,
    field: &str,
    key: &str,
) -> Option<&'k V> {
    let found = kinds.iter().find(|(n, _)| n == name.get_ref());
    if found.is_none() {
        cx.err(
            name.span(),
            format!("{field}.{key}"),
            format!(
                "`{}`: the {key}s available are {}",
                name.get_ref(),
                kind_names(kinds)
            ),
        );
    }
    found.map(|(_, v)| v)
}

/// serde's messages name Rust-side concepts; say what to change in the file instead, and
/// which field (`table.key`) the error is at. Returns `(field, message)`.
pub(crate) fn explain_serde(message: &str, text: &str, offset: Option<usize>) -> (String, String) {
    let mut msg = message.trim().to_string();
    let mut field = String::new();
    if msg.starts_with("unknown field") {
        msg.push_str("; remove it or fix its spelling (see README.md, \"Scenario reference\")");
    } else if msg.starts_with("missing field") {
        msg.push_str("; add it (see README.md, \"Scenario reference\")");
    } else if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let want = match expected.trim() {
            "f64" | "a number" => "a number, such as 1000 or 0.5 (no quotes)",
            "i64" | "u64" | "an integer" => "a whole number, such as 100 (no quotes)",
            "a string" | "string" => {
                "text in quotes; a duration is written \"30s\", a share \"0.1%\""
            }
            "a boolean" => "true or false (no quotes)",
            "a sequence" => "a list in brackets, such as [200, 201]",
            e if e.contains("borrowed string") || e.contains("map") || e.contains("struct") => {
                "a table: a [section] or { key = value }"
            }
            other => other,
        };
        msg = format!("expects {want}, not {found}");
        field = offset.map(|o| field_at(text, o)).unwrap_or_default();
    }
    (field, msg)
}

/// `table.key` of the line an offset falls on: the nearest `[table]` header above it and
/// the key before the line's `=`.
fn field_at(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    let table = before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    match (table, key.is_empty()) {
        (_, true) => String::new(),
        (Some(t), false) => format!("{t}.{key}"),
        (None, false) => key,
    }
}

/// The names of `candidates` nearest `name` (edit distance within a third of its
/// length, at least 2), nearest first, at most three: for "did you mean" in errors.
pub(crate) fn closest<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Vec<&'c str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                let cost = usize::from(!ca.eq_ignore_ascii_case(cb));
                row[j + 1] = (prev + cost).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    let limit = (name.chars().count() / 3).max(2);
    let mut near: Vec<(usize, &str)> = candidates
        .into_iter()
        .map(|c| (distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .collect();
    near.sort();
    near.dedup();
    near.into_iter().take(3).map(|(_, c)| c).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbé = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, t.find('=').unwrap()), (1, 3));
        let second_eq = t.rfind('=').unwrap();
        assert_eq!(line_col(t, second_eq), (2, 4));
    }

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("0.1%"), Some(0.001));
        assert_eq!(parse_fraction("0.5"), Some(0.5));
        assert_eq!(parse_fraction("150%"), None);
        assert_eq!(parse_fraction("lots"), None);
    }
}
