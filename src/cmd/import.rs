//! `loadctl import har|openapi|curl`: reads the input, builds the scenario with its
//! importer, checks the TOML with the scenario validator (an import that would not
//! validate is a bug, said as one), and writes it with its feeder files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::emit;
use crate::cli::ImportCommand;
use crate::error::{Error, Result};
use crate::import::{curl, har, openapi, scenario::Scenario, ImportError};

/// Input files read at most.
const MAX_INPUT: u64 = 256 << 20;

fn read(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() || meta.len() > MAX_INPUT {
        return Err(Error::usage(format!(
            "{}: not a regular file of at most {} MiB",
            path.display(),
            MAX_INPUT >> 20
        )));
    }
    std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read {} as text: {e}", path.display())))
}

fn failed(source: &str, e: ImportError) -> Error {
    match e {
        ImportError::At {
            line,
            column,
            message,
        } => Error::usage(format!("{source}:{line}:{column}: {message}")),
        other => Error::usage(format!("{source}: {other}")),
    }
}

fn regex(flag: &str, r: Option<&String>) -> Result<Option<regex::Regex>> {
    r.map(|r| regex::Regex::new(r).map_err(|e| Error::usage(format!("{flag} `{r}`: {e}"))))
        .transpose()
}

fn stem(out: Option<&PathBuf>, input: &Path) -> String {
    out.map(|p| p.as_path())
        .unwrap_or(input)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into())
}

/// Checks the text as `loadctl validate` would, then writes it (or prints it).
fn write(s: &Scenario, out: Option<&PathBuf>) -> Result<()> {
    let text = s.render();
    let files = s.files();
    let dir = out
        .and_then(|o| o.parent())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::usage(format!("cannot create {}: {e}", dir.display())))?;
    }
    // The feeder's CSV goes where the scenario looks for it, before the text is checked.
    for (name, csv) in &files {
        crate::files::write_atomic(&dir.join(name), csv.as_bytes()).map_err(Error::Failed)?;
    }
    let probe = match out {
        Some(p) => p.clone(),
        None => dir.join("imported.toml"),
    };
    if let Err(e) = crate::scenario::parse(&probe, &text, &Default::default(), &|_| None) {
        for (name, _) in &files {
            let _ = std::fs::remove_file(dir.join(name));
        }
        return Err(Error::Failed(anyhow::anyhow!(
            "the imported scenario does not validate (a bug in the importer; please report it with the input):\n{e}"
        )));
    }
    for (name, _) in &files {
        eprintln!("loadctl: wrote the feeder {}", dir.join(name).display());
    }
    match out {
        Some(p) => {
            crate::files::write_atomic(p, text.as_bytes()).map_err(Error::Failed)?;
            eprintln!(
                "loadctl: wrote {} ({} {}); check it with `loadctl validate {}`",
                p.display(),
                s.steps.len(),
                if s.flow { "flow steps" } else { "requests" },
                p.display()
            );
        }
        None => emit(&text),
    }
    for d in &s.dropped {
        eprintln!("loadctl: left out: {d}");
    }
    Ok(())
}

pub fn execute(cmd: ImportCommand) -> Result<u8> {
    match cmd {
        ImportCommand::Har {
            file,
            out,
            include,
            exclude,
            no_think,
            max_think,
            target,
        } => {
            let text = read(&file)?;
            let max_think = humantime::parse_duration(&max_think)
                .ok()
                .filter(|d| *d <= Duration::from_secs(600))
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--max-think {max_think}: a duration up to 10m, such as 5s"
                    ))
                })?;
            let o = har::Options {
                include: regex("--include", include.as_ref())?,
                exclude: regex("--exclude", exclude.as_ref())?,
                no_think,
                max_think,
                target,
                stem: stem(out.out.as_ref(), &file),
            };
            let source = file.display().to_string();
            let s = har::import(&text, &source, &o).map_err(|e| failed(&source, e))?;
            write(&s, out.out.as_ref())?;
        }
        ImportCommand::Openapi {
            file,
            out,
            operations,
        } => {
            let text = read(&file)?;
            let source = file.display().to_string();
            let json = file.extension().is_some_and(|e| e == "json");
            let doc = openapi::read(&text, json).map_err(|e| failed(&source, e))?;
            let s = openapi::import(&doc, &source, &operations).map_err(|e| failed(&source, e))?;
            write(&s, out.out.as_ref())?;
        }
        ImportCommand::Curl { command, out } => {
            let s = curl::import(&command).map_err(|e| failed("the curl command", e))?;
            write(&s, out.out.as_ref())?;
        }
    }
    Ok(0)
}
