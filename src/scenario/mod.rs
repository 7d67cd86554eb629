//! Scenario files: the TOML a user writes, and the validated [`Plan`] the engine runs.
//!
//! Loading happens in two stages. [`raw`] mirrors the file with serde
//! (`deny_unknown_fields`, spans kept on every value a later check may complain about);
//! [`validate`] turns it into typed domain values and collects *every* problem it finds,
//! each with the line and column it points at, so a user fixes a file in one pass.
//! Command-line overrides (`--set load.rate=2000`, `--duration 10s`) are applied to the
//! TOML document before either stage, so they are checked exactly like the file.

pub use crate::diag;
pub use crate::diag::limits;
pub mod plan;
mod validate;

use std::path::{Path, PathBuf};

pub use crate::template::Template;
use diag::line_col;
pub use diag::{parse_fraction, Diagnostic};
pub use plan::chat::ChatPlan;
pub use plan::compare::Tolerances;
pub use plan::embedded::ServiceConfig;
pub use plan::flow::{CheckedRequest, Exhausted, FeedMode, FeederPlan, FlowPlan};
pub use plan::kube::{FaultPlan, KubePlan, FAULT_SCOPE};
pub use plan::load::{GeneratorPlan, LoadPlan};
pub use plan::request::{BodyPlan, RequestPlan, StatusSet, StepRules};
pub use plan::schedule::RateSchedule;
pub use plan::target::{EmbeddedPlan, Origin, TargetSpec};
pub use plan::{Plan, Workload};

/// Why a scenario could not be turned into a plan. Exit code 2 for all of them.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid override `{arg}`: {reason}")]
    Override { arg: String, reason: String },
    #[error("{} has {} error{}:\n{}", path.display(), diagnostics.len(),
        if diagnostics.len() == 1 { "" } else { "s" },
        diagnostics.iter().map(|d| match d.arg {
            Some(_) => format!("  {d}"),
            None => format!("  {}:{d}", path.display()),
        }).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    /// A scenario that cannot be sent to agents, or a bundle an agent refuses.
    #[error("{0}")]
    Bundle(String),
}

impl ScenarioError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ScenarioError::Invalid { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

/// What the command line adds to a scenario file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--target`: replaces the file's `target`; counts as naming the target explicitly.
    pub target: Option<String>,
    /// `--set key=value` pairs, plus the sugar flags (`--duration`, `--rate`, `--vus`) in order.
    pub set: Vec<(String, String)>,
    /// How each of `set` was written on the command line (`--rate 2000`), for messages;
    /// missing entries read `--set key=value`.
    pub args: Vec<String>,
}

impl Overrides {
    fn arg(&self, i: usize) -> String {
        self.args.get(i).cloned().unwrap_or_else(|| {
            let (k, v) = &self.set[i];
            format!("--set {k}={v}")
        })
    }
}

/// Reads, overrides and validates a scenario file. Environment variables for
/// `{{env.NAME}}` templates come from the process environment.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Plan, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let good = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
            let (line, column) = line_col(good, at);
            return Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                diagnostics: vec![Diagnostic {
                    line,
                    column,
                    field: String::new(),
                    message: format!(
                        "not UTF-8 text (byte offset {at}); save the scenario as UTF-8"
                    ),
                    arg: None,
                }],
            });
        }
    };
    parse(path, &text, overrides, &|name| std::env::var(name).ok())
}

/// Like [`load`] but from text, with an explicit environment (tests, `--set`-free callers).
pub fn parse(
    path: &Path,
    text: &str,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, ScenarioError> {
    // A file that is not valid TOML cannot be edited: parse it as it is, which reports
    // the syntax error with its position.
    let text_orig = text;
    let text = match apply_overrides(text, &overrides.set) {
        Ok(t) => t,
        Err(None) => text.to_string(),
        Err(Some((arg, reason))) => return Err(ScenarioError::Override { arg, reason }),
    };
    let raw: validate::raw::RawScenario = match toml::from_str::<validate::raw::RawFile>(&text) {
        Ok(raw) => raw.located(&text),
        Err(err) => {
            let offset = err.span().map(|s| s.start);
            let (line, column) = offset.map(|o| line_col(&text, o)).unwrap_or((1, 1));
            let (field, message) = diag::explain_serde(err.message(), &text, offset);
            return Err(ScenarioError::Invalid {
                path: path.to_path_buf(),
                diagnostics: vec![Diagnostic {
                    line,
                    column,
                    field,
                    message,
                    arg: blame(text_orig, overrides),
                }],
            });
        }
    };
    validate::validate(raw, &text, overrides.target.as_deref(), path, env).map_err(
        |mut diagnostics| {
            for d in &mut diagnostics {
                d.arg = overridden(&d.field, overrides);
            }
            ScenarioError::Invalid {
                path: path.to_path_buf(),
                diagnostics,
            }
        },
    )
}

/// The command-line argument that set `field`, if one did.
fn overridden(field: &str, o: &Overrides) -> Option<String> {
    (0..o.set.len()).rev().find_map(|i| {
        let key = o.set[i].0.as_str();
        // A chat run's --duration is its hold.
        let also = if key == "load.duration" {
            "load.hold"
        } else {
            key
        };
        let hit = [key, also].iter().any(|k| {
            field == *k
                || field.starts_with(&format!("{k}."))
                || field.starts_with(&format!("{k}["))
        });
        hit.then(|| o.arg(i))
    })
}

/// The file parses without the overrides but not with them: the first override that
/// breaks it is to blame.
fn blame(original: &str, o: &Overrides) -> Option<String> {
    if o.set.is_empty() || toml::from_str::<validate::raw::RawFile>(original).is_err() {
        return None;
    }
    (1..=o.set.len()).find_map(|n| {
        let text = apply_overrides(original, &o.set[..n]).ok()?;
        toml::from_str::<validate::raw::RawFile>(&text)
            .is_err()
            .then(|| o.arg(n - 1))
    })
}

/// Applies `key=value` overrides to the TOML document, keeping every untouched line where
/// it was so that diagnostics still point into the user's file.
pub(crate) fn apply_overrides(
    text: &str,
    set: &[(String, String)],
) -> Result<String, Option<(String, String)>> {
    if set.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|_| None)?;
    for (key, value) in set {
        let arg = format!("{key}={value}");
        let parts: Vec<&str> = key.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(Some((
                arg,
                "the key must be a dotted path such as load.rate".into(),
            )));
        }
        let parsed: toml_edit::Value = value
            .parse()
            .unwrap_or_else(|_| toml_edit::Value::from(value.as_str()));
        let mut table = doc.as_table_mut();
        for part in &parts[..parts.len() - 1] {
            let entry = table
                .entry(part)
                .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
            table = match entry.as_table_mut() {
                Some(t) => t,
                None => {
                    return Err(Some((
                        arg,
                        format!("`{part}` is not a table in the scenario"),
                    )));
                }
            };
        }
        let mut last = parts[parts.len() - 1];
        // A chat run's measured window is its hold: --duration means that.
        if parts == ["load", "duration"]
            && table.get("model").and_then(|m| m.as_str()) == Some("connections")
        {
            last = "hold";
        }
        // A constant rate from the command line replaces a ramp.
        if parts == ["load", "rate"] {
            table.remove("stages");
            table.remove("start_rate");
        }
        match table.get_mut(last).and_then(|i| i.as_value_mut()) {
            Some(existing) => {
                let decor = existing.decor().clone();
                *existing = parsed;
                *existing.decor_mut() = decor;
            }
            None => {
                table.insert(last, toml_edit::value(parsed));
            }
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_keep_other_lines_in_place() {
        let t = "name = \"x\"\n[load]\nrate = 10\nduration = \"5s\"\n";
        let out = apply_overrides(t, &[("load.rate".into(), "2000".into())]).unwrap();
        assert_eq!(out.lines().nth(2).unwrap(), "rate = 2000");
        assert_eq!(out.lines().nth(3).unwrap(), "duration = \"5s\"");
        let out = apply_overrides(t, &[("load.duration".into(), "1m".into())]).unwrap();
        assert!(out.contains("duration = \"1m\""));
    }

    #[test]
    fn duration_override_is_the_hold_of_a_chat_run() {
        let text = "[load]\nmodel = \"connections\"\nhold = \"60s\"\n";
        let out = apply_overrides(text, &[("load.duration".into(), "5s".into())]).unwrap();
        assert!(out.contains("hold = \"5s\""), "{out}");
        assert!(!out.contains("duration"), "{out}");
    }

    #[test]
    fn rate_override_replaces_stages() {
        let t = "[load]\nstages = [{ duration = \"1s\", target = 5 }]\n";
        let out = apply_overrides(t, &[("load.rate".into(), "7".into())]).unwrap();
        assert!(!out.contains("stages"));
        assert!(out.contains("rate = 7"));
    }
}

#[cfg(test)]
mod error_table;
