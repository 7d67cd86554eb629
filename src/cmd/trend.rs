//! `loadctl trend`: a scenario's metrics over its recorded runs, their change points and
//! the gate. Writes trend.html and trend.json, prints the verdict, optionally a Markdown
//! summary for the CI job's page; `--gate` makes a new regression exit 1.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::emit;
use crate::cli::TrendArgs;
use crate::error::{Error, Result};
use crate::history::changepoint::Params;
use crate::history::trend::{trend, Query, Trend, TrendError, DEFAULT_METRICS};

/// Runs a trend reads at most: each permutation test is quadratic in them.
const MAX_RUNS: usize = 1_000;
const MAX_PERMUTATIONS: usize = 10_000;
const MAX_METRICS: usize = 32;

fn min_change(raw: &[String]) -> Result<BTreeMap<String, f64>> {
    raw.iter()
        .map(|r| {
            let (metric, share) = r.split_once('=').unwrap_or(("*", r.as_str()));
            let f = crate::diag::parse_fraction(share).ok_or_else(|| {
                Error::usage(format!(
                    "--min-change `{r}`: write a share such as 5% or p99=10%"
                ))
            })?;
            Ok((metric.to_string(), f))
        })
        .collect()
}

/// The query of these arguments, checked.
pub(crate) fn query(a: &TrendArgs) -> Result<Query> {
    if a.last == 0 || a.last > MAX_RUNS {
        return Err(Error::usage(format!(
            "--last {}: from 1 to {MAX_RUNS} runs",
            a.last
        )));
    }
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        return Err(Error::usage(format!(
            "--alpha {}: a level between 0 and 1, such as 0.01",
            a.alpha
        )));
    }
    if a.permutations == 0 || a.permutations > MAX_PERMUTATIONS {
        return Err(Error::usage(format!(
            "--permutations {}: from 1 to {MAX_PERMUTATIONS}",
            a.permutations
        )));
    }
    if !(2..=100).contains(&a.min_segment) {
        return Err(Error::usage(format!(
            "--min-segment {}: from 2 to 100 runs",
            a.min_segment
        )));
    }
    if a.metrics.len() > MAX_METRICS {
        return Err(Error::usage(format!("--metric: at most {MAX_METRICS}")));
    }
    let metrics = if a.metrics.is_empty() {
        DEFAULT_METRICS.iter().map(|m| m.to_string()).collect()
    } else {
        a.metrics.clone()
    };
    Ok(Query {
        scenario: a.scenario.clone(),
        metrics,
        endpoint: a.endpoint.clone(),
        last: Some(a.last),
        params: Params {
            alpha: a.alpha,
            permutations: a.permutations,
            min_segment: a.min_segment,
            seed: a.seed,
        },
        min_change: min_change(&a.min_change)?,
    })
}

/// The trend of `q` in the store at `db`; a question the store cannot answer is exit 2.
pub(crate) fn compute(db: &std::path::Path, q: &Query) -> Result<Trend> {
    let store = super::history::open(db)?;
    trend(&store, q).map_err(|e| match e {
        TrendError::Usage(m) => Error::usage(m),
        TrendError::Store(e) => Error::Failed(e.into()),
    })
}

/// Writes the trend's files and the Markdown summary where asked (`step_summary`: also to
/// `GITHUB_STEP_SUMMARY`, when set).
pub(crate) fn write(
    t: &Trend,
    out: Option<&PathBuf>,
    (markdown, step_summary): (Option<&PathBuf>, bool),
) -> Result<PathBuf> {
    let dir = out
        .cloned()
        .unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-trend", t.scenario)));
    crate::report::trend::write(&dir, t).map_err(Error::Failed)?;
    let md = crate::report::trend::markdown(t);
    if let Some(f) = markdown {
        crate::files::write_atomic(f, md.as_bytes()).map_err(Error::Failed)?;
    }
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|_| step_summary) {
        use std::io::Write;
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .and_then(|mut f| f.write_all(md.as_bytes()));
        if let Err(e) = appended {
            eprintln!(
                "loadctl: cannot append to GITHUB_STEP_SUMMARY ({}): {e}",
                PathBuf::from(summary).display()
            );
        }
    }
    Ok(dir)
}

pub fn execute(a: &TrendArgs) -> Result<u8> {
    let q = query(a)?;
    let t = compute(&a.db.db, &q)?;
    let dir = write(&t, a.out.as_ref(), (a.markdown.as_ref(), true))?;
    emit(&format!(
        "{}  output     {}\n",
        crate::report::trend::console(&t),
        dir.display()
    ));
    Ok(u8::from(a.gate && t.gate.failed))
}
