//! Stage 3: the output folder, `--out` or `reports/<scenario>-<UTC timestamp>`.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;

/// Creates the folder the run writes into.
pub(super) fn create(name: &str, out: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let dir = match out {
        Some(d) => d.clone(),
        None => default_dir(name),
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create output folder {}", dir.display()))?;
    Ok(dir)
}

fn default_dir(name: &str) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let base = PathBuf::from("reports").join(format!("{name}-{stamp}"));
    let mut dir = base.clone();
    let mut n = 2;
    while dir.exists() {
        dir = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    dir
}
