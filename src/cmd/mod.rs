//! The command layer: one module per `loadctl` subcommand, each turning its parsed
//! arguments into calls on the library and the documented exit code. What several
//! commands share (reading a scenario with its overrides, writing to stdout, the reference
//! services of this build) is here.

pub mod agent;
pub mod capacity;
pub mod compare;
pub mod history;
pub mod import;
pub mod merge;
pub mod report;
pub mod run;
#[cfg(feature = "testbed")]
pub mod testbed;
pub mod trend;
pub mod validate;

use crate::cli::ScenarioArgs;
use crate::error::{Error, Result};
use crate::scenario::{self, Overrides, Plan, Tolerances};
use crate::summary::{load_summary, Summary};

/// Writes to standard output. A closed or full stdout (`| head`, `> /dev/full`) loses the
/// text but not the outcome: the documented exit code stands.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
/// The scenario with the command line's overrides: `--set`, the sugar flags, and `extra`
/// (`(key, flag, value)`, such as `loadctl capacity --min`).
pub(crate) fn load(args: &ScenarioArgs, extra: &[(&str, &str, &Option<String>)]) -> Result<Plan> {
    let overrides = overrides(args, extra)?;
    Ok(scenario::load(&args.scenario, &overrides)?)
}
/// The scenario as agents build it: the same overrides, its files and environment.
pub(crate) fn bundle(args: &ScenarioArgs) -> Result<(Plan, crate::remote::bundle::Bundle)> {
    let overrides = overrides(args, &[])?;
    Ok(crate::remote::bundle::bundle(&args.scenario, &overrides)?)
}
pub(crate) fn overrides(
    args: &ScenarioArgs,
    extra: &[(&str, &str, &Option<String>)],
) -> Result<Overrides> {
    let mut set = Vec::new();
    let mut shown = Vec::new();
    let sugar = [
        ("load.duration", "--duration", &args.duration),
        ("load.rate", "--rate", &args.rate),
        ("load.vus", "--vus", &args.vus),
    ];
    for &(key, flag, v) in sugar.iter().chain(extra) {
        if let Some(v) = v {
            set.push((key.to_string(), v.clone()));
            shown.push(format!("{flag} {v}"));
        }
    }
    for kv in &args.set {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::usage(format!(
                "--set {kv}: write it as KEY=VALUE, e.g. --set load.rate=2000"
            ))
        })?;
        set.push((k.trim().to_string(), v.trim().to_string()));
        shown.push(format!("--set {kv}"));
    }
    Ok(Overrides {
        target: args.target.clone(),
        set,
        args: shown,
    })
}
/// Applies `--tolerance KEY=VALUE` flags on top of `base`.
pub(crate) fn tolerances(base: Tolerances, flags: &[String]) -> Result<Tolerances> {
    let mut t = base;
    for kv in flags {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::usage(format!(
                "--tolerance {kv}: write it as KEY=VALUE, e.g. p99=15%"
            ))
        })?;
        t.set(k.trim(), v)
            .map_err(|e| Error::usage(format!("--tolerance {kv}: {e}")))?;
    }
    Ok(t)
}
pub(crate) fn load_run(dir: &std::path::Path) -> Result<Summary> {
    load_summary(dir).map_err(|e| Error::usage(format!("{e:#}")))
}
/// The reference services a scenario without a target runs against, when this build has
/// them.
pub(crate) fn services() -> Option<crate::run::Services> {
    #[cfg(feature = "testbed")]
    return Some(crate::testbed::services());
    #[cfg(not(feature = "testbed"))]
    None
}
