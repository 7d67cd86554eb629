//! `loadctl history`: the run store the nightly gate reads. Adding a run twice is a
//! no-op; a store of a newer schema, a folder that is not a run, a malformed label are
//! usage errors (exit 2).

use std::path::{Path, PathBuf};

use super::emit;
use crate::cli::HistoryCommand;
use crate::error::{Error, Result};
use crate::history::store::{Added, Store, StoreError};

/// Labels one run carries at most.
const MAX_LABELS: usize = 64;
/// Run folders `history import` reads at most in one go.
const MAX_IMPORT: usize = 100_000;

/// Opens the store; any problem with it is the user's to fix (exit 2).
pub(crate) fn open(db: &Path) -> Result<Store> {
    Store::open(db).map_err(|e| match e {
        StoreError::Newer { .. } => Error::usage(e.to_string()),
        StoreError::Sql { .. } => Error::usage(format!(
            "{e}; is --db a loadctl run store (an SQLite file)?"
        )),
    })
}

/// `key=value` labels: keys of letters, digits, `_`, `-` and `.`, values up to 256 bytes.
pub(crate) fn labels(raw: &[String]) -> Result<Vec<(String, String)>> {
    if raw.len() > MAX_LABELS {
        return Err(Error::usage(format!(
            "--label: at most {MAX_LABELS} labels"
        )));
    }
    raw.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').ok_or_else(|| {
                Error::usage(format!("--label `{l}`: write KEY=VALUE, such as rev=$GITHUB_SHA"))
            })?;
            let key_ok = !k.is_empty()
                && k.len() <= 64
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !key_ok || v.len() > 256 {
                return Err(Error::usage(format!(
                    "--label `{l}`: a key of letters, digits, _ - . (at most 64) and a value of at most 256 bytes"
                )));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn add_dir(store: &mut Store, dir: &Path, labels: &[(String, String)]) -> Result<String> {
    let s = crate::summary::load_summary(dir).map_err(|e| Error::usage(format!("{e:#}")))?;
    let added = store
        .add(&s, Some(dir), labels)
        .map_err(|e| Error::Failed(e.into()))?;
    Ok(match added {
        Added::New(id) => format!(
            "added run {id}: {} {} ({})",
            s.scenario,
            s.started_at,
            dir.display()
        ),
        Added::Already(id) => format!("already recorded as run {id}: {}", dir.display()),
    })
}

/// Run folders in `dir`: itself, or its subfolders (two levels) holding a summary.json.
fn run_folders(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if dir.join("summary.json").is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    if depth == 0 || out.len() >= MAX_IMPORT {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut subs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    subs.sort();
    for s in subs {
        run_folders(&s, out, depth - 1);
    }
}

pub fn execute(cmd: HistoryCommand) -> Result<u8> {
    match cmd {
        HistoryCommand::Add {
            dirs,
            db,
            labels: raw,
        } => {
            let labels = labels(&raw)?;
            let mut store = open(&db.db)?;
            for d in &dirs {
                emit(&format!("{}\n", add_dir(&mut store, d, &labels)?));
            }
        }
        HistoryCommand::Import { dirs, db } => {
            let mut store = open(&db.db)?;
            let mut found = Vec::new();
            for d in &dirs {
                run_folders(d, &mut found, 2);
            }
            let (mut added, mut skipped) = (0, Vec::new());
            for d in &found {
                match add_dir(&mut store, d, &[]) {
                    Ok(line) if line.starts_with("added") => added += 1,
                    Ok(_) => {}
                    Err(e) => skipped.push(format!("{}: {e:#}", d.display())),
                }
            }
            emit(&format!(
                "{added} runs added of {} folders found{}\n",
                found.len(),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!("; skipped:\n  {}", skipped.join("\n  "))
                }
            ));
        }
        HistoryCommand::List { db, scenario, last } => {
            let store = open(&db.db)?;
            let runs = store
                .runs(scenario.as_deref(), last)
                .map_err(|e| Error::Failed(e.into()))?;
            let mut o = String::new();
            for r in runs {
                let labels: Vec<String> = store
                    .labels(r.id)
                    .map_err(|e| Error::Failed(e.into()))?
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                o.push_str(&format!(
                    "{:>6}  {}  {:<24} {:<11} {:>7.1} s  {}\n",
                    r.id,
                    r.started_at,
                    r.scenario,
                    r.status,
                    r.duration_s,
                    labels.join(" ")
                ));
            }
            emit(&o);
        }
        HistoryCommand::Show { id, db } => {
            let store = open(&db.db)?;
            let Some(d) = store.details(id).map_err(|e| Error::Failed(e.into()))? else {
                return Err(Error::usage(format!("no run {id} in {}", db.db.display())));
            };
            let mut o = format!(
                "run {} · {} · {} · {} · {:.1} s · {}\n",
                d.run.id,
                d.run.scenario,
                d.run.started_at,
                d.run.status,
                d.run.duration_s,
                d.run.target
            );
            for (k, v) in &d.labels {
                o.push_str(&format!("  label {k}={v}\n"));
            }
            for (name, threshold, observed, pass) in &d.slos {
                let seen = observed.map_or("no data".into(), |v| format!("{v:.3}"));
                o.push_str(&format!(
                    "  {} {name} {threshold} (observed {seen})\n",
                    if *pass { "PASS" } else { "FAIL" }
                ));
            }
            for (scope, metric, value) in &d.figures {
                o.push_str(&format!("  {scope:<20} {metric:<18} {value}\n"));
            }
            emit(&o);
        }
        HistoryCommand::Prune { keep, db } => {
            let mut store = open(&db.db)?;
            let n = store.prune(keep).map_err(|e| Error::Failed(e.into()))?;
            emit(&format!(
                "removed {n} runs, kept the newest {keep} of each scenario\n"
            ));
        }
    }
    Ok(0)
}
